"""Forwarding to an external learning record store over xAPI 1.0.3: ``POST {endpoint}/statements``.

A batch is one POST of a JSON array. 200 and 204 are success; a statement id the LRS holds already with
the same content is no error there (xAPI 1.0.3, 2.1.3 of the communication part), which is what makes a
redelivered batch harmless. A 408, a 429, any 5xx and a transport error are worth retrying; any other
answer (a 400, bad credentials, a 409 for an id the LRS holds with other content) is not.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from elearning_core.analytics.forwarder import DeliveryFailed, OutgoingStatement, StatementDestination

XAPI_VERSION = "1.0.3"
_RETRYABLE = {408, 425, 429}
_SHOWN = 300


class LrsDestination(StatementDestination):
    def __init__(
        self,
        endpoint: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = endpoint.rstrip("/") + "/statements"
        self.name = f"lrs:{endpoint.rstrip('/')}"
        auth = httpx.BasicAuth(username, password) if username is not None and password is not None else None
        self._client = httpx.AsyncClient(
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"X-Experience-API-Version": XAPI_VERSION},
            follow_redirects=False,
        )

    async def send(self, statements: Sequence[OutgoingStatement]) -> None:
        if not statements:
            return
        try:
            response = await self._client.post(self._url, json=[s.data for s in statements])
        except httpx.TransportError as exc:  # refused, reset, timed out: the LRS may be back soon
            raise DeliveryFailed(f"POST {self._url}: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code in (200, 204):
            return
        retryable = response.status_code in _RETRYABLE or response.status_code >= 500
        body = response.text[:_SHOWN].replace("\n", " ")
        raise DeliveryFailed(f"POST {self._url}: {response.status_code} {body}".rstrip(), retryable=retryable)

    async def aclose(self) -> None:
        await self._client.aclose()
