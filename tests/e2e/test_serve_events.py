"""``elearning serve`` on the embedded default, as a real process: the in-process event transport inside it.

The server caches the catalog in its own memory. A change the server makes
itself is visible at once (its commit drops its own entries); a change that
another process commits (``elearning courses import`` on the same SQLite
file) can only reach the server's cache through the outbox, relayed by the
transport running inside ``serve`` to the catalog-cache handler: the same
handler that ``elearning worker consume`` runs with Kafka.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.prometheus import metric
from tests.served import ADMIN, serve_env, serving, wait_for

ELEARNING = str(Path(sys.executable).parent / "elearning")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return serve_env(tmp_path / "data")


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    with serving(env, tmp_path / "serve.log") as served:
        yield served.base, served.process, served.log


def listed_slugs(base: str) -> list[str]:
    response = httpx.get(f"{base}/api/v1/courses", params={"limit": 100}, timeout=10)
    assert response.status_code == 200, response.text
    return [c["slug"] for c in response.json()["items"]]


def test_serve_relays_events_in_process_so_another_process_changes_reach_its_cache(
    server: tuple[str, subprocess.Popen[bytes], Path], env: dict[str, str], tmp_path: Path
) -> None:
    base, process, log = server
    with httpx.Client(base_url=base, headers=ADMIN, timeout=10) as client:
        course = client.post("/api/v1/courses", json={"title": "Served here", "slug": "served-here"}).json()
        section = client.post(f"/api/v1/courses/{course['id']}/sections", json={"title": "S"}).json()
        client.post(f"/api/v1/courses/{course['id']}/sections/{section['id']}/lessons", json={"title": "L"})
        assert client.post(f"/api/v1/courses/{course['id']}/publish").status_code == 200
    assert listed_slugs(base) == ["served-here"]  # its own write: visible at once
    assert listed_slugs(base) == ["served-here"]  # ... and now cached

    # Another process commits to the same database: the server's cache does not know yet.
    record = {
        "slug": "imported-elsewhere",
        "title": "Imported elsewhere",
        "status": "published",
        "sections": [{"title": "S", "lessons": [{"title": "L"}]}],
    }
    source = tmp_path / "import.json"
    source.write_text(json.dumps([record]))
    imported = subprocess.run(
        [ELEARNING, "courses", "import", str(source)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert imported.returncode == 0, imported.stderr

    slugs = wait_for(
        lambda: s if "imported-elsewhere" in (s := listed_slugs(base)) else None,
        "the imported course to show in the server's cached list",
    )
    assert sorted(slugs) == ["imported-elsewhere", "served-here"]

    def relayed() -> str | None:
        text = httpx.get(f"{base}/metrics", timeout=10).text
        return text if metric(text, "elearning_outbox_pending") == 0.0 else None

    text = wait_for(relayed, "the outbox to be relayed")
    assert (metric(text, "elearning_relay_published_events_total", transport="in-process") or 0) >= 5
    handled = metric(text, "elearning_consumer_messages_total", consumer="catalog-cache", outcome="handled")
    assert (handled or 0) >= 5
    assert metric(text, "elearning_consumer_lag", group="catalog-cache", topic="elearning.course") == 0.0
    assert metric(text, "elearning_dlq_messages", topic="elearning.course") == 0.0

    process.send_signal(signal.SIGTERM)
    # A drained server exits 0 (uvicorn alone would re-raise the signal and end "killed by SIGTERM").
    assert process.wait(30) == 0
    output = log.read_text()
    assert "Application shutdown complete" in output
    assert "events: relayed in-process from the outbox (no Kafka configured); catalog cache: in this process" in output
    assert "in-process event transport stopped" in output
    assert "Traceback" not in output
