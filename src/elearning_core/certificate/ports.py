"""What the certificate module needs from outside: its stores, a signer, and narrow reads of other modules."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from elearning_core.certificate.model import Award, Credential, SubjectKind
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ports import UnitOfWork

CredentialKey = tuple[datetime, uuid.UUID]
"""The sort key of the credential listings (issued_at, id)."""


class ActiveCredentialExists(Conflict):
    """The store already holds an active credential for this learner and award (a concurrent or redelivered issue)."""


class InvalidCredential(Exception):
    """A VC-JWT that does not verify; the message is one line saying why."""


@dataclass(frozen=True, slots=True)
class Signed:
    jwt: str
    kid: str


class AwardRepository(Protocol):
    async def get(self, kind: SubjectKind, subject_id: uuid.UUID) -> Award | None: ...

    async def save(self, award: Award) -> None: ...


class CredentialRepository(Protocol):
    async def get(self, credential_id: uuid.UUID) -> Credential | None: ...

    async def active_for(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> Credential | None: ...

    async def active_of_user(self, user_id: uuid.UUID) -> list[Credential]: ...

    async def add(self, credential: Credential) -> None:
        """Store a new credential; ``ActiveCredentialExists`` when the learner holds an active one for the award."""
        ...

    async def save(self, credential: Credential) -> None:
        """Store a revocation."""
        ...

    async def next_status_index(self) -> int:
        """A status-list bit no credential holds yet (unique: a clash fails the ``add``)."""
        ...

    async def revoked_positions(self, list_number: int) -> list[int]: ...

    async def replaced_by(self, credential_id: uuid.UUID) -> uuid.UUID | None: ...

    async def of_user(self, user_id: uuid.UUID, after: CredentialKey | None, limit: int) -> list[Credential]:
        """Newest first."""
        ...

    async def of_subject(
        self, kind: SubjectKind, subject_id: uuid.UUID, after: CredentialKey | None, limit: int
    ) -> list[Credential]:
        """Newest first."""
        ...

    def seen(self) -> list[Credential]:
        """The credentials added or saved in this unit of work (their events go to the outbox)."""
        ...


class PendingCompletions(Protocol):
    """Completions of an award not yet available (``available_from`` in the future), kept until it is."""

    async def add(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID, at: datetime) -> None: ...

    async def due(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, SubjectKind, uuid.UUID]]:
        """Pending completions whose award is enabled and available at ``now``."""
        ...

    async def remove(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> None: ...


class CredentialSigner(Protocol):
    """Signs VC-JWTs with the active credential key (creating the first one in the unit of work if none)."""

    async def sign(self, claims: Mapping[str, Any]) -> Signed: ...


class CredentialVerifier(Protocol):
    """Checks a VC-JWT against the platform's credential keys (signature, header and registered claims)."""

    async def verify(self, token: str) -> dict[str, Any]:
        """The payload; ``InvalidCredential`` saying why when it does not verify."""
        ...

    async def jwks(self) -> dict[str, Any]: ...

    async def jwk(self, kid: str) -> dict[str, Any] | None: ...


class LearnerNames(Protocol):
    """A narrow read of the identity module: the name a certificate carries."""

    async def name_of(self, user_id: uuid.UUID) -> str | None:
        """The learner's display name; None when there is no such (or no longer an) account."""
        ...


class SubjectTitles(Protocol):
    """A narrow read of the course and learning path modules: what a certificate is for."""

    async def title_of(self, kind: SubjectKind, subject_id: uuid.UUID) -> str | None:
        """The published title; None when unknown (or, for a path, not readable yet)."""
        ...


class CertificateUnitOfWork(UnitOfWork, Protocol):
    awards: AwardRepository
    credentials: CredentialRepository
    pending_certificates: PendingCompletions
    credential_signer: CredentialSigner
