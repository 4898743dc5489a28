"""Who the client is: the one resolver of the client address every per-IP limit uses.

A forwarded header (``X-Forwarded-For``, RFC 7239 ``Forwarded``) is written by whoever sent the request, so
it is believed only when the peer is a proxy the operator named (``ELEARNING_TRUSTED_PROXIES``). Each
trusted proxy appends the address it received the request from; walking the list from the right, the
first address that is not itself a trusted proxy is the client. Anything left of it was written by the
client and is ignored, so a client cannot choose its own address by sending the header. With no trusted
proxy configured nothing is believed and the peer address is the client.

``ClientAddressMiddleware`` writes the resolved address into the ASGI scope's ``client``, as uvicorn's
proxy-headers middleware does, so everything after it (the general rate limit, the sign-in throttle
through ``request.client``) sees the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """The proxies named by ``ELEARNING_TRUSTED_PROXIES`` (addresses or CIDRs), and the resolution rule."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client_of(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The client address of a request from ``peer`` carrying ``headers`` (raw ASGI pairs)."""
        peer_address = _parse(peer)
        if peer_address is None or not self.trusts(peer_address):
            return peer
        forwarded: list[str] = []
        x_forwarded_for: list[str] = []
        for name, value in headers:
            if name == b"forwarded":
                forwarded.extend(_forwarded_for(value.decode("latin-1")))
            elif name == b"x-forwarded-for":
                x_forwarded_for.extend(part.strip() for part in value.decode("latin-1").split(","))
        # RFC 7239 is the standard form; a proxy chain that writes it is believed over the legacy header.
        hops = forwarded or x_forwarded_for
        client = peer
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                # A hop no proxy would write (garbage, "unknown", an obfuscated name): stop at the last
                # address a trusted proxy vouched for rather than believe anything further left.
                return client
            client = str(address)
            if not self.trusts(address):
                return client
        return client


def _parse(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # RFC 7239: "[2001:db8::1]:4711"
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # "192.0.2.1:4711"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` of each element of a ``Forwarded`` field, in order (elements without one are skipped)."""
    found = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, node = pair.partition("=")
            if name.strip().lower() == "for":
                found.append(node.strip())
    return found


class ClientAddressMiddleware:
    """Puts the resolved client address into ``scope["client"]``; wired only when proxies are trusted."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if client is not None and scope["type"] in ("http", "websocket"):
            resolved = self.proxies.client_of(client[0], scope["headers"])
            if resolved != client[0]:
                scope["client"] = (resolved, 0)
        await self.app(scope, receive, send)


def client_address(scope: Scope) -> str:
    """The client address after ``ClientAddressMiddleware`` (the peer when no proxy is trusted)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


__all__ = ["ClientAddressMiddleware", "TrustedProxies", "client_address"]
