"""What the identity module needs from outside: storage, a password hasher and a mailer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.identity.model import ExternalIdentity, OneTimeToken, Organization, TokenPurpose, User, UserStatus
from elearning_core.shared.ids import UserId
from elearning_core.shared.ports import UnitOfWork


class PasswordHasher(Protocol):
    """Turns passwords into stored hashes and checks them, without ever leaking which check failed.

    Every method that does the expensive work is async because a hash that is
    slow enough to resist offline guessing is far too slow to run on the event
    loop: an adapter does it elsewhere and bounds how many run at once.

    The login flow this is built for (``verify`` or ``verify_unknown``, then
    ``needs_rehash`` on success) lets parameters be raised over time without a
    migration, and gives an attacker the same answer, after the same work, for
    an unknown email as for a wrong password.
    """

    async def hash(self, password: str) -> str:
        """A salted hash to store; raises ``ValueError`` for a password above the adapter's length limit.

        Refusing (rather than truncating) keeps what the user typed and what is
        checked the same, and stops one request from buying megabytes of hashing.
        """
        ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``.

        False, never an exception, also for a malformed, truncated or foreign
        hash and for an over-long password: a stored value the adapter cannot
        read is a failed login, and an exception here would give a different
        response (and timing) from a wrong password.
        """
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones (or cannot be read).

        Called after a successful ``verify``, the only moment the plain
        password is at hand to store a new hash.
        """
        ...

    async def verify_unknown(self, password: str) -> bool:
        """Always False, after as much work as ``verify`` of a wrong password.

        For a login whose email matches no account: skipping the hash would
        answer measurably faster and tell an attacker which emails exist.
        """
        ...


@dataclass(frozen=True, slots=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None
    """An HTML alternative to ``text`` (the mail is then multipart/alternative)."""
    message_id: str | None = None
    """A stable ``Message-ID`` (``<id@domain>``): a message sent again keeps it; None: a new one per send."""
    headers: tuple[tuple[str, str], ...] = ()
    """More headers (``List-Unsubscribe``...); a line break in one is refused like one in the subject."""


class Mailer(Protocol):
    """Sends one message. Raises ``MailError`` when the message was not accepted for delivery."""

    async def send(self, message: MailMessage) -> None: ...


class MailError(Exception):
    """The mail server refused or could not be reached; the text is safe to log."""


class UserRepository(Protocol):
    """Users with their grants. Loaded and added users are written when the unit of work commits."""

    async def get(self, user_id: uuid.UUID) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None:
        """The user whose email matches case-insensitively (deleted users never match: their email is gone)."""
        ...

    async def email_taken(self, email: str) -> bool: ...

    def add(self, user: User) -> None: ...


@dataclass(frozen=True, slots=True)
class UserListFilter:
    status: UserStatus | None = None
    text: str | None = None  # case-insensitive substring of email or display name
    organization_id: uuid.UUID | None = None


class UserQueries(Protocol):
    async def list_users(self, where: UserListFilter, after: uuid.UUID | None, limit: int) -> list[User]:
        """Users in id order (ids are time-ordered), after the key ``after``; grants loaded."""
        ...


class OrganizationRepository(Protocol):
    async def get(self, organization_id: uuid.UUID) -> Organization | None: ...

    async def get_by_slug(self, slug: str) -> Organization | None: ...

    async def slug_taken(self, slug: str) -> bool: ...

    def add(self, organization: Organization) -> None: ...

    async def add_member(self, organization_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        """False when the user already is a member."""
        ...

    async def remove_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...

    async def member_count(self, organization_id: uuid.UUID) -> int: ...

    async def organizations_of(self, user_id: uuid.UUID) -> list[Organization]: ...

    # Last: a method named ``list`` shadows the builtin in the annotations that follow it.
    async def list(self, after: uuid.UUID | None, limit: int) -> list[Organization]: ...


class OneTimeTokenRepository(Protocol):
    """Email-verification, password-reset and email-change tokens, stored by digest."""

    async def add(self, token: OneTimeToken) -> None: ...

    async def consume(self, digest: str, purpose: TokenPurpose, at: datetime) -> UserId | None:
        """Mark the token used and return its user, atomically: None when it is unknown, used or expired.

        Two concurrent consumers of one token: exactly one gets the user id.
        """
        ...

    async def consume_email_change(self, digest: str, at: datetime) -> tuple[UserId, str] | None:
        """``consume`` for an ``EMAIL_CHANGE`` token: its user and the address it confirms.

        A spent or revoked token keeps no address (``revoke_all`` drops it too).
        """
        ...

    async def revoke_all(self, user_id: uuid.UUID, purpose: TokenPurpose, at: datetime) -> int:
        """Mark every unused token of the user for ``purpose`` used (a reset kills the other reset links)."""
        ...


class ExternalIdentityRepository(Protocol):
    async def find(self, issuer: str, subject: str) -> UserId | None: ...

    async def link(self, identity: ExternalIdentity, user_id: uuid.UUID, at: datetime) -> None: ...

    async def links_of(self, user_id: uuid.UUID) -> list[tuple[str, str]]:
        """(provider, issuer) pairs linked to the user."""
        ...

    async def unlink_all(self, user_id: uuid.UUID) -> int: ...


class IdentityUnitOfWork(UnitOfWork, Protocol):
    users: UserRepository
    organizations: OrganizationRepository
    one_time_tokens: OneTimeTokenRepository
    external_identities: ExternalIdentityRepository
