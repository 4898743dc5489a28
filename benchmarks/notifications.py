#!/usr/bin/env python
"""Benchmark of the notification module: an announcement to a course of 10,000 learners, and the
latency from an event to an open live stream.

One command::

    python benchmarks/notifications.py                   # 10,000 learners, 200 stream samples
    python benchmarks/notifications.py --learners 2000 --samples 100

What it does:

1. creates a throwaway PostgreSQL database (``catalog.py``'s ``throwaway_database``), migrates it, starts
   a real SMTP server process (aiosmtpd, ``tests/smtp_server.py``) and bootstraps the platform on both
   (``ELEARNING_MAIL_BACKEND=smtp``);
2. seeds one course and ``--learners`` users enrolled in it (bulk SQL: the seed is not measured);
3. announcement: runs the discussion handler of ``discussion.announcement_posted.v1`` in one transaction
   (what the consumer does: one fan-out row) and times it; then runs the ``notifications.fan-out`` job's
   work until the fan-out is done (in-app notifications and email deliveries written, batches of 1,000,
   one transaction each) and times it; then runs the ``notifications.send`` job's work until every mail
   was handed to the SMTP server (counted by the server's mailbox) and times it;
4. stream: opens a listener on the live stream (Redis pub/sub when ``--redis`` is given, in-process
   otherwise) and, ``--samples`` times, dispatches an ``enrollment.enrolled.v1`` event through the
   ``notifications`` subscription's dispatcher (inbox row, notice, commit, publish) and times until the
   notification is in the listener's queue: the event -> SSE latency without the HTTP hop;
5. prints the figures and writes them to ``benchmarks/out/notifications-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests' SMTP server helper
sys.path.insert(0, str(HERE))

from sqlalchemy import func, insert, select  # noqa: E402
from tests.e2e.http_helpers import course_spec  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402

from catalog import DEFAULT_ADMIN_URL, log, throwaway_database  # noqa: E402
from elearning_adapters.container import bootstrap  # noqa: E402
from elearning_adapters.container._notification import notification_subscription  # noqa: E402
from elearning_adapters.events.dispatch import EventDispatcher  # noqa: E402
from elearning_adapters.notification.handlers import DiscussionHandlers, NoFollowers  # noqa: E402
from elearning_adapters.notification.stream import LocalStream, RedisStream  # noqa: E402
from elearning_adapters.redis.breaker import redis_client  # noqa: E402
from elearning_adapters.settings import Settings  # noqa: E402
from elearning_adapters.sql.enrollment import enrollments  # noqa: E402
from elearning_adapters.sql.identity import users  # noqa: E402
from elearning_adapters.sql.notification import add_fanout, notification_deliveries, notifications  # noqa: E402
from elearning_core.enrollment.events import Enrolled  # noqa: E402
from elearning_core.shared.envelope import EventEnvelope, to_envelope  # noqa: E402
from elearning_core.shared.ports import SYSTEM  # noqa: E402


async def _seed(platform: Any, learners: int) -> uuid.UUID:
    (course,) = await platform.courses.import_courses(SYSTEM, [course_spec("announced", title="Announced")])
    await seed_learners(platform, course.id, learners)
    return course.id


async def seed_learners(platform: Any, course_id: uuid.UUID, learners: int) -> None:
    """``learners`` active users (a third with locale ``fr``) enrolled in the course, in bulk SQL."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(learners)]
    user_rows = [
        {
            "id": u,
            "email": f"learner{i}@example.org",
            "email_key": f"learner{i}@example.org",
            "display_name": f"Learner {i}",
            "locale": "fr" if i % 3 == 0 else "en",
            "time_zone": "Europe/Paris",
            "status": "active",
            "password_hash": None,
            "email_verified_at": now,
            "bio": "",
            "suspended_reason": "",
            "deleted_at": None,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for i, u in enumerate(ids)
    ]
    enrollment_rows = [
        {
            "id": uuid.uuid4(),
            "course_id": course_id,
            "user_id": u,
            "cohort_id": None,
            "status": "active",
            "source": "staff",
            "enrolled_at": now,
            "completed_at": None,
            "unenrolled_at": None,
        }
        for u in ids
    ]
    async with platform.database.write() as conn:
        for start in range(0, learners, 2_000):
            await conn.execute(insert(users), user_rows[start : start + 2_000])
            await conn.execute(insert(enrollments), enrollment_rows[start : start + 2_000])
        await conn.commit()


async def _count(platform: Any, table: Any) -> int:
    async with platform.database.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def _mailbox_lines(server: SmtpServer) -> int:
    try:
        with server.mailbox.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


async def announcement(platform: Any, server: SmtpServer, course_id: uuid.UUID, learners: int) -> dict[str, Any]:
    handlers = DiscussionHandlers(NoFollowers())
    envelope = EventEnvelope(
        event_id=uuid.uuid4(),
        type="discussion.announcement_posted.v1",
        occurred_at=datetime.now(UTC),
        aggregate_id=uuid.uuid4(),
        producer="bench",
        schema_version=1,
        payload={},
    )
    payload = {"course_id": str(course_id), "title": "Exam moved", "body": "The exam is on Friday now."}
    t0 = time.perf_counter()
    async with platform.database.write() as conn:
        audience = await handlers.announcement_posted(payload, envelope, conn)
        await add_fanout(conn, audience, datetime.now(UTC))  # type: ignore[arg-type]
        await conn.commit()
    handler_ms = (time.perf_counter() - t0) * 1000

    store = platform.container.notification.store()
    templates = platform.container.notification.templates()
    t1 = time.perf_counter()
    written = 0
    for _ in range(100):
        count, _new = await store.expand_fanouts(
            at=datetime.now(UTC),
            batch=1_000,
            max_batches=100,
            render=lambda k, d, loc: templates.in_app(k, d, loc),
            mail_domain="example.org",
        )
        written += count
        if count == 0:
            break
    in_app_s = time.perf_counter() - t1
    assert await _count(platform, notifications) == learners, "every learner has the in-app notification"
    assert await _count(platform, notification_deliveries) == learners

    sender = platform.container.notification.sender()
    before = _mailbox_lines(server)
    t2 = time.perf_counter()
    sent = 0
    deadline = t2 + 600
    while sent < learners and time.perf_counter() < deadline:
        done, failed = await sender.send_due(max_batches=10)
        sent += done
        if failed:
            log(f"{failed} failed tries")
    mail_s = time.perf_counter() - t2
    received = _mailbox_lines(server) - before
    return {
        "learners": learners,
        "handler_ms": round(handler_ms, 1),
        "in_app_written_s": round(in_app_s, 2),
        "in_app_rows": written,
        "mails_handed_s": round(mail_s, 1),
        "mails_per_s": round(sent / mail_s, 1) if mail_s else None,
        "mails_sent": sent,
        "mails_received_by_server": received,
    }


async def stream_latency(platform: Any, samples: int, redis_url: str | None) -> dict[str, Any]:
    stream: LocalStream
    if redis_url:
        stream = RedisStream(redis_client(redis_url, max_connections=4, connect_timeout=2, socket_timeout=5), "bench:")
    else:
        stream = platform.container.notification.stream()
    # The real subscription, publishing to this stream (with --redis: through Redis and back).
    wiring = platform.container.notification
    subscription = notification_subscription(
        wiring.templates(), stream, platform.container.adapters.clock(), NoFollowers(), platform.container.settings()
    )
    dispatcher = EventDispatcher(subscription.name, subscription.handlers, platform.database, max_attempts=1)
    user = await platform.identity.create_user(SYSTEM, _create(f"stream-{uuid.uuid4().hex[:6]}@example.org"))
    user_id = user.id
    latencies = []
    async with stream.listen(user_id) as queue:
        for _ in range(samples):
            event = Enrolled(
                aggregate_id=uuid.uuid4(),
                occurred_at=datetime.now(UTC),
                course_id=uuid.uuid4(),
                user_id=user_id,
                cohort_id=None,
                source="self",
            )
            raw = to_envelope(event, "bench").to_json()
            t0 = time.perf_counter()
            await dispatcher.dispatch_batch([raw], where=["bench"], sleep=_never)
            await asyncio.wait_for(queue.get(), timeout=10)
            latencies.append((time.perf_counter() - t0) * 1000)
    if redis_url:
        await stream.aclose()
    latencies.sort()
    return {
        "transport": "redis" if redis_url else "in-process",
        "samples": samples,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "max_ms": round(latencies[-1], 1),
    }


async def _never(_seconds: float) -> bool:
    return True


def _create(email: str) -> Any:
    from elearning_core.identity.commands import CreateUser

    return CreateUser(email=email, display_name="Stream")


async def run(args: argparse.Namespace, database_url: str, server: SmtpServer, data_dir: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        mail_backend="smtp",
        smtp_host=server.host,
        smtp_port=server.port,
        scheduler="off",
    )
    platform = await bootstrap(settings)
    try:
        log(f"seeding {args.learners} learners")
        course_id = await _seed(platform, args.learners)
        log("announcement")
        result = {"announcement": await announcement(platform, server, course_id, args.learners)}
        log(json.dumps(result["announcement"]))
        result["stream"] = [await stream_latency(platform, args.samples, None)]
        if args.redis:
            result["stream"].append(await stream_latency(platform, args.samples, args.redis))
        log(json.dumps(result["stream"]))
        return result
    finally:
        await platform.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--redis", default=None, help="a Redis URL: also measure the stream through Redis")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        throwaway_database(args.admin_url) as url,
        SmtpServer(Path(tmp) / "smtp") as server,
    ):
        result = asyncio.run(run(args, url, server, Path(tmp) / "data"))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"notifications-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
