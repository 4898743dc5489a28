"""Sends the email deliveries: immediate ones as they fall due, digests when their period ends.

At least once, with a stable ``Message-ID``: a delivery is claimed (a lease and an attempt counted,
committed), handed to the mail server, then recorded sent. A sender that dies after the handoff and
before the record leaves the lease to run out, and the mail goes again with the same Message-ID. A
server that is down or answers 4xx is retried with doubling backoff (``retry_base`` x 2^tries, at most
an hour) until ``max_attempts``; a 5xx refusal of the recipient is permanent: the delivery fails and
the address goes on the suppression list until the user confirms it again.

Every mail carries RFC 8058's one-click unsubscribe: ``List-Unsubscribe`` with a signed link per
(user, types) and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``; the ``POST`` endpoint turns
the email of the type the mail is about (every type a digest gathers) off without signing in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elearning_adapters.notification.templates import NotificationTemplates, RenderedMail
from elearning_adapters.sql.notification import SqlNotificationStore
from elearning_core.identity.ports import Mailer, MailError, MailMessage
from elearning_core.notification.model import NotificationType
from elearning_core.shared.clock import Clock

_PERMANENT = re.compile(r"recipient refused: 5\d\d")
UNSUBSCRIBE_PATH = "/api/v1/notifications/unsubscribe"


class UnsubscribeLinks:
    """Signed one-click unsubscribe tokens: ``<user>.<type>[-<type>...].<mac>``, valid until the secret changes.

    A mail of one notification names its type; a digest names every type it gathers, so its one link turns
    off all that the mail brought (the types in a stable order, so a digest's link is the same each time)."""

    SEPARATOR = "-"

    def __init__(self, secret: bytes, base_url: str) -> None:
        self._key = hashlib.sha256(b"elearning notification unsubscribe\x00" + secret).digest()
        self._base = base_url.rstrip("/")

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, user_id: uuid.UUID, *kinds: NotificationType) -> str:
        if not kinds:
            raise ValueError("an unsubscribe link names at least one type")
        body = f"{user_id}.{self.SEPARATOR.join(sorted({k.value for k in kinds}))}"
        return f"{body}.{self._mac(body)}"

    def url(self, user_id: uuid.UUID, *kinds: NotificationType) -> str:
        return f"{self._base}{UNSUBSCRIBE_PATH}?token={self.token(user_id, *kinds)}"

    def verify(self, token: str) -> tuple[uuid.UUID, tuple[NotificationType, ...]] | None:
        """The user and the types the token turns off; None when it was not signed here."""
        user, _, rest = token.partition(".")
        kinds, _, mac = rest.rpartition(".")
        if not hmac.compare_digest(self._mac(f"{user}.{kinds}"), mac):
            return None
        try:
            return uuid.UUID(user), tuple(NotificationType(k) for k in kinds.split(self.SEPARATOR))
        except ValueError:
            return None


@dataclass(frozen=True)
class SenderConfig:
    mail_domain: str
    max_attempts: int = 8
    retry_base: timedelta = timedelta(seconds=30)
    lease: timedelta = timedelta(minutes=5)
    batch: int = 200
    concurrency: int = 2
    """Mails under way at once. Each builds its message and talks SMTP in a worker thread, and threads doing
    Python work hold the GIL: with 8 of them, the event loop of the same process (its requests and
    consumers) waited for the GIL at every step, and another consumer's event -> projection p99 went from
    0.13 s to 2-4 s during a 10,000-mail fan-out; with 2 it stays at 0.2 s, and the mails still go at about
    80/s (benchmarks/fanout_latency.py, RESULTS.md)."""


class NotificationSender:
    def __init__(
        self,
        store: SqlNotificationStore,
        mailer: Callable[[], Mailer],
        templates: NotificationTemplates,
        links: UnsubscribeLinks,
        clock: Clock,
        config: SenderConfig,
    ) -> None:
        self._store, self._mailer, self._templates = store, mailer, templates
        self._links, self._clock, self.config = links, clock, config

    def _message(self, to: str, mail: RenderedMail, msgid: str, unsubscribe: str) -> MailMessage:
        return MailMessage(
            to=to,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            message_id=msgid,
            headers=(
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ),
        )

    def _retry_at(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.config.max_attempts:
            return None
        delay: timedelta = min(self.config.retry_base * (2 ** max(attempts - 1, 0)), timedelta(hours=1))
        return now + delay

    async def _send(self, to: str, message: MailMessage) -> str | None:
        """None when accepted; the one-line reason otherwise."""
        try:
            await self._mailer().send(message)
        except MailError as exc:
            return str(exc) or type(exc).__name__
        return None

    async def send_due(self, *, max_batches: int = 50) -> tuple[int, int]:
        """Send every immediate delivery due now, ``batch`` claimed at a time; (sent, failed tries).

        At most ``concurrency`` mails are under way at once, from rendering to their record, so a fan-out's
        thousands of mails hold at most that many database connections and share the event loop with the
        requests and consumers of the same process instead of queueing ahead of them; accepted mails are
        recorded sent ``concurrency`` at a time, one transaction per group (a sender that dies before the
        record sends those again, with the same Message-ID)."""
        sent = failed = 0
        gate = asyncio.Semaphore(self.config.concurrency)
        for _ in range(max_batches):
            now = self._clock.now()
            rows = await self._store.claim_mail(at=now, lease=self.config.lease, limit=self.config.batch)
            if not rows:
                break
            accepted: list[uuid.UUID] = []
            results = await asyncio.gather(*(self._send_one(row, gate, accepted) for row in rows))
            await self._record_sent(accepted)
            sent += sum(results)
            failed += len(results) - sum(results)
        return sent, failed

    async def _record_sent(self, accepted: list[uuid.UUID]) -> None:
        ids = accepted[:]
        accepted.clear()
        if ids:
            await self._store.mark_sent(ids, self._clock.now())

    async def _send_one(self, row: dict[str, Any], gate: asyncio.Semaphore, accepted: list[uuid.UUID]) -> bool:
        """Render, hand over and record one claimed delivery, holding one of the gate's places throughout."""
        async with gate:
            kind = NotificationType(row["type"])
            unsubscribe = self._links.url(row["user_id"], kind)
            mail = self._templates.mail(
                kind,
                row["data"],
                row["link"],
                locale=row["locale"],
                time_zone=row["time_zone"],
                unsubscribe=unsubscribe,
            )
            reason = await self._send(row["email"], self._message(row["email"], mail, row["message_id"], unsubscribe))
            if reason is None:
                accepted.append(row["id"])
                if len(accepted) >= self.config.concurrency:
                    await self._record_sent(accepted)
                return True
            permanent = _PERMANENT.search(reason) is not None
            await self._store.mark_failed(
                row["id"],
                reason,
                retry_at=None if permanent else self._retry_at(row["attempts"] + 1, self._clock.now()),
                suppress=row["email"] if permanent else None,
                at=self._clock.now(),
            )
            return False

    async def send_digests(self, *, max_users: int = 500) -> int:
        """One mail per user whose digest period ended, with every delivery it gathered; their
        Message-ID is the first delivery's, so a digest sent again is the same message."""
        rows = await self._store.due_digests(self._clock.now(), max_users)
        by_user: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for row in rows:
            by_user.setdefault(row["user_id"], []).append(row)
        mails = 0
        for user_id, items in by_user.items():
            first = items[0]
            if first["email"] is None:
                continue
            shown = []
            for item in items:
                title, body = self._templates.in_app(
                    NotificationType(item["type"]), item["data"], first["locale"], first["time_zone"]
                )
                shown.append({"title": title, "body": body, "link": item["link"]})
            unsubscribe = self._links.url(user_id, *(NotificationType(i["type"]) for i in items))
            mail = self._templates.digest(shown, locale=first["locale"], unsubscribe=unsubscribe)
            reason = await self._send(
                first["email"], self._message(first["email"], mail, first["message_id"], unsubscribe)
            )
            if reason is None:
                await self._store.mark_sent([i["id"] for i in items], self._clock.now())
                mails += 1
        return mails
