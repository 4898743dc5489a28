"""The certificate ports' contract (awards, credentials with their one-active rule and status bits,
pending completions, the signer and the outbox), run on the fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from elearning_adapters.sql.certificate import SqlCredentialKeys, credential_keys
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.certificate.model import STATUS_LIST_SIZE, Award, Credential, SubjectKind
from elearning_core.certificate.ports import ActiveCredentialExists, CertificateUnitOfWork
from tests.certificate_fakes import CertificateStore, FakeCertificateUnitOfWork
from tests.contract.conftest import outbox_reader, sql_database
from tests.fakes import T0

COURSE = SubjectKind.COURSE


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], CertificateUnitOfWork]
    outbox_types: Callable[[], Awaitable[list[str]]]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = CertificateStore()

        async def fake_outbox() -> list[str]:
            return [e.type for e in store.outbox]

        yield Backend("fake", lambda: FakeCertificateUnitOfWork(store), fake_outbox)
        return
    db = await sql_database(request, tmp_path)
    if request.param == "postgres":
        # The shared database keeps credential keys across suites (a running app holds them, like signing
        # keys); one sealed under another suite's secret is not this suite's, whatever ran before it.
        async with db.write() as conn:
            await conn.execute(delete(credential_keys))
            await conn.commit()
    keys = SqlCredentialKeys(db, b"contract-test-secret-0123456789", "https://learn.example")
    try:
        yield Backend(request.param, lambda: SqlUnitOfWork(db, credential_keys=keys), outbox_reader(db))
    finally:
        await db.dispose()


def credential(user_id: uuid.UUID, subject_id: uuid.UUID, index: int, *, minutes: int = 0) -> Credential:
    return Credential(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=COURSE,
        subject_id=subject_id,
        learner_name="Ada",
        subject_title="Intro",
        status_index=index,
        issued_at=T0 + timedelta(minutes=minutes),
        valid_until=None,
        kid="k",
        jwt="a.b.c",
    )


async def test_an_award_is_saved_replaced_and_read_back(backend: Backend) -> None:
    subject = uuid.uuid4()
    async with backend.uow() as uow:
        assert await uow.awards.get(COURSE, subject) is None
        await uow.awards.save(Award(COURSE, subject, enabled=True, valid_days=30, updated_at=T0))
        await uow.commit()
    changed = Award(COURSE, subject, enabled=True, available_from=T0, template="<p>$title</p>", updated_at=T0)
    async with backend.uow() as uow:
        await uow.awards.save(changed)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.awards.get(COURSE, subject) == changed
        assert await uow.awards.get(SubjectKind.PATH, subject) is None


async def test_one_active_credential_per_learner_and_award(backend: Backend) -> None:
    user, subject = uuid.uuid4(), uuid.uuid4()
    first = credential(user, subject, 0)
    async with backend.uow() as uow:
        await uow.credentials.add(first)
        with pytest.raises(ActiveCredentialExists):
            await uow.credentials.add(credential(user, subject, 1))
        await uow.commit()
    async with backend.uow() as uow:
        stored = await uow.credentials.active_for(user, COURSE, subject)
        assert stored is not None
        assert stored.id == first.id
        # Revoked, the award takes a new one (the reissue), linked to the old.
        assert stored.revoke(T0, "name changed", None)
        await uow.credentials.save(stored)
        second = credential(user, subject, await uow.credentials.next_status_index(), minutes=1)
        second.replaces = first.id
        await uow.credentials.add(second)
        await uow.commit()
    async with backend.uow() as uow:
        assert [c.id for c in await uow.credentials.active_of_user(user)] == [second.id]
        assert await uow.credentials.replaced_by(first.id) == second.id
        assert await uow.credentials.replaced_by(second.id) is None
        old = await uow.credentials.get(first.id)
        assert old is not None
        assert (old.revoked_at, old.revoked_reason) == (T0, "name changed")


async def test_status_bits_are_unique_and_revoked_ones_are_listed_per_list(backend: Backend) -> None:
    subject = uuid.uuid4()
    async with backend.uow() as uow:
        assert await uow.credentials.next_status_index() == 0
        rows = [credential(uuid.uuid4(), subject, i) for i in (0, 1, STATUS_LIST_SIZE + 5)]
        for row in rows:
            await uow.credentials.add(row)
        assert await uow.credentials.next_status_index() == STATUS_LIST_SIZE + 6
        for row in rows[1:]:
            row.revoke(T0, "x", None)
            await uow.credentials.save(row)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.credentials.revoked_positions(1) == [1]
        assert await uow.credentials.revoked_positions(2) == [5]
        assert await uow.credentials.revoked_positions(3) == []


async def test_lists_are_newest_first_and_resume_after_a_key(backend: Backend) -> None:
    user, subject = uuid.uuid4(), uuid.uuid4()
    rows = [credential(user, uuid.uuid4(), i, minutes=i % 2) for i in range(4)]
    rows.append(credential(uuid.uuid4(), subject, 4))
    async with backend.uow() as uow:
        for row in rows:
            await uow.credentials.add(row)
        await uow.commit()
    expected = sorted(rows[:4], key=lambda c: (c.issued_at, c.id), reverse=True)
    async with backend.uow() as uow:
        first = await uow.credentials.of_user(user, None, 2)
        rest = await uow.credentials.of_user(user, (first[-1].issued_at, first[-1].id), 10)
        assert [c.id for c in first + rest] == [c.id for c in expected]
        assert [c.id for c in await uow.credentials.of_subject(COURSE, subject, None, 10)] == [rows[4].id]


async def test_pending_completions_are_due_once_their_award_is_available(backend: Backend) -> None:
    soon, later, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        await uow.awards.save(Award(COURSE, soon, enabled=True, available_from=T0 + timedelta(days=1), updated_at=T0))
        await uow.awards.save(Award(COURSE, later, enabled=True, available_from=T0 + timedelta(days=9), updated_at=T0))
        await uow.pending_certificates.add(user, COURSE, soon, T0)
        await uow.pending_certificates.add(user, COURSE, soon, T0)  # again: still one
        await uow.pending_certificates.add(user, COURSE, later, T0)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_certificates.due(T0, 10) == []
        assert await uow.pending_certificates.due(T0 + timedelta(days=2), 10) == [(user, COURSE, soon)]
        await uow.pending_certificates.remove(user, COURSE, soon)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_certificates.due(T0 + timedelta(days=10), 10) == [(user, COURSE, later)]


async def test_the_events_reach_the_outbox_on_commit_only(backend: Backend) -> None:
    user, subject = uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        row = credential(user, subject, 0)
        signed = await uow.credential_signer.sign({"jti": "urn:x", "iss": "https://learn.example"})
        assert signed.jwt.count(".") == 2
        assert signed.kid
        row.issued()
        await uow.credentials.add(row)  # not committed: nothing
    assert await backend.outbox_types() == []
    async with backend.uow() as uow:
        assert await uow.credentials.get(row.id) is None
        row = credential(user, subject, 0)
        row.issued()
        await uow.credentials.add(row)
        await uow.commit()
    assert await backend.outbox_types() == ["certificate.issued.v1"]
