"""The ``notifications`` subscription's identity and subscription events on SQLite and PostgreSQL, with a real
SMTP server process: a suppressed address is lifted when its owner confirms it again (and only then), and
each dunning step (payment failed / past due, suspension) tells the subscriber once, however often its
events are delivered."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from elearning_adapters import Platform
from elearning_adapters.events.dispatch import Outcome
from elearning_adapters.sql.notification import notification_deliveries, notification_suppressions, notifications
from elearning_core.identity.events import EmailChanged, EmailVerified
from elearning_core.subscription.events import SubscriptionPastDue, SubscriptionPaymentFailed, SubscriptionSuspended
from tests.integration.test_notifications import (
    T0,
    _never,
    a_course,
    a_user,
    count,
    dispatcher,
    enrolled,
    notifying,
    raw,
    sender,
    store,
)

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

pytest_plugins = ["tests.smtp_server"]
__all__ = ["notifying"]  # the fixture, shared with test_notifications


async def suppressed(platform: Platform, email: str) -> bool:
    return await count(platform, notification_suppressions, notification_suppressions.c.email == email) == 1


async def test_a_suppressed_address_gets_mail_again_once_its_owner_confirms_it(
    notifying: Platform, smtp_server: SmtpServer
) -> None:
    user_id = await a_user(notifying, "sam@example.org")
    await dispatcher(notifying).dispatch(raw(enrolled(await a_course(notifying), user_id)), where="test", sleep=_never)
    (delivery,) = await store(notifying).claim_mail(at=T0, lease=timedelta(minutes=5), limit=10)
    # What the sender records of a hard bounce (the 550 path itself: test_notifications).
    refusal = "recipient refused: 550 5.1.1 mailbox unavailable"
    await store(notifying).mark_failed(delivery["id"], refusal, retry_at=None, suppress="Sam@example.org", at=T0)
    assert await suppressed(notifying, "sam@example.org")
    await dispatcher(notifying).dispatch(raw(enrolled(await a_course(notifying), user_id)), where="test", sleep=_never)
    assert await sender(notifying).send_due() == (0, 0)  # settled as suppressed, not sent

    by_admin = EmailChanged(aggregate_id=user_id, occurred_at=T0, email="sam@example.org", by="admin")
    await dispatcher(notifying).dispatch(raw(by_admin), where="test", sleep=_never)
    assert await suppressed(notifying, "sam@example.org")  # an administrator's word proves no mailbox

    confirmed = EmailVerified(aggregate_id=user_id, occurred_at=T0)
    assert (await dispatcher(notifying).dispatch(raw(confirmed), where="test", sleep=_never)).outcome is Outcome.HANDLED
    assert not await suppressed(notifying, "sam@example.org")

    await dispatcher(notifying).dispatch(raw(enrolled(await a_course(notifying), user_id)), where="test", sleep=_never)
    assert await sender(notifying).send_due() == (1, 0)
    (mail,) = smtp_server.wait_for(1, where=lambda m: "sam@example.org" in m.rcpt_tos)
    assert mail.message["Subject"].startswith("You are enrolled in")
    statuses = await count(notifying, notification_deliveries, notification_deliveries.c.status == "suppressed")
    assert statuses == 1  # the mail of the suppressed time stays unsent: it is not sent late


async def test_a_confirmed_email_change_lifts_the_new_addresss_suppression(notifying: Platform) -> None:
    user_id = await a_user(notifying, "old.tim@example.org")
    await dispatcher(notifying).dispatch(raw(enrolled(await a_course(notifying), user_id)), where="test", sleep=_never)
    (delivery,) = await store(notifying).claim_mail(at=T0, lease=timedelta(minutes=5), limit=10)
    await store(notifying).mark_failed(delivery["id"], "550", retry_at=None, suppress="tim@example.org", at=T0)

    changed = EmailChanged(aggregate_id=user_id, occurred_at=T0, email="tim@example.org", by="user")
    await dispatcher(notifying).dispatch(raw(changed), where="test", sleep=_never)

    assert not await suppressed(notifying, "tim@example.org")


def _step(kind: type, subscription_id: uuid.UUID, user_id: uuid.UUID, **fields: object) -> bytes:
    event = kind(
        aggregate_id=subscription_id,
        occurred_at=T0 + timedelta(days=30),
        user_id=user_id,
        plan_code="pro-monthly",
        status="past_due",
        period_start=T0,
        period_end=T0 + timedelta(days=30),
        amount=1999,
        currency="EUR",
        **fields,
    )
    return raw(event)


async def test_each_dunning_step_tells_the_subscriber_once(notifying: Platform, smtp_server: SmtpServer) -> None:
    user_id = await a_user(notifying, "uma@example.org", locale="fr-FR")
    subscription_id = uuid.uuid4()
    failed = _step(SubscriptionPaymentFailed, subscription_id, user_id, attempt=1, next_retry_at=T0)
    past_due = _step(SubscriptionPastDue, subscription_id, user_id)
    # One step's two events (``Subscription.failed`` records both, at one instant), each delivered twice.
    for message in (failed, past_due, failed, past_due):
        await dispatcher(notifying).dispatch(message, where="test", sleep=_never)
    suspended = _step(SubscriptionSuspended, subscription_id, user_id)
    for _ in range(2):
        await dispatcher(notifying).dispatch(suspended, where="test", sleep=_never)

    async with notifying.database.read() as conn:
        kinds = sorted((await conn.execute(select(notifications.c.type))).scalars())
    assert kinds == ["subscription_past_due", "subscription_suspended"]
    assert await sender(notifying).send_due() == (2, 0)
    mails = smtp_server.wait_for(2, where=lambda m: "uma@example.org" in m.rcpt_tos)
    subjects = sorted(m.message["Subject"] for m in mails)
    assert subjects == ["Votre abonnement est suspendu", "Votre paiement d'abonnement a échoué"]
    body = mails[0].message.get_body(("plain",))
    assert body is not None
    assert "19,99" in body.get_content()
    assert await sender(notifying).send_due() == (0, 0)
