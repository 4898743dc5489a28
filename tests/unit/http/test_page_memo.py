"""The memo of anonymous listing pages: a repeated anonymous request is answered with the bytes the handler
produced for the current version, and nothing else is (callers with credentials, another version, an old
entry, an error, a reader without a version token)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.testing import AsyncTestClient

from elearning_http.page_memo import STATE_KEY, PageMemo, answer_from_memo, page_memo_of


class World:
    def __init__(self) -> None:
        self.version: int | None = 1
        self.now = 0.0
        self.handled = 0
        self.items = ["a", "b"]

    async def current_version(self) -> int | None:
        return self.version


def app_for(world: World, **memo: Any) -> Litestar:
    @get("/things", before_request=answer_from_memo)
    async def things(request: Request[Any, Any, Any], limit: Annotated[int, QueryParameter()] = 20) -> Response[Any]:
        world.handled += 1
        if limit > 100:
            return Response({"detail": "too many"}, status_code=400)
        content = {"items": world.items[:limit], "handled": world.handled}
        memo_ = page_memo_of(request)
        assert memo_ is not None
        return memo_.keep(request, content, {"Link": f'</things?limit={limit}&cursor=x>; rel="next"'})

    page_memo = PageMemo(world.current_version, clock=lambda: world.now, **memo)
    return Litestar([things], state=State({STATE_KEY: page_memo}))


@pytest.fixture
def world() -> World:
    return World()


async def test_a_repeated_anonymous_request_gets_the_same_bytes_without_the_handler(world: World) -> None:
    async with AsyncTestClient(app_for(world)) as client:
        first = await client.get("/things?limit=2")
        second = await client.get("/things?limit=2")
    assert world.handled == 1
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert first.json() == {"items": ["a", "b"], "handled": 1}
    assert second.headers["link"] == first.headers["link"] == '</things?limit=2&cursor=x>; rel="next"'
    assert second.headers["content-type"] == "application/json"


async def test_each_query_string_is_its_own_page(world: World) -> None:
    async with AsyncTestClient(app_for(world)) as client:
        one = await client.get("/things?limit=1")
        two = await client.get("/things?limit=2")
    assert world.handled == 2
    assert one.json()["items"] == ["a"]
    assert two.json()["items"] == ["a", "b"]


@pytest.mark.parametrize("credentials", [{"Authorization": "Bearer x"}, {"Cookie": "session=y"}])
async def test_a_caller_with_credentials_always_reaches_the_handler(world: World, credentials: dict[str, str]) -> None:
    async with AsyncTestClient(app_for(world)) as client:
        await client.get("/things")
        answered = await client.get("/things", headers=credentials)
    assert world.handled == 2
    assert answered.json()["handled"] == 2


async def test_a_new_version_is_rendered_again(world: World) -> None:
    async with AsyncTestClient(app_for(world)) as client:
        await client.get("/things")
        world.version, world.items = 2, ["c"]
        changed = await client.get("/things")
    assert world.handled == 2
    assert changed.json()["items"] == ["c"]


async def test_a_page_older_than_its_max_age_is_rendered_again(world: World) -> None:
    async with AsyncTestClient(app_for(world, max_age=0.5)) as client:
        await client.get("/things")
        world.now = 0.4
        await client.get("/things")
        assert world.handled == 1
        world.now = 0.5
        await client.get("/things")
    assert world.handled == 2


async def test_without_a_version_token_nothing_is_kept(world: World) -> None:
    world.version = None
    async with AsyncTestClient(app_for(world)) as client:
        for _ in range(3):
            assert (await client.get("/things")).status_code == 200
    assert world.handled == 3


async def test_a_refusal_is_never_kept(world: World) -> None:
    async with AsyncTestClient(app_for(world)) as client:
        for _ in range(2):
            assert (await client.get("/things?limit=1000")).status_code == 400
    assert world.handled == 2


async def test_the_memo_is_bounded_least_recently_used_first(world: World) -> None:
    async with AsyncTestClient(app_for(world, kept=2)) as client:
        for limit in (1, 2, 1, 3):  # 2 is the least recently used when 3 arrives
            await client.get(f"/things?limit={limit}")
        assert world.handled == 3
        await client.get("/things?limit=1")
        assert world.handled == 3
        await client.get("/things?limit=2")
    assert world.handled == 4


@pytest.mark.parametrize(("cache", "memoized"), [("none", False), ("memory", True)])
def test_the_app_memoizes_catalog_pages_only_over_a_catalog_cache(tmp_path: Path, cache: str, memoized: bool) -> None:
    from elearning_adapters.settings import Settings
    from elearning_http.app import create_app

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}", data_dir=tmp_path, cache=cache)
    app = create_app(settings, run_events=False)
    assert isinstance(app.state.get(STATE_KEY), PageMemo) is memoized
