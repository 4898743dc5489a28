"""Run localstripe (a stateful Stripe-compatible server from PyPI) on a loopback port, for the Stripe adapter's tests.

Three changes to the stock ``localstripe`` command, all outside its API behaviour:

- it listens on 127.0.0.1 only (the stock command binds every interface, IPv4 and IPv6);
- it never reads or writes its store file (``/tmp/localstripe.pickle``): each run starts empty and
  parallel runs do not share state;
- it honours ``Idempotency-Key`` on POSTs as Stripe documents it (the first answer to a key, per API
  key, is replayed to every later request with that key, with ``Idempotent-Replayed: true``;
  concurrent requests with one key wait for the first), which localstripe lacks. The adapter relies
  on Stripe doing this; without it the test server would charge twice where Stripe would not.

Usage: ``python tests/localstripe_server.py PORT``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from localstripe import resources, server

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _no_store_file(self: resources.Store) -> None:
    """The store lives in memory only."""


resources.Store.dump_to_disk = _no_store_file  # type: ignore[method-assign]
resources.Store.try_load_from_disk = _no_store_file  # type: ignore[method-assign]

_answers: dict[tuple[str, str], tuple[int, bytes, str]] = {}
_locks: dict[tuple[str, str], asyncio.Lock] = {}


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    async with _locks.setdefault(scope, asyncio.Lock()):
        if scope in _answers:
            status, body, content_type = _answers[scope]
            return web.Response(
                status=status, body=body, content_type=content_type, headers={"Idempotent-Replayed": "true"}
            )
        response = await handler(request)
        if response.status < 500 and isinstance(response, web.Response) and response.body is not None:
            assert isinstance(response.body, bytes)
            _answers[scope] = (response.status, response.body, response.content_type)
        return response


def main() -> None:
    port = int(sys.argv[1])
    server.app.middlewares.insert(0, idempotency)
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
