"""The live notification stream across processes: two ``elearning serve`` processes on one database
and one Redis; a learner's EventSource-style client (a stream ticket, no headers) reads the stream from
the second server while the enrollment that notifies them is made through the first."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.test_cache import REDIS_URL, require_redis
from tests.served import ADMIN, Served, serve_env, serving

PASSWORD = "a long passphrase for tests"


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    require_redis()
    env = serve_env(
        tmp_path / "data",
        redis_url=REDIS_URL,
        redis_key_prefix=f"test-{uuid.uuid4().hex[:8]}:",
        notification_stream_heartbeat_seconds="1",
    )
    with serving(env, tmp_path / "a.log") as first, serving(env, tmp_path / "b.log") as second:
        yield first, second


def _course(client: httpx.Client) -> str:
    course = client.post("/api/v1/courses", json={"title": "Streams", "slug": f"s-{uuid.uuid4().hex[:6]}"}).json()
    section = client.post(f"/api/v1/courses/{course['id']}/sections", json={"title": "S"}).json()
    client.post(f"/api/v1/courses/{course['id']}/sections/{section['id']}/lessons", json={"title": "L"})
    assert client.post(f"/api/v1/courses/{course['id']}/publish").status_code == 200
    return str(course["id"])


def _sign_in(server: Served) -> dict[str, str]:
    login = httpx.post(
        f"{server.base}/api/v1/auth/login", json={"email": "sse@example.org", "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _read_events(url: str, out: queue.Queue[Any], stop: threading.Event) -> None:
    """An EventSource's part: GET the stream and parse its events (and heartbeats) as they come."""
    with httpx.Client(timeout=httpx.Timeout(10, read=30)) as client, client.stream("GET", url) as response:
        out.put(("status", response.status_code, response.headers.get("content-type")))
        event: dict[str, str] = {}
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith(":"):
                out.put(("comment", line[1:].strip(), None))
            elif line == "" and "event" in event:
                out.put(("event", event, time.monotonic()))
                event = {}
            elif line == "":
                event = {}  # the opening block: a retry and an empty data line
            elif ":" in line:
                name, _, value = line.partition(":")
                event[name] = value.lstrip()


def test_a_notification_written_by_one_server_reaches_a_stream_open_on_another(
    two_servers: tuple[Served, Served],
) -> None:
    first, second = two_servers
    with httpx.Client(base_url=first.base, headers=ADMIN, timeout=10) as admin:
        course_id = _course(admin)
        user = admin.post(
            "/api/v1/admin/users",
            json={"email": "sse@example.org", "display_name": "Sse", "password": PASSWORD},
        )
        assert user.status_code == 201, user.text
    # A sign-in on each server: two servers started together may each have made its own signing key.
    bearer, second_bearer = (_sign_in(server) for server in (first, second))
    ticket = httpx.post(f"{second.base}/api/v1/me/notifications/stream-ticket", headers=second_bearer, timeout=10)
    assert ticket.status_code == 200, ticket.text
    assert httpx.get(f"{second.base}/api/v1/me/notifications/stream", timeout=10).status_code == 401

    received: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_events,
        args=(f"{second.base}/api/v1/me/notifications/stream?ticket={ticket.json()['ticket']}", received, stop),
        daemon=True,
    )
    reader.start()
    try:
        kind, status, content_type = received.get(timeout=10)
        assert (kind, status) == ("status", 200)
        assert content_type.startswith("text/event-stream")
        assert received.get(timeout=10)[:2] == ("comment", "stream open")

        enrolled_at = time.monotonic()
        enrolled = httpx.post(f"{first.base}/api/v1/courses/{course_id}/enrollments", headers=bearer, timeout=10)
        assert enrolled.status_code in (200, 201), enrolled.text

        deadline = time.monotonic() + 20
        event = None
        heartbeats = 0
        while time.monotonic() < deadline and event is None:
            kind, item, at = received.get(timeout=20)
            if kind == "event":
                event, arrived = item, at
            elif item == "heartbeat":
                heartbeats += 1
        assert event is not None, "no notification arrived on the stream"
        assert event["event"] == "notification"
        data = json.loads(event["data"])
        assert (data["type"], data["title"]) == ("enrollment_confirmed", "You are enrolled in Streams")
        assert arrived - enrolled_at < 5

        inbox = httpx.get(f"{second.base}/api/v1/me/notifications", headers=second_bearer, timeout=10).json()
        assert [n["id"] for n in inbox["items"]] == [data["id"]]
    finally:
        stop.set()
