"""The scheduler across real worker processes on PostgreSQL (issue 15, point 10): two replicas running a
1-second job for a few seconds run each period exactly once; a replica killed (SIGKILL) in the middle of a
job leaves its period to the other, which takes it over once the lease has run out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.conftest import _libpq
from tests.integration.scheduler_worker import SLOW_PERIOD

pytestmark = pytest.mark.postgres

WORKER = Path(__file__).with_name("scheduler_worker.py")
SRC = Path(__file__).parents[2] / "src"
WAIT = 45.0  # the bound of every wait in this module, in seconds (two xdist workers share 2 cores)


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL database with no job runs and an empty probe table (dropped afterwards)."""
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as conn:
        conn.execute("DELETE FROM scheduled_job_runs")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS scheduler_probe (job text NOT NULL, period_start timestamptz NOT NULL, "
            "holder text NOT NULL)"
        )
        conn.execute("DELETE FROM scheduler_probe")
    try:
        yield postgres_url
    finally:
        with psycopg.connect(_libpq(postgres_url), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS scheduler_probe")
            conn.execute("DELETE FROM scheduled_job_runs")


def _start(url: str, mode: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
    env |= {
        "ELEARNING_DATABASE_URL": url,
        "ELEARNING_SCHEDULER_TICK_SECONDS": "0.1",
        "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)]),
    }
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(_libpq(url)) as conn:
        return list(conn.execute(query).fetchall())


def _until(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {WAIT} s"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=WAIT)
    return process.returncode, output.decode(errors="replace")


def test_two_worker_processes_run_each_period_exactly_once(database: str) -> None:
    workers = [_start(database, "probe"), _start(database, "probe")]
    try:
        _until(lambda: len(_rows(database, "SELECT 1 FROM scheduler_probe")) >= 1, "a first probe run")
        time.sleep(4.5)
    finally:
        stopped = [_stop(w) for w in workers]
    for code, output in stopped:
        assert code == 0, output  # SIGTERM: the runs in hand finished, then a clean exit
    probes = _rows(database, "SELECT period_start, holder FROM scheduler_probe WHERE job = 'test.probe'")
    periods = [start for start, _ in probes]
    assert len(periods) >= 3
    assert len(periods) == len(set(periods)), f"a period ran twice: {sorted(periods)}"  # type: ignore[type-var]
    runs = _rows(
        database, "SELECT period_start, status, attempts, holder FROM scheduled_job_runs WHERE job = 'test.probe'"
    )
    assert sorted(r[0] for r in runs) == sorted(periods)  # type: ignore[type-var]
    assert {(r[1], r[2]) for r in runs} == {("done", 1)}
    assert {holder for _, holder in probes} <= {r[3] for r in runs}


def test_a_killed_replicas_period_is_taken_over_after_its_lease(database: str) -> None:
    # Start early enough in a 30 s period that the takeover happens within it (20 s for two process starts
    # and a lease of 1 s, on a machine whose two cores the other xdist worker shares).
    into = datetime.now(UTC).timestamp() % SLOW_PERIOD.total_seconds()
    if into > SLOW_PERIOD.total_seconds() - 20:
        time.sleep(SLOW_PERIOD.total_seconds() - into + 0.2)
    hung = _start(database, "hang")
    survivor: subprocess.Popen[bytes] | None = None
    try:
        _until(
            lambda: len(_rows(database, "SELECT 1 FROM scheduler_probe WHERE job = 'test.slow'")) == 1,
            "the job started",
        )
        ((period, first_holder),) = _rows(database, "SELECT period_start, holder FROM scheduler_probe")
        hung.send_signal(signal.SIGKILL)  # mid-job: no finish, no more lease renewals
        hung.wait(WAIT)
        survivor = _start(database, "finish")
        _until(
            lambda: _rows(database, "SELECT status FROM scheduled_job_runs WHERE job = 'test.slow'") == [("done",)],
            "the period taken over and finished",
        )
    finally:
        if hung.poll() is None:
            hung.kill()
            hung.wait(WAIT)
        code, output = _stop(survivor) if survivor is not None else (0, "")
    assert code == 0, output
    ((start, status, attempts, holder),) = _rows(
        database, "SELECT period_start, status, attempts, holder FROM scheduled_job_runs WHERE job = 'test.slow'"
    )
    assert (start, status, attempts) == (period, "done", 2)
    assert holder != first_holder
    assert str(survivor.pid) in str(holder)  # type: ignore[union-attr]
    # Both started the period's work (the job is idempotent for its period); only the survivor finished it.
    probes = _rows(database, "SELECT holder FROM scheduler_probe WHERE job = 'test.slow'")
    assert sorted(h for (h,) in probes) == sorted([first_holder, holder])
