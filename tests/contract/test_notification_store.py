"""The notification store's ports (``NotificationInbox``, ``PreferenceStore``, ``DeliveryRecords``) on the
in-memory double, SQLite and PostgreSQL: one record per recipient, event and channel, the inbox's order,
read marks and unread counts, preferences that upsert, and the suppression list, so the double the unit
tests use stays honest."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.sql.notification import SqlNotificationStore
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.identity.model import User
from elearning_core.notification.model import Cadence, Channel, DeliveryStatus, Notice, NotificationType
from tests.contract.conftest import sql_database
from tests.fakes import T0
from tests.notification_fakes import InMemoryNotificationStore, Person

T = NotificationType
Store = SqlNotificationStore | InMemoryNotificationStore


@dataclass
class Backend:
    store: Store
    add_user: Callable[[], Awaitable[uuid.UUID]]


def render(kind: NotificationType, data: dict[str, Any], locale: str) -> tuple[str, str]:
    return f"{kind.value} ({locale})", str(data.get("n", ""))


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        fake = InMemoryNotificationStore()

        async def fake_user() -> uuid.UUID:
            fake.people[user_id := uuid.uuid4()] = Person(f"{uuid.uuid4().hex[:10]}@example.org")
            return user_id

        yield Backend(fake, fake_user)
        return
    db = await sql_database(request, tmp_path)

    async def sql_user() -> uuid.UUID:
        user = User.register(email=f"{uuid.uuid4().hex[:10]}@example.org", display_name="U", at=T0, password_hash=None)
        async with SqlUnitOfWork(db) as uow:
            uow.users.add(user)
            await uow.commit()
        return user.id

    try:
        yield Backend(SqlNotificationStore(db, "example.org"), sql_user)
    finally:
        await db.dispose()


async def test_one_record_per_recipient_event_and_channel(backend: Backend) -> None:
    store = backend.store
    ada, bo = await backend.add_user(), await backend.add_user()
    event = uuid.uuid4()
    notices = [Notice(T.ANNOUNCEMENT, ada, event, {"n": 1}), Notice(T.ANNOUNCEMENT, bo, event, {"n": 1})]

    first = await store.record(notices, at=T0, render=render)
    again = await store.record(notices, at=T0 + timedelta(seconds=1), render=render)
    other_type = await store.record([Notice(T.DISCUSSION_MENTION, ada, event)], at=T0, render=render)
    nobody = await store.record([Notice(T.ANNOUNCEMENT, uuid.uuid4(), event)], at=T0, render=render)

    assert (len(first.in_app), first.emails) == (2, 2)
    assert (again.in_app, again.emails) == ([], 0)
    assert (len(other_type.in_app), other_type.emails) == (1, 1)
    assert (nobody.in_app, nobody.emails) == ([], 0)
    assert {(n.user_id, n.title, n.body) for n in first.in_app} == {
        (ada, "announcement (en)", "1"),
        (bo, "announcement (en)", "1"),
    }
    deliveries = await store.deliveries_of(ada)
    assert sorted((d.event_id, d.type, d.channel, d.status) for d in deliveries) == [
        (event, T.ANNOUNCEMENT, Channel.EMAIL, DeliveryStatus.PENDING),
        (event, T.DISCUSSION_MENTION, Channel.EMAIL, DeliveryStatus.PENDING),
    ]
    assert await store.unread_count(ada) == 2


async def test_preferences_decide_each_channels_record(backend: Backend) -> None:
    store = backend.store
    user = await backend.add_user()
    await store.choose(
        user,
        {
            (T.ANNOUNCEMENT, Channel.IN_APP): Cadence.OFF,
            (T.GRADE_RELEASED, Channel.EMAIL): Cadence.OFF,
            (T.CERTIFICATE_ISSUED, Channel.EMAIL): Cadence.WEEKLY,
        },
    )
    kinds = (T.ANNOUNCEMENT, T.GRADE_RELEASED, T.CERTIFICATE_ISSUED, T.DISCUSSION_REPLY)
    recorded = await store.record([Notice(k, user, uuid.uuid4()) for k in kinds], at=T0, render=render)

    assert sorted(n.type for n in recorded.in_app) == sorted(
        [T.GRADE_RELEASED, T.CERTIFICATE_ISSUED, T.DISCUSSION_REPLY]
    )
    assert recorded.emails == 4  # every email is recorded, an "off" one as suppressed (the delivery log says why)
    statuses = {d.type: (d.status, d.reason) for d in await store.deliveries_of(user)}
    assert statuses == {
        T.ANNOUNCEMENT: (DeliveryStatus.PENDING, None),
        T.GRADE_RELEASED: (DeliveryStatus.SUPPRESSED, "turned off in the recipient's preferences"),
        T.CERTIFICATE_ISSUED: (DeliveryStatus.DIGEST, None),
        T.DISCUSSION_REPLY: (DeliveryStatus.DIGEST, None),  # daily by default
    }


async def test_preferences_upsert_and_keep_what_is_not_named(backend: Backend) -> None:
    store = backend.store
    user = await backend.add_user()
    assert await store.chosen(user) == {}
    await store.choose(
        user, {(T.ANNOUNCEMENT, Channel.EMAIL): Cadence.DAILY, (T.DUE_SOON, Channel.IN_APP): Cadence.OFF}
    )
    await store.choose(user, {(T.ANNOUNCEMENT, Channel.EMAIL): Cadence.WEEKLY})
    assert await store.chosen(user) == {
        (T.ANNOUNCEMENT, Channel.EMAIL): Cadence.WEEKLY,
        (T.DUE_SOON, Channel.IN_APP): Cadence.OFF,
    }
    assert await store.chosen(await backend.add_user()) == {}


async def test_the_inbox_pages_newest_first_with_read_marks_and_counts(backend: Backend) -> None:
    store = backend.store
    user, other = await backend.add_user(), await backend.add_user()
    for minutes in range(4):
        notice = Notice(T.ANNOUNCEMENT, user, uuid.uuid4(), {"n": minutes})
        await store.record([notice], at=T0 + timedelta(minutes=minutes), render=render)
    await store.record([Notice(T.ANNOUNCEMENT, other, uuid.uuid4())], at=T0, render=render)

    page = await store.of_user(user, None, 3)
    assert [n.body for n in page] == ["3", "2", "1"]
    rest = await store.of_user(user, (page[-1].created_at, page[-1].id), 3)
    assert [n.body for n in rest] == ["0"]
    assert await store.unread_count(user) == 4

    assert await store.mark_read(user, page[0].id, T0 + timedelta(hours=1))
    assert await store.mark_read(user, page[0].id, T0 + timedelta(hours=2))  # again: still the user's, no change
    (read,) = [n for n in await store.of_user(user, None, 10) if n.id == page[0].id]
    assert read.read_at == T0 + timedelta(hours=1)
    assert not await store.mark_read(other, page[1].id, T0)  # someone else's
    assert not await store.mark_read(user, uuid.uuid4(), T0)
    assert await store.unread_count(user) == 3
    assert [n.body for n in await store.of_user(user, None, 10, unread_only=True)] == ["2", "1", "0"]

    assert await store.mark_all_read(user, T0 + timedelta(hours=3)) == 3
    assert await store.mark_all_read(user, T0 + timedelta(hours=3)) == 0
    assert (await store.unread_count(user), await store.unread_count(other)) == (0, 1)


async def test_the_suppression_list_ignores_case_and_lifts(backend: Backend) -> None:
    store = backend.store
    await store.suppress("Ann@Example.org", "recipient refused: 550", T0)
    await store.suppress("ann@example.org", "again", T0)  # already there: nothing changes
    assert await store.is_suppressed("ANN@example.org")
    assert not await store.is_suppressed("bo@example.org")
    assert await store.unsuppress("ann@EXAMPLE.org")
    assert not await store.unsuppress("ann@example.org")
    assert not await store.is_suppressed("ann@example.org")
