"""SIGTERM to a real ``elearning serve`` process under a load of writes that emit events.

What must hold: every request the server admitted gets a complete answer (a refused connection after
the stop is fine, a half answer is not), the process exits 0 by itself, and the events of the writes
are each handled once: delivered before the exit by the in-process transport, or left in the outbox
and delivered at the next start, never handled twice.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.prometheus import metric
from tests.served import ADMIN, serve_env, serving, wait_for

WRITERS = 50  # concurrent clients, each one request per connection
PER_WRITER = 40  # the bound of each client's loop
STOP_AFTER = 100  # SIGTERM once this many writes were answered
GRACE = 15


def _write_until_refused(base: str, writer: int, outcomes: list[tuple[str, str]], answered: threading.Event) -> None:
    for i in range(PER_WRITER):
        slug = f"drain-{writer}-{i}"
        try:
            response = httpx.post(
                f"{base}/api/v1/courses",
                json={"title": f"Drain {writer} {i}", "slug": slug},
                headers=ADMIN | {"Connection": "close"},
                timeout=60,
            )
        except httpx.ConnectError:
            outcomes.append((slug, "refused"))
            return
        except httpx.TransportError as exc:  # reset, or closed before an answer
            outcomes.append((slug, f"broken:{type(exc).__name__}"))
            return
        outcomes.append((slug, str(response.status_code)))
        if response.status_code == 503:
            time.sleep(0.05)  # refused by admission control: back off a little, as Retry-After asks
        if len([o for o in outcomes if o[1] == "201"]) >= STOP_AFTER:
            answered.set()


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_sigterm_under_writes_answers_every_admitted_request_exits_0_and_handles_each_event_once(
    tmp_path: Path,
) -> None:
    env = serve_env(tmp_path / "data", shutdown_grace_seconds=str(GRACE))
    db = tmp_path / "data" / "elearning.db"
    outcomes: list[tuple[str, str]] = []
    answered = threading.Event()
    with serving(env, tmp_path / "serve.log") as served:
        writers = [
            threading.Thread(target=_write_until_refused, args=(served.base, w, outcomes, answered), daemon=True)
            for w in range(WRITERS)
        ]
        for thread in writers:
            thread.start()
        assert answered.wait(120), f"the load never reached {STOP_AFTER} answered writes: {Counter(outcomes)}"
        served.process.send_signal(signal.SIGTERM)
        try:
            exit_code = served.process.wait(GRACE + 30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit after SIGTERM\n{served.output()}") from None
        for thread in writers:
            thread.join(90)
        assert not any(thread.is_alive() for thread in writers)
        log = served.output()

    assert exit_code == 0, log
    kinds = Counter(outcome for _, outcome in outcomes)
    assert kinds["201"] >= STOP_AFTER
    # 503: refused by admission control (50 writers, 40 admitted at once by default), a complete answer too.
    assert set(kinds) <= {"201", "503", "refused"} | {k for k in kinds if k.startswith("broken:")}, kinds
    # Every write the server admitted (its course exists) got its complete 201; a connection that
    # broke without an answer was never admitted (nothing was created for it).
    created = {slug for (slug,) in _rows(db, "SELECT slug FROM courses")}
    answered_201 = {slug for slug, outcome in outcomes if outcome == "201"}
    assert created == answered_201, {
        "created without a complete answer": sorted(created - answered_201)[:10],
        "answered but not created": sorted(answered_201 - created)[:10],
    }

    # Events: each course.created is either handled (published, one inbox row) or still in the outbox.
    events = _rows(db, "SELECT event_id, published_at FROM outbox WHERE event_type LIKE 'course.created%'")
    assert len(events) == len(created)
    handled = {eid for (eid,) in _rows(db, "SELECT event_id FROM inbox WHERE consumer = 'catalog-cache'")}
    for event_id, published_at in events:
        if published_at is not None:
            assert event_id in handled
    left = [eid for eid, published_at in events if published_at is None]

    # The next start delivers what was left, and no event is handled a second time.
    with serving(env, tmp_path / "restart.log") as again:

        def outbox_empty() -> bool:
            return not _rows(db, "SELECT 1 FROM outbox WHERE published_at IS NULL")

        wait_for(outbox_empty, f"the restarted server to deliver the {len(left)} events left in the outbox")
        metrics = httpx.get(f"{again.base}/metrics", timeout=10).text
    handled = {eid for (eid,) in _rows(db, "SELECT event_id FROM inbox WHERE consumer = 'catalog-cache'")}
    assert {eid for eid, _ in events} <= handled
    counted = {
        outcome: metric(metrics, "elearning_consumer_messages_total", consumer="catalog-cache", outcome=outcome) or 0
        for outcome in ("handled", "duplicate")
    }
    # The restarted process handled exactly what was left, and saw nothing it had handled before.
    assert counted == {"handled": len(left), "duplicate": 0}, (counted, len(left))
