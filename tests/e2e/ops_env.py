"""The environment of the operator CLI tests: a SQLite file per test, no stray configuration, Kafka when asked.

A test module loads them as a plugin (``pytest_plugins = ["tests.e2e.ops_env"]``) and asks for ``cli_env`` in an
autouse fixture of its own: a plugin's fixtures are the whole session's, so ``cli_env`` itself cannot be autouse.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    """Every test runs on its own SQLite file, with wide tables and no stray configuration."""
    for name in list(os.environ):
        if name.startswith("ELEARNING_") and not name.startswith("ELEARNING_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ELEARNING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ELEARNING_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "260")
    return sqlite_url


@pytest.fixture
def kafka_env(monkeypatch: pytest.MonkeyPatch, kafka_broker: str) -> str:
    monkeypatch.setenv("ELEARNING_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    return kafka_broker
