"""Awards, credentials, the Open Badges 3.0 credential document and the W3C Bitstring Status List.

An *award* says whether a course or a learning path awards a certificate, from when
(``available_from``), for how long (``valid_days``) and with which printable template.
A *credential* is one learner's certificate for one award: an Open Badges 3.0
``OpenBadgeCredential`` (W3C Verifiable Credentials data model 2.0), signed as a VC-JWT by
the adapters. A learner holds at most one active credential per award (the store enforces
it with a unique index); a reissue (the learner's name changed) revokes the old one and
links the new one to it (``replaces``).

Revocation is published through a W3C Bitstring Status List: every credential owns one
bit (``status_index``), in list ``status_index // STATUS_LIST_SIZE + 1``; the list's
``encodedList`` is the GZIP-compressed bitstring, base64url without padding, with the
multibase ``u`` prefix, and a set bit means revoked.
"""

from __future__ import annotations

import base64
import enum
import gzip
import html
import io
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elearning_core.certificate.events import CertificateIssued, CertificateRevoked
from elearning_core.shared.events import DomainEvent, RecordsEvents

STATUS_LIST_SIZE = 131_072
"""Bits per status list: the specification's minimum (16 KiB), so one credential hides among many."""

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"


class SubjectKind(enum.StrEnum):
    COURSE = "course"
    PATH = "path"


class CredentialState(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


DEFAULT_TEMPLATE = (
    '<p class="kicker">$issuer_name certifies that</p>\n'
    '<p class="name">$learner_name</p>\n'
    '<p>has completed the $kind</p>\n<p class="title">$title</p>\n'
    '<p class="date">Issued on $issued_on$valid_until</p>\n'
    '<p class="verify">Verify at <a href="$verify_url">$verify_url</a></p>'
)
TEMPLATE_FIELDS = ("learner_name", "title", "kind", "issued_on", "valid_until", "verify_url", "issuer_name")


@dataclass
class Award:
    kind: SubjectKind
    subject_id: uuid.UUID
    enabled: bool = False
    available_from: datetime | None = None
    valid_days: int | None = None
    template: str | None = None
    updated_at: datetime | None = None

    def issuable(self, now: datetime) -> bool:
        """Whether a completion at ``now`` is issued at once (else, if enabled, it waits for ``available_from``)."""
        return self.enabled and (self.available_from is None or now >= self.available_from)

    def valid_until(self, issued_at: datetime) -> datetime | None:
        return None if self.valid_days is None else issued_at + timedelta(days=self.valid_days)


def template_problem(template: str) -> str | None:
    """Why a template cannot be used (an unknown or malformed placeholder), or None."""
    for match in string.Template.pattern.finditer(template):
        if match.group("invalid") is not None:
            return f"a '$' at position {match.start('invalid')} starts no placeholder (write '$$' for a dollar sign)"
        name = match.group("named") or match.group("braced")
        if name and name not in TEMPLATE_FIELDS:
            return f"unknown placeholder ${name}; use one of {', '.join(TEMPLATE_FIELDS)}"
    return None


def render_template(template: str | None, values: dict[str, str]) -> str:
    """The page body: the award's template (or the default) with every value HTML-escaped."""
    escaped = {k: html.escape(v) for k, v in values.items()}
    return string.Template(template or DEFAULT_TEMPLATE).safe_substitute(escaped)


@dataclass
class Credential(RecordsEvents):
    id: uuid.UUID
    user_id: uuid.UUID
    kind: SubjectKind
    subject_id: uuid.UUID
    learner_name: str
    subject_title: str
    status_index: int
    issued_at: datetime
    valid_until: datetime | None
    kid: str = ""
    jwt: str = ""
    replaces: uuid.UUID | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def list_number(self) -> int:
        return self.status_index // STATUS_LIST_SIZE + 1

    @property
    def list_position(self) -> int:
        return self.status_index % STATUS_LIST_SIZE

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def state(self, now: datetime) -> CredentialState:
        if self.revoked_at is not None:
            return CredentialState.REVOKED
        if now < self.issued_at:
            return CredentialState.NOT_YET_VALID
        if self.valid_until is not None and now >= self.valid_until:
            return CredentialState.EXPIRED
        return CredentialState.VALID

    def issued(self) -> None:
        """Record the issue (once the credential is signed)."""
        self._events.append(
            CertificateIssued(
                occurred_at=self.issued_at,
                aggregate_id=self.id,
                user_id=self.user_id,
                subject_kind=self.kind.value,
                subject_id=self.subject_id,
                replaces=self.replaces,
            )
        )

    def revoke(self, at: datetime, reason: str, by: uuid.UUID | None) -> bool:
        """Revoke; False (nothing recorded) when it already was."""
        if self.revoked_at is not None:
            return False
        self.revoked_at, self.revoked_reason = at, reason
        self._events.append(
            CertificateRevoked(
                occurred_at=at,
                aggregate_id=self.id,
                user_id=self.user_id,
                subject_kind=self.kind.value,
                subject_id=self.subject_id,
                reason=reason,
                by=by,
            )
        )
        return True


# -- the credential document ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issuer:
    id: str
    """A URL that dereferences to the issuer's Profile."""
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class CredentialUrls:
    """Where the platform publishes a credential and the things it points at."""

    credential: str
    achievement: str
    status_list: str


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def subject_uri(user_id: uuid.UUID) -> str:
    return f"urn:uuid:{user_id}"


def credential_document(credential: Credential, issuer: Issuer, urls: CredentialUrls) -> dict[str, Any]:
    """The Open Badges 3.0 ``OpenBadgeCredential`` (VC data model 2.0), before signing."""
    kind_word = "course" if credential.kind is SubjectKind.COURSE else "learning path"
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": urls.credential,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer.id, "type": ["Profile"], "name": issuer.name, "url": issuer.url},
        "validFrom": rfc3339(credential.issued_at),
        "name": credential.subject_title,
        "credentialSubject": {
            "id": subject_uri(credential.user_id),
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": credential.learner_name,
                }
            ],
            "achievement": {
                "id": urls.achievement,
                "type": ["Achievement"],
                "achievementType": "Course" if credential.kind is SubjectKind.COURSE else "LearningProgram",
                "name": credential.subject_title,
                "description": f"Completion of the {kind_word} {credential.subject_title}.",
                "criteria": {"narrative": f"Completed every requirement of the {kind_word}."},
            },
        },
        "credentialStatus": {
            "id": f"{urls.status_list}#{credential.list_position}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(credential.list_position),
            "statusListCredential": urls.status_list,
        },
    }
    if credential.valid_until is not None:
        document["validUntil"] = rfc3339(credential.valid_until)
    return document


def jwt_claims(document: dict[str, Any]) -> dict[str, Any]:
    """The VC-JWT payload (Open Badges 3.0, JSON Web Token proof format): the credential and its
    registered claims ``iss``, ``jti``, ``nbf``, ``sub`` and, with a ``validUntil``, ``exp``."""
    claims = dict(document)
    claims["iss"] = document["issuer"]["id"]
    claims["jti"] = document["id"]
    claims["sub"] = document["credentialSubject"]["id"]
    claims["nbf"] = _numeric_date(document["validFrom"])
    if "validUntil" in document:
        claims["exp"] = _numeric_date(document["validUntil"])
    return claims


def _numeric_date(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def status_list_document(list_url: str, issuer: Issuer, encoded: str, now: datetime) -> dict[str, Any]:
    """The ``BitstringStatusListCredential`` of one list (revocation), before signing."""
    return {
        "@context": [VC_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer.id, "type": ["Profile"], "name": issuer.name},
        "validFrom": rfc3339(now),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded,
        },
    }


def status_list_claims(document: dict[str, Any]) -> dict[str, Any]:
    claims = dict(document)
    claims["iss"] = document["issuer"]["id"]
    claims["jti"] = document["id"]
    claims["sub"] = document["credentialSubject"]["id"]
    claims["nbf"] = _numeric_date(document["validFrom"])
    return claims


# -- the bitstring -------------------------------------------------------------------------


class StatusListError(ValueError):
    """An ``encodedList`` that is not a GZIP-compressed, base64url-encoded bitstring of the minimum size."""


def encode_status_list(set_positions: Iterable[int], size: int = STATUS_LIST_SIZE) -> str:
    """The ``encodedList`` with the bits at ``set_positions`` set (bit 0 is the first byte's highest bit)."""
    if size < STATUS_LIST_SIZE or size % 8:
        raise ValueError(f"a status list holds at least {STATUS_LIST_SIZE} bits, a multiple of 8")
    bits = bytearray(size // 8)
    for position in set_positions:
        if not 0 <= position < size:
            raise ValueError(f"position {position} is outside the list (0..{size - 1})")
        bits[position // 8] |= 0x80 >> (position % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode_status_list(encoded: str, *, max_bytes: int = 16 * STATUS_LIST_SIZE) -> bytes:
    """The bitstring of an ``encodedList`` (multibase ``u`` prefix optional); refuses what is not one."""
    text = encoded[1:] if encoded.startswith("u") else encoded
    try:
        compressed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
            bits = stream.read(max_bytes + 1)
    except (ValueError, OSError, EOFError) as exc:
        raise StatusListError(f"the encoded list is not base64url GZIP data: {exc}") from None
    if len(bits) > max_bytes:
        raise StatusListError("the encoded list is larger than any list this platform reads")
    if len(bits) * 8 < STATUS_LIST_SIZE:
        raise StatusListError(f"the list holds {len(bits) * 8} bits, fewer than the minimum {STATUS_LIST_SIZE}")
    return bits


def bit_at(bits: bytes, position: int) -> bool:
    if not 0 <= position < len(bits) * 8:
        raise StatusListError(f"position {position} is outside the list")
    return bool(bits[position // 8] & (0x80 >> (position % 8)))
