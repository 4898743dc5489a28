"""``elearning recommendations train|evaluate|show`` on SQLite and PostgreSQL, over a small synthetic
history written to the database: the evaluation's table, training's summary, a learner's list with its
explanations, and every bad input as one line and exit 1."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_adapters.sql.engine import Database
from elearning_core.identity.commands import CreateUser
from elearning_core.recommendation.synthetic import Parameters, generate
from elearning_core.shared.ports import SYSTEM
from tests.conftest import truncate_all
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.recommendation_data import load_history

HISTORY = generate(Parameters(learners=600, courses=100, clusters=10, seed=11))


async def _empty(url: str) -> None:
    db = Database(url)
    try:
        await truncate_all(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, str, set[str]]]:
    directory = tmp_path_factory.mktemp("cli-recommendations")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'elearning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        asyncio.run(_empty(url))
    with pytest.MonkeyPatch.context() as patch:
        isolate_cli_env(patch, directory, url)
        ok("db", "upgrade")

        async def seed(platform: Platform) -> tuple[str, set[str]]:
            user = await platform.identity.create_user(
                SYSTEM, CreateUser(email=f"learner-{uuid.uuid4().hex[:6]}@example.org", display_name="Learner")
            )
            courses, _ = await load_history(platform, HISTORY, users={0: user.id})
            return user.email, {str(courses[i.course_id]) for i in HISTORY.interactions if i.user_id == 0}

        email, taken = on_platform(seed)
    yield url, directory, email, taken
    if request.param != "sqlite":
        asyncio.run(_empty(url))


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, seeded: tuple[str, Path, str, set[str]]) -> None:
    url, directory, _, _ = seeded
    isolate_cli_env(monkeypatch, directory, url)


def test_evaluate_prints_each_recommender_against_popularity(seeded: tuple[str, Path, str, set[str]]) -> None:
    table = ok("recommendations", "evaluate").stdout
    for name in ("popularity", "collaborative", "content", "blended", "Hit rate@10", "NDCG@10"):
        assert name in table
    rows = {r["recommender"]: r for r in json.loads(ok("recommendations", "evaluate", "-o", "json").stdout)}
    assert rows["popularity"]["vs_popularity"] == 1.0
    assert rows["collaborative"]["hit_rate_at_10"] >= 2 * rows["popularity"]["hit_rate_at_10"]
    assert rows["collaborative"]["cases"] > 100


def test_train_then_show_a_learners_list_with_explanations(seeded: tuple[str, Path, str, set[str]]) -> None:
    _, _, email, taken = seeded
    assert "nothing to recommend yet" not in ok("recommendations", "train").stderr
    items = json.loads(ok("recommendations", "show", email, "--limit", "5", "-o", "json").stdout)
    assert len(items) == 5
    assert [i["rank"] for i in items] == [1, 2, 3, 4, 5]
    assert items[0]["explanation"].startswith("because you took ")
    assert taken
    assert not taken & {i["course_id"] for i in items}  # never a course the learner took
    table = ok("recommendations", "show", email).stdout
    assert "Why" in table


def test_bad_inputs_are_one_line_and_exit_1(seeded: tuple[str, Path, str, set[str]]) -> None:
    for args, message in [
        (("show", "nobody@example.org"), "error: user nobody@example.org was not found"),
        (("show", str(uuid.uuid4()), "--limit", "0"), "error: --limit must be between 1 and 50"),
        (("evaluate", "--train-share", "1.5"), "error: --train-share must be between 0 and 1 (exclusive)"),
    ]:
        result = invoke("recommendations", *args)
        assert result.exit_code == 1, result.output
        (line,) = error_lines(result)
        assert line.startswith(message), line
