"""The ``JobRuns`` contract on the fake, SQLite and PostgreSQL: one winner per claim, takeover only after the
lease ran out, retries after the backoff while attempts remain, and only the holder records an outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.scheduling import SqlJobRuns
from elearning_core.scheduling.model import RunStatus
from elearning_core.scheduling.ports import JobRuns
from tests.contract.conftest import sql_database
from tests.scheduling_fakes import InMemoryJobRuns

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
JOB = "test.job"


@pytest.fixture(autouse=True)
def _databases_created_outside_the_event_loop(request: pytest.FixtureRequest) -> None:
    """As the contract conftest does for ``backend``: the session's databases are made from sync code."""
    param = getattr(getattr(request.node, "callspec", None), "params", {}).get("runs")
    if param == "postgres":
        request.getfixturevalue("postgres_url")
    if param == "sqlite":
        request.getfixturevalue("migrated_sqlite_file")


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def runs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobRuns]:
    if request.param == "fake":
        yield InMemoryJobRuns()
        return
    db = await sql_database(request, tmp_path)
    try:
        yield SqlJobRuns(db)
    finally:
        await db.dispose()


async def _claim(runs: JobRuns, holder: str, now: datetime, max_attempts: int | None = 3, start: datetime = T0):
    return await runs.claim(JOB, start, holder=holder, now=now, lease_until=now + LEASE, max_attempts=max_attempts)


async def test_the_first_claim_wins_and_a_second_is_refused(runs: JobRuns) -> None:
    won = await _claim(runs, "a", T0)
    assert won is not None
    assert (won.job, won.period_start, won.status, won.holder, won.attempts) == (JOB, T0, RunStatus.RUNNING, "a", 1)
    assert won.lease_until == T0 + LEASE
    assert won.started_at == T0
    assert won.finished_at is None
    assert await _claim(runs, "b", T0 + timedelta(seconds=1)) is None
    assert (await runs.get(JOB, T0)).holder == "a"  # type: ignore[union-attr]


async def test_twenty_concurrent_claims_of_one_period_have_exactly_one_winner(runs: JobRuns) -> None:
    results = await asyncio.gather(*(_claim(runs, f"replica-{i}", T0) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await runs.get(JOB, T0)
    assert stored is not None
    assert stored.holder == winners[0].holder
    assert stored.attempts == 1


async def test_a_running_period_is_taken_over_only_after_its_lease(runs: JobRuns) -> None:
    assert await _claim(runs, "dead", T0) is not None
    assert await _claim(runs, "b", T0 + LEASE - timedelta(microseconds=1)) is None
    assert await _claim(runs, "b", T0 + LEASE - timedelta(seconds=1), max_attempts=None) is None  # not by hand either
    taken = await _claim(runs, "b", T0 + LEASE)
    assert taken is not None
    assert taken.holder == "b"
    assert taken.attempts == 2
    # The old holder can no longer renew, finish or fail it.
    later = T0 + LEASE + timedelta(seconds=1)
    assert not await runs.renew(JOB, T0, holder="dead", lease_until=later + LEASE)
    assert not await runs.finish(JOB, T0, holder="dead", now=later, result="late")
    assert not await runs.fail(JOB, T0, holder="dead", now=later, error="late", retry_at=later)
    stored = await runs.get(JOB, T0)
    assert stored is not None
    assert (stored.holder, stored.status, stored.result) == ("b", RunStatus.RUNNING, None)


async def test_renewing_keeps_the_period(runs: JobRuns) -> None:
    assert await _claim(runs, "a", T0) is not None
    assert await runs.renew(JOB, T0, holder="a", lease_until=T0 + 2 * LEASE)
    assert await _claim(runs, "b", T0 + LEASE + timedelta(seconds=1)) is None
    assert await _claim(runs, "b", T0 + 2 * LEASE) is not None


async def test_a_done_period_is_never_claimed_again_except_by_hand(runs: JobRuns) -> None:
    assert await _claim(runs, "a", T0) is not None
    assert await runs.finish(JOB, T0, holder="a", now=T0 + timedelta(seconds=2), result="closed 3")
    done = await runs.get(JOB, T0)
    assert done is not None
    assert done.status is RunStatus.DONE
    assert done.result == "closed 3"
    assert done.finished_at == T0 + timedelta(seconds=2)
    assert await _claim(runs, "b", T0 + timedelta(hours=1)) is None
    again = await _claim(runs, "operator", T0 + timedelta(seconds=3), max_attempts=None)
    assert again is not None
    assert again.attempts == 2
    assert again.result is None
    assert again.finished_at is None


async def test_a_failed_period_is_retried_after_its_backoff_while_attempts_remain(runs: JobRuns) -> None:
    assert await _claim(runs, "a", T0) is not None
    retry_at = T0 + timedelta(seconds=10)
    assert await runs.fail(JOB, T0, holder="a", now=T0 + timedelta(seconds=1), error="boom", retry_at=retry_at)
    failed = await runs.get(JOB, T0)
    assert failed is not None
    assert (failed.status, failed.error, failed.lease_until) == (
        RunStatus.FAILED,
        "boom",
        retry_at,
    )
    assert await _claim(runs, "b", retry_at - timedelta(seconds=1), max_attempts=2) is None
    second = await _claim(runs, "b", retry_at, max_attempts=2)
    assert second is not None
    assert second.attempts == 2
    assert second.error is None
    assert await runs.fail(JOB, T0, holder="b", now=retry_at, error="boom again", retry_at=retry_at)
    assert await _claim(runs, "c", retry_at + timedelta(minutes=5), max_attempts=2) is None  # spent
    assert await _claim(runs, "operator", retry_at + timedelta(minutes=5), max_attempts=None) is not None


async def test_periods_and_jobs_are_separate_and_latest_is_the_newest_period(runs: JobRuns) -> None:
    for minutes in (0, 2, 1):
        start = T0 + timedelta(minutes=minutes)
        assert await _claim(runs, "a", start, start=start) is not None
    assert await runs.claim("other.job", T0, holder="a", now=T0, lease_until=T0 + LEASE, max_attempts=1) is not None
    latest = await runs.latest(JOB)
    assert latest is not None
    assert latest.period_start == T0 + timedelta(minutes=2)
    assert await runs.latest("no.such.job") is None
    assert await runs.get(JOB, T0 + timedelta(minutes=3)) is None


async def test_pruning_forgets_the_runs_of_old_periods(runs: JobRuns) -> None:
    for days in (20, 15, 1):
        start = T0 - timedelta(days=days)
        assert await _claim(runs, "a", start, start=start) is not None
    assert await runs.prune(T0 - timedelta(days=14)) == 2
    latest = await runs.latest(JOB)
    assert latest is not None
    assert latest.period_start == T0 - timedelta(days=1)
    assert await runs.get(JOB, T0 - timedelta(days=20)) is None
