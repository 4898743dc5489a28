"""The live stream of in-app notifications: who is listening in this process, and how a notification
written in any process reaches them.

``LocalStream`` is the embedded default: a bounded queue per open stream, fed by ``publish`` in this
process. ``RedisStream`` publishes to a Redis channel per user and keeps ONE pattern subscription per
process that feeds the local queues, so a notification written by a worker (or another server
process) reaches a browser connected anywhere. A listener too slow to keep up loses the oldest
notifications of its queue, never blocks the writer: the inbox still has them all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

from redis.asyncio import Redis

log = logging.getLogger("elearning.notifications.stream")
QUEUE_SIZE: Final = 100


class LocalStream:
    def __init__(self) -> None:
        self._listeners: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any]]]] = {}

    @property
    def listeners(self) -> int:
        return sum(len(q) for q in self._listeners.values())

    def deliver(self, user_id: uuid.UUID, item: dict[str, Any]) -> None:
        for queue in self._listeners.get(user_id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    async def publish(self, user_id: uuid.UUID, item: dict[str, Any]) -> None:
        self.deliver(user_id, item)

    @contextlib.asynccontextmanager
    async def listen(self, user_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        await self.start()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._listeners.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._listeners.get(user_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._listeners[user_id]

    async def start(self) -> None:
        """Nothing to start in-process."""

    async def aclose(self) -> None:
        self._listeners.clear()


class RedisStream(LocalStream):
    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self._redis = redis
        self._channel = f"{prefix}notifications:"
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, user_id: uuid.UUID, item: dict[str, Any]) -> None:
        try:
            await self._redis.publish(f"{self._channel}{user_id}", json.dumps(item, default=str))
        except Exception as exc:  # the inbox has it; a live push is best effort
            log.warning("could not publish a notification to Redis: %s", type(exc).__name__)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name="notification-stream")
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def _run(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self._channel}*")
                    self._ready.set()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is None or message.get("type") != "pmessage":
                            continue
                        channel = message["channel"]
                        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                        with contextlib.suppress(ValueError):
                            self.deliver(uuid.UUID(channel.rpartition(":")[2]), json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification stream lost Redis (%s); subscribing again in 1 s", type(exc).__name__)
                self._ready.set()  # listeners still get this process's own notifications meanwhile
                await asyncio.sleep(1)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await super().aclose()


def stream_item(notification: Any) -> dict[str, Any]:
    return {
        "id": str(notification.id),
        "type": str(notification.type),
        "title": notification.title,
        "body": notification.body,
        "link": notification.link,
        "created_at": notification.created_at.isoformat(),
    }


class StreamTickets:
    """Short-lived tickets for ``EventSource``, which cannot send an Authorization header:
    ``<user>.<expiry>.<mac>``, good for ``ttl`` seconds from issue (reusable meanwhile: a reconnect)."""

    def __init__(self, secret: bytes, ttl: float = 60) -> None:
        self._key = hashlib.sha256(b"elearning notification stream ticket\x00" + secret).digest()
        self.ttl = ttl

    def _mac(self, body: str) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:18]).decode()

    def issue(self, user_id: uuid.UUID, now: float | None = None) -> str:
        body = f"{user_id}.{int((now if now is not None else time.time()) + self.ttl)}"
        return f"{body}.{self._mac(body)}"

    def verify(self, ticket: str, now: float | None = None) -> uuid.UUID | None:
        body, _, mac = ticket.rpartition(".")
        user, _, expiry = body.partition(".")
        if not body or not hmac.compare_digest(self._mac(body), mac) or not expiry.isdigit():
            return None
        if int(expiry) < (now if now is not None else time.time()):
            return None
        try:
            return uuid.UUID(user)
        except ValueError:
            return None
