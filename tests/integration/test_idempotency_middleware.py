"""The Idempotency-Key mechanism on its own, as a later module (checkout) mounts it: a minimal Litestar app
with one keyed route over the real SQL store, to pin down what is stored and what is released."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar, Response, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.idempotency import SqlIdempotencyStore
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.ports import ANONYMOUS, Principal
from elearning_http.errors import exception_handlers
from elearning_http.idempotency import STATE_KEY, Idempotency, IdempotencyKey, IdempotencyMiddleware

REPLAYED = "idempotent-replayed"


class Ledger:
    """What the keyed route did, and what it is told to answer next."""

    def __init__(self) -> None:
        self.runs = 0
        self.fail_next = 0
        self.status = 201


async def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    token = connection.headers.get("authorization")
    if token is None:
        return ANONYMOUS
    if token == "Bearer bad":
        raise NotAuthorizedException("bad token")
    return Principal(subject=token.removeprefix("Bearer "))


@pytest.fixture
async def client(database: Database) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Ledger]]:
    ledger = Ledger()

    @post("/charge", middleware=[IdempotencyMiddleware], status_code=201)
    async def charge(data: JSONBody[dict[str, Any]], idempotency_key: IdempotencyKey = None) -> Any:
        del idempotency_key
        ledger.runs += 1
        if ledger.fail_next:
            ledger.fail_next -= 1
            raise RuntimeError("the payment provider is down")
        return Response({"run": ledger.runs, "amount": data.get("amount")}, status_code=ledger.status)

    config = Idempotency(SqlIdempotencyStore(database), caller, SystemClock(), timedelta(hours=24))
    app = Litestar([charge], state=State({STATE_KEY: config}), exception_handlers=exception_handlers)  # type: ignore[arg-type]
    async with AsyncTestClient(app) as test_client:
        yield test_client, ledger


def keyed(who: str, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}", "Idempotency-Key": key}


async def test_a_server_error_is_not_stored_and_the_repeat_runs_again(client: Any) -> None:
    http, ledger = client
    ledger.fail_next = 1
    failed = await http.post("/charge", json={"amount": 5}, headers=keyed("ann", "k1"))
    assert failed.status_code == 500
    again = await http.post("/charge", json={"amount": 5}, headers=keyed("ann", "k1"))
    assert (again.status_code, again.json(), REPLAYED in again.headers) == (201, {"run": 2, "amount": 5}, False)
    third = await http.post("/charge", json={"amount": 5}, headers=keyed("ann", "k1"))
    assert (third.json(), third.headers[REPLAYED], ledger.runs) == ({"run": 2, "amount": 5}, "true", 2)


@pytest.mark.parametrize(("status", "stored"), [(400, True), (404, True), (409, True), (429, False), (401, False)])
async def test_which_client_errors_are_final(client: Any, status: int, stored: bool) -> None:
    http, ledger = client
    ledger.status = status
    first = await http.post("/charge", json={}, headers=keyed("ann", "k"))
    ledger.status = 201
    again = await http.post("/charge", json={}, headers=keyed("ann", "k"))
    assert first.status_code == status
    assert (again.status_code, ledger.runs) == ((status, 1) if stored else (201, 2))


async def test_unkeyed_anonymous_and_refused_callers_pass_through_unkeyed(client: Any) -> None:
    http, ledger = client
    for headers in ({"Authorization": "Bearer ann"}, {"Idempotency-Key": "k"}, keyed("bad", "k")):
        first = await http.post("/charge", json={}, headers=headers)
        again = await http.post("/charge", json={}, headers=headers)
        assert REPLAYED not in again.headers
        assert again.json()["run"] == first.json()["run"] + 1
    # This bare app has no guard: the real one refuses the bad token with 401 in its guard.
    assert ledger.runs == 6


async def test_a_replay_is_uncompressed_and_carries_the_stored_headers(client: Any) -> None:
    http, _ = client
    body = {"amount": "x" * 2000}
    first = await http.post("/charge", json=body, headers={**keyed("ann", "big"), "Accept-Encoding": "gzip"})
    again = await http.post("/charge", json=body, headers={**keyed("ann", "big"), "Accept-Encoding": "gzip"})
    assert "content-encoding" not in first.headers
    assert (again.json(), again.headers["content-type"]) == (first.json(), first.headers["content-type"])


async def test_an_oversized_keyed_body_is_refused(client: Any) -> None:
    http, ledger = client
    response = await http.post("/charge", content=b"{" + b" " * (1024 * 1024) + b"}", headers=keyed("ann", "huge"))
    assert (response.status_code, response.headers["content-type"], ledger.runs) == (413, "application/problem+json", 0)
