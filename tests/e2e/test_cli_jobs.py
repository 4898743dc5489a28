"""``elearning jobs``: the operator's view of the scheduled jobs, and a run by hand through the same claim
as the schedulers (a clear one-line error for an unknown name, exit 1 when the job fails or is busy)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.scheduling.model import RunStatus
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform

NOTIFICATION_JOBS = (
    "notifications.send",
    "notifications.fan-out",
    "notifications.due-reminders",
    "notifications.send-digests",
)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def test_list_names_every_registered_job_with_its_period(cli: None) -> None:
    jobs = {j["name"]: j for j in json.loads(ok("jobs", "list", "-o", "json").stdout)}
    assert set(jobs) == {
        "assessment.expire-attempts",
        "certificates.issue-due",
        "checkout.expire-holds",
        "scheduler.prune-runs",
        *NOTIFICATION_JOBS,
        "recommendations.train",
        "subscriptions.dunning",
        "subscriptions.renew",
    }
    assert jobs["assessment.expire-attempts"]["period"] == "1m"
    assert jobs["certificates.issue-due"]["period"] == "1h"
    assert jobs["scheduler.prune-runs"]["period"] == "1d +3h"
    assert jobs["recommendations.train"]["period"] == "1h"
    assert all(j["status"] is None and j["last_period"] is None for j in jobs.values())
    table = ok("jobs", "list").stdout
    assert "certificates.issue-due" in table
    assert "Next due" in table


def test_run_by_hand_records_the_period_and_list_shows_it(cli: None) -> None:
    done = ok("jobs", "run", "certificates.issue-due")
    assert "certificates.issue-due: issued 0 certificate(s) (period from" in done.stderr
    (job,) = [j for j in json.loads(ok("jobs", "list", "-o", "json").stdout) if j["name"] == "certificates.issue-due"]
    assert (job["status"], job["attempts"], job["result"]) == ("done", 1, "issued 0 certificate(s)")
    # Again in the same period: allowed by hand (the job is idempotent for its period), one more attempt.
    ok("jobs", "run", "certificates.issue-due")
    (job,) = [j for j in json.loads(ok("jobs", "list", "-o", "json").stdout) if j["name"] == "certificates.issue-due"]
    assert job["attempts"] == 2


def test_an_unknown_job_is_one_line_naming_the_known_ones(cli: None) -> None:
    result = invoke("jobs", "run", "nope")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "error: unknown job 'nope'; known: assessment.expire-attempts, certificates.issue-due, checkout.expire-holds, "
        "notifications.due-reminders, notifications.fan-out, notifications.send, notifications.send-digests, "
        "recommendations.train, scheduler.prune-runs, subscriptions.dunning, subscriptions.renew"
    ]


def test_a_period_a_scheduler_is_running_is_refused_with_exit_1(cli: None) -> None:
    async def hold(platform: Platform) -> None:
        scheduler = platform.scheduler
        job = scheduler.job("certificates.issue-due")
        now = scheduler.now()
        period = job.schedule.period_at(now)
        runs = platform.container.scheduling.runs()
        claimed = await runs.claim(
            job.name, period.start, holder="replica-1", now=now, lease_until=now + timedelta(minutes=5), max_attempts=3
        )
        assert claimed is not None
        assert claimed.status is RunStatus.RUNNING

    on_platform(hold)
    result = invoke("jobs", "run", "certificates.issue-due")
    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert line.startswith("error: job certificates.issue-due is running for this period by replica-1")


def test_on_an_unmigrated_database_list_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str
) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    result = invoke("jobs", "list")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert "elearning db upgrade" in result.stderr
