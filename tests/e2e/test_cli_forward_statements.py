"""``elearning worker forward-statements`` as an operator starts it: a missing or incomplete destination is
one line and exit 2, before anything connects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
    return subprocess.run(
        [sys.executable, "-m", "elearning_workers", "forward-statements"],
        env={**clean, "ELEARNING_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "no forwarding destination: set ELEARNING_ANALYTICS_FORWARD_TO=lrs"),
        ({"ELEARNING_ANALYTICS_FORWARD_TO": "lrs"}, "needs ELEARNING_ANALYTICS_FORWARD_ENDPOINT"),
        (
            {"ELEARNING_ANALYTICS_FORWARD_TO": "lrs", "ELEARNING_ANALYTICS_FORWARD_ENDPOINT": "lrs.example.org"},
            "needs ELEARNING_ANALYTICS_FORWARD_ENDPOINT",
        ),
        (
            {
                "ELEARNING_ANALYTICS_FORWARD_TO": "lrs",
                "ELEARNING_ANALYTICS_FORWARD_ENDPOINT": "https://lrs.example.org/xAPI",
                "ELEARNING_ANALYTICS_FORWARD_USERNAME": "platform",
            },
            "set both ELEARNING_ANALYTICS_FORWARD_USERNAME and ELEARNING_ANALYTICS_FORWARD_PASSWORD",
        ),
        ({"ELEARNING_ANALYTICS_FORWARD_TO": "kafka"}, "needs ELEARNING_ANALYTICS_FORWARD_KAFKA_BOOTSTRAP_SERVERS"),
    ],
    ids=["none", "lrs-without-endpoint", "lrs-endpoint-not-a-url", "username-without-password", "kafka-no-brokers"],
)
def test_an_incomplete_destination_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], says: str) -> None:
    done = start(tmp_path, **env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: ")
    assert says in done.stderr
