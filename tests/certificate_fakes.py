"""In-memory doubles of the certificate ports, held to the same contract as the SQL adapters
(tests/contract/test_certificate_repositories.py)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from elearning_core.certificate.model import STATUS_LIST_SIZE, Award, Credential, SubjectKind
from elearning_core.certificate.ports import (
    ActiveCredentialExists,
    CertificateUnitOfWork,
    CredentialKey,
    Signed,
)
from elearning_core.progress.events import CourseCompleted, progress_key
from elearning_core.shared.events import DomainEvent

Pending = tuple[uuid.UUID, SubjectKind, uuid.UUID]


@dataclass
class CertificateStore:
    awards: dict[tuple[SubjectKind, uuid.UUID], Award] = field(default_factory=dict)
    credentials: dict[uuid.UUID, Credential] = field(default_factory=dict)
    pending: dict[Pending, datetime] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    signed: int = 0


class InMemoryAwards:
    def __init__(self, awards: dict[tuple[SubjectKind, uuid.UUID], Award]) -> None:
        self._awards = awards

    async def get(self, kind: SubjectKind, subject_id: uuid.UUID) -> Award | None:
        award = self._awards.get((kind, subject_id))
        return None if award is None else copy.copy(award)

    async def save(self, award: Award) -> None:
        self._awards[(award.kind, award.subject_id)] = copy.copy(award)


def _copy(c: Credential) -> Credential:
    return Credential(**{k: getattr(c, k) for k in Credential.__dataclass_fields__ if k != "_events"})


class InMemoryCredentials:
    def __init__(self, rows: dict[uuid.UUID, Credential]) -> None:
        self._rows = rows
        self._seen: list[Credential] = []

    def seen(self) -> list[Credential]:
        return list(self._seen)

    def _see(self, credential: Credential) -> None:
        if all(c is not credential for c in self._seen):  # added, then revoked: its events once
            self._seen.append(credential)

    async def get(self, credential_id: uuid.UUID) -> Credential | None:
        row = self._rows.get(credential_id)
        return None if row is None else _copy(row)

    async def active_for(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> Credential | None:
        for c in self._rows.values():
            if (c.user_id, c.kind, c.subject_id) == (user_id, kind, subject_id) and c.active:
                return _copy(c)
        return None

    async def active_of_user(self, user_id: uuid.UUID) -> list[Credential]:
        found = [c for c in self._rows.values() if c.user_id == user_id and c.active]
        return [_copy(c) for c in sorted(found, key=lambda c: (c.issued_at, c.id))]

    async def add(self, credential: Credential) -> None:
        if await self.active_for(credential.user_id, credential.kind, credential.subject_id) is not None:
            raise ActiveCredentialExists("the learner already holds an active certificate for this award")
        self._rows[credential.id] = _copy(credential)
        self._see(credential)

    async def save(self, credential: Credential) -> None:
        self._rows[credential.id] = _copy(credential)
        self._see(credential)

    async def next_status_index(self) -> int:
        return max((c.status_index for c in self._rows.values()), default=-1) + 1

    async def revoked_positions(self, list_number: int) -> list[int]:
        low = (list_number - 1) * STATUS_LIST_SIZE
        return sorted(
            c.status_index - low
            for c in self._rows.values()
            if low <= c.status_index < low + STATUS_LIST_SIZE and not c.active
        )

    async def replaced_by(self, credential_id: uuid.UUID) -> uuid.UUID | None:
        return next((c.id for c in self._rows.values() if c.replaces == credential_id), None)

    async def of_user(self, user_id: uuid.UUID, after: CredentialKey | None, limit: int) -> list[Credential]:
        return self._newest_first([c for c in self._rows.values() if c.user_id == user_id], after, limit)

    async def of_subject(
        self, kind: SubjectKind, subject_id: uuid.UUID, after: CredentialKey | None, limit: int
    ) -> list[Credential]:
        rows = [c for c in self._rows.values() if (c.kind, c.subject_id) == (kind, subject_id)]
        return self._newest_first(rows, after, limit)

    def _newest_first(self, rows: list[Credential], after: CredentialKey | None, limit: int) -> list[Credential]:
        ordered = sorted(rows, key=lambda c: (c.issued_at, c.id), reverse=True)
        if after is not None:
            ordered = [c for c in ordered if (c.issued_at, c.id) < after]
        return [_copy(c) for c in ordered[:limit]]


class InMemoryPending:
    def __init__(self, store: CertificateStore) -> None:
        self._store = store

    async def add(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID, at: datetime) -> None:
        self._store.pending.setdefault((user_id, kind, subject_id), at)

    async def due(self, now: datetime, limit: int) -> list[Pending]:
        due = []
        for key, _at in sorted(self._store.pending.items(), key=lambda item: item[1]):
            award = self._store.awards.get((key[1], key[2]))
            if award is not None and award.enabled and (award.available_from is None or award.available_from <= now):
                due.append(key)
        return due[:limit]

    async def remove(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> None:
        self._store.pending.pop((user_id, kind, subject_id), None)


class FakeSigner:
    """Not a signature: a readable stand-in the unit tests can inspect (the SQL suite signs for real)."""

    def __init__(self, store: CertificateStore) -> None:
        self._store = store

    async def sign(self, claims: Mapping[str, Any]) -> Signed:
        self._store.signed += 1
        return Signed(jwt=f"fake.{claims['jti']}.sig", kid="fake-key")


class FakeCertificateUnitOfWork(CertificateUnitOfWork):
    """Works on copies and writes them back on commit, so leaving without commit changes nothing."""

    def __init__(self, store: CertificateStore) -> None:
        self._store = store
        self.committed = False

    async def __aenter__(self) -> Self:
        self._working = copy.deepcopy(
            CertificateStore(self._store.awards, self._store.credentials, self._store.pending)
        )
        self.awards = InMemoryAwards(self._working.awards)
        self.credentials = InMemoryCredentials(self._working.credentials)
        self.pending_certificates = InMemoryPending(self._working)
        self.credential_signer = FakeSigner(self._store)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._store.awards.clear()
        self._store.awards.update(self._working.awards)
        self._store.credentials.clear()
        self._store.credentials.update(self._working.credentials)
        self._store.pending.clear()
        self._store.pending.update(self._working.pending)
        self._store.outbox.extend(e for c in self.credentials.seen() for e in c.pull_events())
        self.committed = True

    async def rollback(self) -> None:
        return None


@dataclass
class FakeNames:
    names: dict[uuid.UUID, str] = field(default_factory=dict)

    async def name_of(self, user_id: uuid.UUID) -> str | None:
        return self.names.get(user_id)


@dataclass
class FakeTitles:
    titles: dict[tuple[SubjectKind, uuid.UUID], str] = field(default_factory=dict)

    async def title_of(self, kind: SubjectKind, subject_id: uuid.UUID) -> str | None:
        return self.titles.get((kind, subject_id))


def course_completed(course_id: uuid.UUID, user_id: uuid.UUID) -> CourseCompleted:
    """The progress module's completion event (by its rules), as the certificate tests feed it."""
    return CourseCompleted(
        occurred_at=datetime.now(UTC),
        aggregate_id=progress_key(course_id, user_id),
        course_id=course_id,
        user_id=user_id,
        version_number=1,
        source="rules",
    )
