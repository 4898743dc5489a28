"""Certificate events: the ``elearning.certificate`` topic's contract (the aggregate is the credential)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from elearning_core.shared.events import DomainEvent


class CertificateIssued(DomainEvent):
    type: ClassVar[str] = "certificate.issued.v1"
    user_id: uuid.UUID
    subject_kind: str  # "course" or "path"
    subject_id: uuid.UUID
    replaces: uuid.UUID | None = None


class CertificateRevoked(DomainEvent):
    type: ClassVar[str] = "certificate.revoked.v1"
    user_id: uuid.UUID
    subject_kind: str
    subject_id: uuid.UUID
    reason: str
    by: uuid.UUID | None = None
