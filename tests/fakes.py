"""In-memory test doubles for the course, identity and auth ports, and builders for test data.

The fakes follow the SQL adapters' semantics closely enough that one contract
suite (tests/contract) runs against both: aggregates (courses, users,
organizations) are staged and applied at commit, loads return private copies
of the committed state, slugs and emails are unique at commit, and a stale
version makes the commit fail with Conflict. Records the SQL adapters write at
once (tokens, sessions, links, memberships, pending logins) go through a fake
transaction with row locks, so single-use tokens are spent exactly once even by
concurrent units of work, and a rollback forgets them.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import copy
import json
import math
import re
import secrets
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from elearning_core.assessment.model import PATTERN_MAX, PatternMatcher, PatternTimeout
from elearning_core.auth.model import Grant, ResourceRef, RolePolicy, ScopeKind
from elearning_core.auth.ports import (
    AccessClaims,
    AuthUnitOfWork,
    ExternalSignInError,
    InvalidToken,
    LoginSession,
    OidcProvider,
    PendingLogin,
    PendingLoginRepository,
    PrincipalQueries,
    PrincipalRecord,
    RateDecision,
    RateLimiter,
    RefreshTokenRecord,
    ResourceDirectory,
    SessionRepository,
    TokenService,
)
from elearning_core.auth.service import AuthConfig, AuthService, pkce_challenge, user_principal
from elearning_core.course.model import Course, CourseStatus, CourseVersion, Level
from elearning_core.course.ports import CourseRepository, CourseUnitOfWork
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    LiveCourse,
    TeachingScope,
    VersionSummary,
    outline_of,
    published_outline_of,
)
from elearning_core.course.requirements import LearnerFacts, LearnerFactsReader
from elearning_core.course.service import CourseService
from elearning_core.identity.model import (
    ExternalIdentity,
    OneTimeToken,
    Organization,
    TokenPurpose,
    User,
    UserStatus,
    email_key,
)
from elearning_core.identity.ports import (
    ExternalIdentityRepository,
    Mailer,
    MailError,
    MailMessage,
    OneTimeTokenRepository,
    OrganizationRepository,
    PasswordHasher,
    UserListFilter,
    UserQueries,
    UserRepository,
)
from elearning_core.identity.service import IdentityConfig, IdentityService, MailQueue
from elearning_core.search.model import MAX_TERMS, words_of
from elearning_core.shared.clock import Clock, FixedClock
from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import CourseId, UserId
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import SYSTEM, AdminOnlyPolicy, Policy, Principal

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
ENROLLED_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
"""When the assessment fakes' enrollments started (they keep no dates)."""
ADMIN = SYSTEM
A_USER = Principal(subject="user:42", roles=frozenset({"learner"}), user_id=uuid.UUID(int=42))
CURSOR_SECRET = b"test-cursor-secret-0123456789"
RECORD_TABLES = ("members", "tokens", "links", "sessions", "refresh", "pending")


def _snapshot(course: Course, version: int) -> Course:
    """A private copy of ``course`` as stored state: no pending events, the given version."""
    stored = copy.deepcopy(course)
    stored.pull_events()
    stored.pull_versions()
    stored.version = version
    return stored


@dataclass
class FakeStore:
    """The committed state every unit of work built on this store shares (the fake's database).

    ``records`` holds the tables the SQL adapters write at once rather than at
    commit (tokens, sessions, links, memberships, pending logins), by table name
    and key; ``locks`` are their row locks, held by a unit of work until it ends.
    """

    courses: dict[uuid.UUID, Course] = field(default_factory=dict)
    # Published course versions by (course id, number); snapshots stored as JSON text, as in SQL.
    course_versions: dict[tuple[uuid.UUID, int], tuple[CourseVersion, str]] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    organizations: dict[uuid.UUID, Organization] = field(default_factory=dict)
    records: dict[str, dict[Any, Any]] = field(default_factory=lambda: {name: {} for name in RECORD_TABLES})
    locks: dict[tuple[str, Any], object] = field(default_factory=dict)
    _released: asyncio.Condition | None = field(default=None, repr=False)

    def released(self) -> asyncio.Condition:
        """Notified whenever a unit of work gives its row locks back (created in the running loop)."""
        if self._released is None:
            self._released = asyncio.Condition()
        return self._released


CourseStore = FakeStore
"""The store's name from when it held courses only."""

CoursePlan = tuple[
    dict[uuid.UUID, Course], dict[uuid.UUID, int], dict[tuple[uuid.UUID, int], tuple[CourseVersion, str]]
]


def seed_course(store: FakeStore, course: Course, version: int = 1) -> None:
    """Put ``course`` into the store as committed state, with the versions it published (no unit of work)."""
    course.version = version
    store.courses[course.id] = course
    for v in course.pull_versions():
        store.course_versions[(v.course_id, v.number)] = (replace(v, snapshot={}), json.dumps(v.snapshot))


class InMemoryCourseRepository(CourseRepository):
    """Like SqlCourseRepository: an identity map over private copies, changes applied by ``flush``."""

    def __init__(self, store: CourseStore) -> None:
        self._store = store
        self._seen: dict[uuid.UUID, Course] = {}
        self._new: set[uuid.UUID] = set()
        self._removed: set[uuid.UUID] = set()

    async def get(self, course_id: uuid.UUID) -> Course | None:
        if course_id in self._seen:
            return None if course_id in self._removed else self._seen[course_id]
        stored = self._store.courses.get(course_id)
        if stored is None:
            return None
        course = copy.deepcopy(stored)
        self._seen[course_id] = course
        return course

    async def get_by_slug(self, slug: str) -> Course | None:
        for course in self._seen.values():
            if course.slug == slug and course.id not in self._removed:
                return course
        for stored in self._store.courses.values():
            if stored.slug == slug and stored.id not in self._seen:
                course = copy.deepcopy(stored)
                self._seen[course.id] = course
                return course
        return None

    async def slug_taken(self, slug: str, *, excluding: uuid.UUID | None = None) -> bool:
        if any(c.slug == slug and c.id != excluding for c in self._seen.values() if c.id in self._new):
            return True
        return any(c.slug == slug and c.id != excluding for c in self._store.courses.values())

    async def slugs_starting_with(self, prefix: str) -> set[str]:
        staged = [c for c in self._seen.values() if c.id in self._new]
        return {c.slug for c in [*staged, *self._store.courses.values()] if c.slug.startswith(prefix)}

    async def taken(self, slugs: Collection[str], ids: Collection[uuid.UUID]) -> tuple[set[str], set[uuid.UUID]]:
        stored = self._store.courses.values()
        return {c.slug for c in stored} & set(slugs), {c.id for c in stored} & set(ids)

    def add(self, course: Course) -> None:
        self._seen[course.id] = course
        self._new.add(course.id)

    def remove(self, course: Course) -> None:
        self._removed.add(course.id)

    def seen(self) -> Iterable[Course]:
        return self._seen.values()

    async def get_version(self, course_id: uuid.UUID, number: int) -> CourseVersion | None:
        stored = self._store.course_versions.get((course_id, number))
        if stored is None:
            return None
        version, text = stored
        return replace(version, snapshot=json.loads(text))

    def flush(self) -> None:
        """Apply every staged change to the store at once, or none (raising Conflict)."""
        self.apply(self.plan())

    def plan(self) -> CoursePlan:
        """The store's courses after this commit, their new row versions and the published versions to store.

        Raises Conflict, changing nothing.
        """
        state = dict(self._store.courses)
        versions: dict[uuid.UUID, int] = {}
        published: dict[tuple[uuid.UUID, int], tuple[CourseVersion, str]] = {}
        for course_id, course in self._seen.items():
            stored = state.get(course_id)
            if course_id in self._removed:
                if course_id in self._new and stored is None:
                    continue
                if stored is None or stored.version != course.version:
                    raise Conflict("the course was changed by someone else at the same time; retry")
                del state[course_id]
            elif course_id in self._new:
                if stored is not None:
                    raise Conflict("the change conflicts with existing data")
                versions[course_id] = 1
                state[course_id] = _snapshot(course, 1)
            elif course.pending_events:
                if stored is None or stored.version != course.version:
                    raise Conflict("the course was changed by someone else at the same time; retry")
                versions[course_id] = course.version + 1
                state[course_id] = _snapshot(course, course.version + 1)
        if any(n > 1 for n in Counter(c.slug for c in state.values()).values()):
            raise Conflict("slug is already taken by another course")
        for course_id, course in self._seen.items():
            if course_id in self._removed:
                continue
            for v in course.unsaved_versions:
                key = (v.course_id, v.number)
                if key in self._store.course_versions or key in published:
                    raise Conflict(_REFERENCE_CONFLICT)
                published[key] = (replace(v, snapshot={}), json.dumps(v.snapshot))
        return state, versions, published

    def apply(self, plan: CoursePlan) -> None:
        state, versions, published = plan
        self._store.courses.clear()
        self._store.courses.update(state)
        self._store.course_versions.update(published)
        # A deleted course takes its versions with it (ON DELETE CASCADE).
        for key in [k for k in self._store.course_versions if k[0] not in state]:
            del self._store.course_versions[key]
        for course in self._seen.values():
            course.pull_versions()
        for course_id, version in versions.items():
            self._seen[course_id].version = version
        for course_id in self._removed:
            self._seen.pop(course_id, None)
        self._new.clear()
        self._removed.clear()


# -- identity and auth ---------------------------------------------------------------

_GONE = object()
_REFERENCE_CONFLICT = "the change conflicts with existing data"


@dataclass(frozen=True, slots=True)
class _Link:
    provider: str
    user_id: UserId
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class _Refresh:
    digest: str
    session_id: uuid.UUID
    issued_at: datetime
    used_at: datetime | None = None


class _Transaction:
    """The fake's transaction over ``FakeStore.records``, with the row locking PostgreSQL does.

    Reads see the committed rows plus this transaction's own changes (read
    committed). A write takes the row's lock first, waiting while another open
    unit of work holds it, then re-reads the row: so of two concurrent
    ``consume`` calls the second waits for the first to end, and wins only if
    the first rolled back, exactly as ``UPDATE ... WHERE used_at IS NULL`` does.
    """

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._changes: dict[str, dict[Any, Any]] = {}
        self._held: set[tuple[str, Any]] = set()

    def get(self, table: str, key: Any) -> Any:
        changes = self._changes.get(table, {})
        if key in changes:
            value = changes[key]
            return None if value is _GONE else value
        return self._store.records[table].get(key)

    def items(self, table: str) -> list[tuple[Any, Any]]:
        merged = dict(self._store.records[table])
        merged.update(self._changes.get(table, {}))
        return [(key, value) for key, value in merged.items() if value is not _GONE]

    def changed(self, table: str) -> list[tuple[Any, Any]]:
        """The rows this transaction wrote (inserted or updated) in ``table``."""
        return [(key, value) for key, value in self._changes.get(table, {}).items() if value is not _GONE]

    async def lock(self, table: str, key: Any) -> None:
        name = (table, key)
        if name in self._held:
            return
        released = self._store.released()
        async with released:
            await released.wait_for(lambda: name not in self._store.locks)
            self._store.locks[name] = self
        self._held.add(name)

    async def insert(self, table: str, key: Any, value: Any) -> bool:
        """Insert unless the key exists (waiting on a concurrent insert of it); False when it did."""
        await self.lock(table, key)
        if self.get(table, key) is not None:
            return False
        self.put(table, key, value)
        return True

    def put(self, table: str, key: Any, value: Any) -> None:
        assert (table, key) in self._held, "write a record only under its lock"
        self._changes.setdefault(table, {})[key] = value

    def delete(self, table: str, key: Any) -> None:
        self.put(table, key, _GONE)

    def apply(self) -> None:
        for table, changes in self._changes.items():
            rows = self._store.records[table]
            for key, value in changes.items():
                if value is _GONE:
                    rows.pop(key, None)
                else:
                    rows[key] = value

    async def end(self) -> None:
        """Forget the changes (apply them first to commit) and give the locks back."""
        self._changes.clear()
        if self._held:
            for name in self._held:
                self._store.locks.pop(name, None)
            self._held.clear()
            released = self._store.released()
            async with released:
                released.notify_all()


def _user_state(user: User) -> tuple[object, ...]:
    """Everything SqlUserRepository stores about a user, to tell whether it changed."""
    return (
        user.email,
        user.display_name,
        user.locale,
        user.time_zone,
        user.status,
        user.password_hash,
        user.email_verified_at,
        user.bio,
        user.suspended_reason,
        user.deleted_at,
        user.created_at,
        user.updated_at,
        frozenset(user.grants),
    )


def _stored_user(user: User, version: int) -> User:
    stored = copy.deepcopy(user)
    stored.pull_events()
    stored.version = version
    return stored


UserPlan = tuple[dict[uuid.UUID, User], dict[uuid.UUID, int]]


class InMemoryUserRepository(UserRepository):
    """Like SqlUserRepository: private copies; new users inserted and changed ones written back at commit."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._seen: dict[uuid.UUID, User] = {}
        self._new: set[uuid.UUID] = set()
        self._loaded: dict[uuid.UUID, tuple[object, ...]] = {}

    async def get(self, user_id: uuid.UUID) -> User | None:
        if user_id in self._seen:
            return self._seen[user_id]
        stored = self._store.users.get(user_id)
        return self._load(stored) if stored is not None else None

    async def get_by_email(self, email: str) -> User | None:
        key = email_key(email)
        for user in self._seen.values():
            if user.email_key == key and user.status is not UserStatus.DELETED:
                return user
        for stored in self._store.users.values():
            if stored.email_key == key and stored.status is not UserStatus.DELETED:
                return None if stored.id in self._seen else self._load(stored)
        return None

    async def email_taken(self, email: str) -> bool:
        key = email_key(email)
        if any(self._seen[user_id].email_key == key for user_id in self._new):
            return True
        return any(u.email_key == key for u in self._store.users.values())

    def add(self, user: User) -> None:
        self._seen[user.id] = user
        self._new.add(user.id)

    def seen(self) -> Iterable[User]:
        return self._seen.values()

    def _load(self, stored: User) -> User:
        user = copy.deepcopy(stored)
        self._seen[user.id] = user
        self._loaded[user.id] = _user_state(user)
        return user

    def plan(self) -> UserPlan:
        state = dict(self._store.users)
        versions: dict[uuid.UUID, int] = {}
        for user_id, user in self._seen.items():
            stored = state.get(user_id)
            if user_id in self._new:
                if stored is not None:
                    raise Conflict(_REFERENCE_CONFLICT)
                versions[user_id] = 1
            elif _user_state(user) != self._loaded[user_id]:
                if stored is None or stored.version != user.version:
                    raise Conflict("the account was changed by someone else at the same time; retry")
                versions[user_id] = user.version + 1
            else:
                continue
            state[user_id] = _stored_user(user, versions[user_id])
        if any(n > 1 for n in Counter(u.email_key for u in state.values()).values()):
            raise Conflict("an account with this email already exists")
        return state, versions

    def apply(self, plan: UserPlan) -> None:
        state, versions = plan
        self._store.users.clear()
        self._store.users.update(state)
        for user_id, version in versions.items():
            self._seen[user_id].version = version
            self._loaded[user_id] = _user_state(self._seen[user_id])
        self._new.clear()


class InMemoryUserQueries(UserQueries):
    """UserQueries over a FakeStore's committed state, with SqlUserQueries' semantics."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def list_users(self, where: UserListFilter, after: uuid.UUID | None, limit: int) -> list[User]:
        members = {key[1] for key in self._store.records["members"] if key[0] == where.organization_id}
        needle = where.text.lower() if where.text else None

        def matches(user: User) -> bool:
            return (
                (where.status is None or user.status is where.status)
                and (needle is None or needle in user.email_key or needle in user.display_name.lower())
                and (where.organization_id is None or user.id in members)
                and (after is None or user.id > after)
            )

        found = sorted((u for u in self._store.users.values() if matches(u)), key=lambda u: u.id)
        return [copy.deepcopy(u) for u in found[:limit]]


class InMemoryOrganizationRepository(OrganizationRepository):
    """Organizations staged like aggregates; memberships written through the transaction at once."""

    def __init__(self, store: FakeStore, tx: _Transaction) -> None:
        self._store = store
        self._tx = tx
        self._seen: dict[uuid.UUID, Organization] = {}
        self._new: set[uuid.UUID] = set()

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        if organization_id in self._seen:
            return self._seen[organization_id]
        stored = self._store.organizations.get(organization_id)
        return self._mapped(stored) if stored is not None else None

    async def get_by_slug(self, slug: str) -> Organization | None:
        for organization in self._seen.values():
            if organization.slug == slug:
                return organization
        for stored in self._store.organizations.values():
            if stored.slug == slug:
                return self._mapped(stored)
        return None

    async def slug_taken(self, slug: str) -> bool:
        if any(self._seen[o].slug == slug for o in self._new):
            return True
        return any(o.slug == slug for o in self._store.organizations.values())

    def add(self, organization: Organization) -> None:
        self._seen[organization.id] = organization
        self._new.add(organization.id)

    def seen(self) -> Iterable[Organization]:
        return self._seen.values()

    def _visible(self) -> dict[uuid.UUID, Organization]:
        """The committed organizations and this unit of work's new ones (SQL writes those before reading)."""
        self.plan()
        return {**self._store.organizations, **{o: self._seen[o] for o in self._new}}

    async def list(self, after: uuid.UUID | None, limit: int) -> list[Organization]:
        found = sorted((o for o in self._visible().values() if after is None or o.id > after), key=lambda o: o.id)
        return [self._mapped(o) for o in found[:limit]]

    async def add_member(self, organization_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        return await self._tx.insert("members", (organization_id, user_id), at)

    async def remove_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        key = (organization_id, user_id)
        if self._tx.get("members", key) is None:
            return False
        await self._tx.lock("members", key)
        if self._tx.get("members", key) is None:
            return False
        self._tx.delete("members", key)
        return True

    async def member_count(self, organization_id: uuid.UUID) -> int:
        return sum(1 for key, _ in self._tx.items("members") if key[0] == organization_id)

    async def organizations_of(self, user_id: uuid.UUID) -> builtins.list[Organization]:
        visible = self._visible()
        mine = [visible[key[0]] for key, _ in self._tx.items("members") if key[1] == user_id and key[0] in visible]
        return [self._mapped(o) for o in sorted(mine, key=lambda o: (o.name, o.id))]

    def _mapped(self, stored: Organization) -> Organization:
        if stored.id not in self._seen:
            organization = copy.deepcopy(stored)
            organization.pull_events()
            self._seen[stored.id] = organization
        return self._seen[stored.id]

    def plan(self) -> dict[uuid.UUID, Organization]:
        """The committed organizations after this commit; raises Conflict on a taken slug."""
        state = dict(self._store.organizations)
        for organization_id in self._new:
            if organization_id in state:
                raise Conflict(_REFERENCE_CONFLICT)
            state[organization_id] = _stored_organization(self._seen[organization_id])
        for organization in self._seen.values():
            if organization.changed and organization.id in state:
                state[organization.id] = _stored_organization(organization)
        if any(n > 1 for n in Counter(o.slug for o in state.values()).values()):
            raise Conflict("slug is already taken by another organization")
        return state

    def apply(self, state: dict[uuid.UUID, Organization]) -> None:
        self._store.organizations.clear()
        self._store.organizations.update(state)
        self._new.clear()
        for organization in self._seen.values():
            organization.mark_saved()


def _stored_organization(organization: Organization) -> Organization:
    stored = copy.deepcopy(organization)
    stored.pull_events()
    stored.mark_saved()
    return stored


class InMemoryOneTimeTokenRepository(OneTimeTokenRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, token: OneTimeToken) -> None:
        if not await self._tx.insert("tokens", token.digest, token):
            raise Conflict(_REFERENCE_CONFLICT)

    async def consume(self, digest: str, purpose: TokenPurpose, at: datetime) -> UserId | None:
        token = await self._consume(digest, purpose, at)
        return token.user_id if token is not None else None

    async def consume_email_change(self, digest: str, at: datetime) -> tuple[UserId, str] | None:
        token = await self._consume(digest, TokenPurpose.EMAIL_CHANGE, at)
        if token is None or token.new_email is None:
            return None
        self._tx.put("tokens", digest, replace(token, used_at=at, new_email=None))
        return token.user_id, token.new_email

    async def _consume(self, digest: str, purpose: TokenPurpose, at: datetime) -> OneTimeToken | None:
        def usable() -> OneTimeToken | None:
            token: OneTimeToken | None = self._tx.get("tokens", digest)
            ok = token is not None and token.purpose is purpose and token.used_at is None and token.expires_at > at
            return token if ok else None

        if usable() is None:
            return None
        await self._tx.lock("tokens", digest)
        token = usable()  # again, now that no one else can change it
        if token is None:
            return None
        self._tx.put("tokens", digest, replace(token, used_at=at))
        return token

    async def revoke_all(self, user_id: uuid.UUID, purpose: TokenPurpose, at: datetime) -> int:
        def unused(token: OneTimeToken | None) -> bool:
            return token is not None and token.user_id == user_id and token.purpose is purpose and token.used_at is None

        revoked = 0
        for digest, token in self._tx.items("tokens"):
            if unused(token):
                await self._tx.lock("tokens", digest)
                token = self._tx.get("tokens", digest)
                if unused(token):
                    self._tx.put("tokens", digest, replace(token, used_at=at, new_email=None))
                    revoked += 1
        return revoked


class InMemoryExternalIdentityRepository(ExternalIdentityRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def find(self, issuer: str, subject: str) -> UserId | None:
        link: _Link | None = self._tx.get("links", (issuer, subject))
        return link.user_id if link is not None else None

    async def link(self, identity: ExternalIdentity, user_id: uuid.UUID, at: datetime) -> None:
        key = (identity.issuer, identity.subject)
        inserted = await self._tx.insert("links", key, _Link(identity.provider, UserId(user_id), at))
        if not inserted and self._tx.get("links", key).user_id != user_id:
            raise Conflict("this external account is already linked to another user")

    async def links_of(self, user_id: uuid.UUID) -> list[tuple[str, str]]:
        return sorted((link.provider, key[0]) for key, link in self._tx.items("links") if link.user_id == user_id)

    async def unlink_all(self, user_id: uuid.UUID) -> int:
        removed = 0
        for key, link in self._tx.items("links"):
            if link.user_id == user_id:
                await self._tx.lock("links", key)
                if self._tx.get("links", key) is not None:
                    self._tx.delete("links", key)
                    removed += 1
        return removed


class InMemorySessionRepository(SessionRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def create(self, session: LoginSession, first_digest: str) -> None:
        if not await self._tx.insert("sessions", session.id, session):
            raise Conflict(_REFERENCE_CONFLICT)
        await self.add_token(session.id, first_digest, session.created_at)

    async def get(self, session_id: uuid.UUID) -> LoginSession | None:
        session: LoginSession | None = self._tx.get("sessions", session_id)
        return session

    async def find_token(self, digest: str) -> RefreshTokenRecord | None:
        token: _Refresh | None = self._tx.get("refresh", digest)
        session = self._tx.get("sessions", token.session_id) if token is not None else None
        if token is None or session is None:
            return None
        return RefreshTokenRecord(digest=digest, session=session, issued_at=token.issued_at, used_at=token.used_at)

    async def use_token(self, digest: str, at: datetime) -> bool:
        def unused() -> _Refresh | None:
            token: _Refresh | None = self._tx.get("refresh", digest)
            return token if token is not None and token.used_at is None else None

        if unused() is None:
            return False
        await self._tx.lock("refresh", digest)
        token = unused()
        if token is None:
            return False
        self._tx.put("refresh", digest, replace(token, used_at=at))
        return True

    async def add_token(self, session_id: uuid.UUID, digest: str, at: datetime) -> None:
        # The SQL foreign key to the session is checked at once (not deferred).
        if self._tx.get("sessions", session_id) is None:
            raise Conflict(_REFERENCE_CONFLICT)
        if not await self._tx.insert("refresh", digest, _Refresh(digest, session_id, at)):
            raise Conflict(_REFERENCE_CONFLICT)

    async def revoke(self, session_id: uuid.UUID, at: datetime, reason: str) -> bool:
        return await self._revoke(session_id, at, reason, lambda s: s.revoked_at is None)

    async def revoke_all_of(self, user_id: uuid.UUID, at: datetime, reason: str) -> int:
        def active(session: LoginSession) -> bool:
            return session.user_id == user_id and session.active_at(at)

        ended = 0
        for session_id, session in self._tx.items("sessions"):
            if active(session) and await self._revoke(session_id, at, reason, active):
                ended += 1
        return ended

    async def _revoke(
        self, session_id: uuid.UUID, at: datetime, reason: str, which: Callable[[LoginSession], bool]
    ) -> bool:
        session: LoginSession | None = self._tx.get("sessions", session_id)
        if session is None or not which(session):
            return False
        await self._tx.lock("sessions", session_id)
        session = self._tx.get("sessions", session_id)
        if session is None or not which(session):
            return False
        self._tx.put("sessions", session_id, replace(session, revoked_at=at, revoked_reason=reason[:200]))
        return True


class InMemoryPendingLoginRepository(PendingLoginRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def put(self, pending: PendingLogin) -> None:
        if not await self._tx.insert("pending", pending.state_digest, pending):
            raise Conflict(_REFERENCE_CONFLICT)

    async def take(self, state_digest: str, at: datetime) -> PendingLogin | None:
        if self._tx.get("pending", state_digest) is None:
            return None
        await self._tx.lock("pending", state_digest)
        pending: PendingLogin | None = self._tx.get("pending", state_digest)
        if pending is None:
            return None
        self._tx.delete("pending", state_digest)  # an expired one is dropped too
        return pending if pending.expires_at > at else None


class InMemoryPrincipalQueries(PrincipalQueries):
    """PrincipalQueries over a FakeStore's committed state, with SqlPrincipalQueries' semantics."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def principal_record(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None, at: datetime
    ) -> PrincipalRecord | None:
        user = self._store.users.get(user_id)
        if user is None:
            return None
        session: LoginSession | None = self._store.records["sessions"].get(session_id) if session_id else None
        active = session_id is None or (session is not None and session.user_id == user_id and session.active_at(at))
        return PrincipalRecord(
            user_id=user.id,
            status=user.status.value,
            grants=tuple(user.grants),
            session_active=active,
            email_verified=user.email_verified,
        )


# -- the unit of work ------------------------------------------------------------------


class FakeUnitOfWork(CourseUnitOfWork, AuthUnitOfWork):
    """A unit of work over a FakeStore, serving every module's repositories.

    ``lambda: FakeUnitOfWork(store)`` gives a fresh unit of work per use case on
    one shared state; a single instance may also be handed to a service as
    ``lambda: uow`` to inspect ``outbox`` and ``committed`` afterwards.
    Leaving the block without ``commit()`` discards the staged changes and
    the records written since, and releases their row locks.

    Like the SQL schema's deferred foreign keys, ``commit()`` refuses records
    that name a user or organization that does not exist by then.
    """

    courses: InMemoryCourseRepository
    users: InMemoryUserRepository
    organizations: InMemoryOrganizationRepository
    one_time_tokens: InMemoryOneTimeTokenRepository
    external_identities: InMemoryExternalIdentityRepository
    sessions: InMemorySessionRepository
    pending_logins: InMemoryPendingLoginRepository

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store if store is not None else FakeStore()
        self._open()
        self.outbox: list[DomainEvent] = []
        self.committed = False
        self.rolled_back = False
        self._committed_in_block = False

    def _open(self) -> None:
        self._tx = _Transaction(self.store)
        self.courses = InMemoryCourseRepository(self.store)
        self.users = InMemoryUserRepository(self.store)
        self.organizations = InMemoryOrganizationRepository(self.store, self._tx)
        self.one_time_tokens = InMemoryOneTimeTokenRepository(self._tx)
        self.external_identities = InMemoryExternalIdentityRepository(self._tx)
        self.sessions = InMemorySessionRepository(self._tx)
        self.pending_logins = InMemoryPendingLoginRepository(self._tx)

    async def __aenter__(self) -> Self:
        self._committed_in_block = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed_in_block:
            await self.rollback()
        else:
            await self._tx.end()  # whatever was written after the commit
            self._open()

    async def commit(self) -> None:
        aggregates: list[Course | User | Organization] = [
            *self.courses.seen(),
            *self.users.seen(),
            *self.organizations.seen(),
        ]
        courses, users, organizations = self.courses.plan(), self.users.plan(), self.organizations.plan()
        self._check_references(users[0], organizations)
        self.courses.apply(courses)
        self.users.apply(users)
        self.organizations.apply(organizations)
        self._tx.apply()
        await self._tx.end()
        events = [e for a in aggregates for e in a.pending_events]
        self.outbox.extend(events)
        self.store.outbox.extend(events)
        for aggregate in aggregates:
            aggregate.pull_events()
        self.committed = True
        self._committed_in_block = True

    def _check_references(self, users: dict[uuid.UUID, User], organizations: dict[uuid.UUID, Organization]) -> None:
        tx = self._tx
        referenced = [
            *(token.user_id for _, token in tx.changed("tokens")),
            *(link.user_id for _, link in tx.changed("links")),
            *(session.user_id for _, session in tx.changed("sessions")),
            *(user_id for (_, user_id), _ in tx.changed("members")),
        ]
        memberships_of = [organization_id for (organization_id, _), _ in tx.changed("members")]
        if any(u not in users for u in referenced) or any(o not in organizations for o in memberships_of):
            raise Conflict(_REFERENCE_CONFLICT)

    async def rollback(self) -> None:
        self.rolled_back = True
        await self._tx.end()
        self._open()


def _text_matches(q: str, course: Course, listed: Course) -> bool:
    """The SQL catalogs' ``q`` (the search index's words): each folded word of ``q`` begins a word of the
    course's title, summary, description or tags."""
    wanted = words_of(q)[:MAX_TERMS]
    have = words_of(" ".join([listed.title, listed.summary, listed.description, *listed.tags]))
    return bool(wanted) and all(any(h.startswith(w) for h in have) for w in wanted)


def _listed(course: Course) -> Course:
    """The course as the catalog lists it: with the latest version's details while published."""
    details = course.published_details
    if course.status is not CourseStatus.PUBLISHED or details is None:
        return course
    listed = copy.copy(course)
    listed.title, listed.summary, listed.language = details.title, details.summary, details.language
    listed.level, listed.tags = details.level, list(details.tags)
    return listed


def _summary(course: Course) -> CourseSummary:
    details = course.published_details if course.status is CourseStatus.PUBLISHED else None
    listed = _listed(course)
    return CourseSummary(
        id=course.id,
        slug=course.slug,
        title=listed.title,
        summary=listed.summary,
        language=listed.language,
        level=listed.level,
        tags=list(listed.tags),
        owner_id=course.owner_id,
        status=course.status,
        created_at=course.created_at,
        published_at=course.published_at,
        section_count=details.section_count if details else len(course.sections),
        lesson_count=details.lesson_count if details else course.lesson_count,
    )


def _outline(course: Course) -> CourseOutline:
    return outline_of(course)


class InMemoryCatalogQueries(CatalogQueries):
    """CatalogQueries over a CourseStore's committed state, with SqlCatalogQueries' semantics."""

    def __init__(self, store: CourseStore) -> None:
        self._store = store

    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        def sort_key(course: Course) -> tuple[datetime, uuid.UUID]:
            at = course.published_at if where.status is CourseStatus.PUBLISHED else course.created_at
            assert at is not None
            return at, course.id

        def matches(course: Course) -> bool:
            listed = _listed(course)
            return (
                (where.status is None or course.status is where.status)
                and (not where.language or listed.language == where.language)
                and (not where.level or listed.level is where.level)
                and (not where.tag or where.tag.lower() in listed.tags)
                and (not where.text or _text_matches(where.text, course, listed))
                and (after is None or sort_key(course) < after)
            )

        found = sorted((c for c in self._store.courses.values() if matches(c)), key=sort_key, reverse=True)
        return [_summary(c) for c in found[:limit]]

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        course = self._store.courses.get(course_id)
        return _outline(course) if course is not None else None

    async def teaching(self, where: TeachingScope, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        def taught(course: Course) -> bool:
            return (
                course.owner_id == where.user_id
                or course.id in where.course_ids
                or course.organization_id in where.organization_ids
            )

        found = sorted(
            (c for c in self._store.courses.values() if taught(c) and (after is None or (c.created_at, c.id) < after)),
            key=lambda c: (c.created_at, c.id),
            reverse=True,
        )
        return [_summary(c) for c in found[:limit]]

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        for course in self._store.courses.values():
            if course.slug == slug:
                return _outline(course)
        return None

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        course = self._store.courses.get(course_id)
        if course is None:
            return None
        stored = self._store.course_versions.get((course_id, number or course.published_version or 0))
        if stored is None:
            return None
        version, text = stored
        live = LiveCourse(
            id=course.id,
            slug=course.slug,
            owner_id=course.owner_id,
            organization_id=course.organization_id,
            status=course.status,
            version=course.version,
            created_at=course.created_at,
            published_version=course.published_version,
            has_unpublished_changes=course.has_unpublished_changes,
        )
        return published_outline_of(live, version.number, version.published_at, json.loads(text))

    async def published_outline_by_slug(self, slug: str, number: int | None = None) -> CourseOutline | None:
        for course in self._store.courses.values():
            if course.slug == slug:
                return await self.published_outline(course.id, number)
        return None

    async def versions(
        self, course_id: uuid.UUID, before: int | None = None, limit: int | None = None
    ) -> list[VersionSummary]:
        found = [
            v
            for (c, _), (v, _) in self._store.course_versions.items()
            if c == course_id and (before is None or v.number < before)
        ]
        return [
            VersionSummary(number=v.number, published_at=v.published_at, published_by=v.published_by)
            for v in sorted(found, key=lambda v: v.number, reverse=True)
        ][:limit]


# -- builders ----------------------------------------------------------------------


def a_course(
    *,
    lessons: int = 1,
    sections: int = 1,
    title: str = "Python for Data Analysis",
    slug: str | None = None,
    summary: str = "",
    language: str = "en",
    level: Level = Level.BEGINNER,
    tags: Iterable[str] = (),
    owner_id: UserId | None = None,
    status: CourseStatus = CourseStatus.DRAFT,
    at: datetime = T0,
    published_at: datetime | None = None,
    course_id: CourseId | None = None,
    organization_id: uuid.UUID | None = None,
) -> Course:
    """A valid course with ``sections`` sections of ``lessons`` lessons each, its events already pulled.

    ``slug`` defaults to a unique one, so several built courses never clash.
    """
    course = Course.create(
        title=title,
        slug=slug or f"course-{uuid.uuid4().hex[:12]}",
        at=at,
        summary=summary,
        language=language,
        level=level,
        tags=list(tags),
        owner_id=owner_id,
        course_id=course_id,
        organization_id=organization_id,
    )
    for s in range(sections):
        section = course.add_section(f"Section {s + 1}", at)
        for n in range(lessons):
            course.add_lesson(section.id, f"Lesson {s + 1}.{n + 1}", at)
    if status is not CourseStatus.DRAFT:
        course.publish(published_at or at)
        if status is CourseStatus.ARCHIVED:
            course.archive(published_at or at)
    course.pull_events()
    return course


def a_user(
    *,
    email: str | None = None,
    display_name: str = "Ada Lovelace",
    at: datetime = T0,
    password_hash: str | None = "$argon2id$fake",
    grants: Iterable[Grant] = (),
    user_id: UserId | None = None,
) -> User:
    """A registered, active user; ``email`` defaults to a unique one. Its events already pulled."""
    user = User.register(
        email=email or f"user-{uuid.uuid4().hex[:12]}@example.org",
        display_name=display_name,
        at=at,
        password_hash=password_hash,
        user_id=user_id,
    )
    for grant in grants:
        user.grant(grant, at, by="test")
    user.pull_events()
    return user


def a_service(
    store: CourseStore | None = None,
    *,
    clock: FixedClock | None = None,
    policy: Policy | None = None,
    cursors: CursorCodec | None = None,
    enrollments: InMemoryEnrollmentDates | None = None,
    facts: LearnerFactsReader | None = None,
) -> CourseService:
    """A CourseService on the fakes: a fresh FakeUnitOfWork per use case over one store."""
    store = store if store is not None else CourseStore()
    return CourseService(
        lambda: FakeUnitOfWork(store),
        InMemoryCatalogQueries(store),
        clock or FixedClock(T0),
        policy or AdminOnlyPolicy(),
        cursors or CursorCodec(CURSOR_SECRET),
        enrollments=enrollments,
        facts=facts,
    )


class InMemoryLearnerFacts(LearnerFactsReader):
    """Conditional release's read of the progress module: chosen facts per (learner, course)."""

    def __init__(self) -> None:
        self.facts: dict[tuple[uuid.UUID, uuid.UUID], LearnerFacts] = {}
        self.reads = 0

    def set(self, user_id: uuid.UUID, course_id: uuid.UUID, facts: LearnerFacts) -> None:
        self.facts[(user_id, course_id)] = facts

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts:
        self.reads += 1
        return self.facts.get((user_id, course_id), LearnerFacts())


class InMemoryEnrollmentDates:
    """Content gating's narrow enrollment read: who is enrolled in which course since when."""

    def __init__(self) -> None:
        self.since: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
        self.reads = 0

    def enroll(self, user_id: uuid.UUID, course_id: uuid.UUID, at: datetime) -> None:
        self.since[(user_id, course_id)] = at

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        self.reads += 1
        return self.since.get((user_id, course_id))


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


# -- identity and auth collaborators ---------------------------------------------------
#
# Fast, inspectable stand-ins for the adapters the identity and auth services take
# (the Argon2 hasher, the mailers, the rate limiters, the JWT token service, the OIDC
# providers, the SQL resource directory). Unit tests never import an adapter.


class FakePasswordHasher(PasswordHasher):
    """Stores ``hashed:<params>:<password>``: instant, readable in a failing assertion.

    ``params`` are the "current parameters": change them (``hasher.params = "v2"``)
    and every hash made before needs a rehash, as with raised Argon2 costs.
    ``verify_unknown_calls`` counts the dummy verifications of logins for unknown
    emails, so a test can check that such a login did the same work.
    """

    MAX_PASSWORD = 1024

    def __init__(self, params: str = "v1") -> None:
        self.params = params
        self.hash_calls = 0
        self.verify_calls = 0
        self.verify_unknown_calls = 0

    def hashed(self, password: str) -> str:
        """What ``hash`` returns, synchronously (to seed stored users)."""
        return f"hashed:{self.params}:{password}"

    async def hash(self, password: str) -> str:
        if len(password) > self.MAX_PASSWORD:
            raise ValueError(f"a password is at most {self.MAX_PASSWORD} characters")
        self.hash_calls += 1
        return self.hashed(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verify_calls += 1
        parts = password_hash.split(":", 2)
        return len(parts) == 3 and parts[0] == "hashed" and parts[2] == password

    def needs_rehash(self, password_hash: str) -> bool:
        parts = password_hash.split(":", 2)
        return len(parts) != 3 or parts[0] != "hashed" or parts[1] != self.params

    async def verify_unknown(self, password: str) -> bool:
        self.verify_unknown_calls += 1
        return False


class FakeMailer(Mailer):
    """Keeps what it is given, like ``elearning_adapters.email.RecordingMailer``.

    Set ``failure`` to make every send raise it (a mail server that is down).
    """

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []
        self.failure: MailError | None = None

    async def send(self, message: MailMessage) -> None:
        if "@" not in message.to or any(c in message.subject for c in "\r\n"):
            raise MailError("refused: a malformed recipient or a line break in the subject")
        if self.failure is not None:
            raise self.failure
        self.sent.append(message)

    def to(self, address: str) -> list[MailMessage]:
        """Every message to ``address`` (compared ignoring case), oldest first."""
        return [m for m in self.sent if m.to.casefold() == address.casefold()]

    def last_to(self, address: str) -> MailMessage | None:
        mails = self.to(address)
        return mails[-1] if mails else None


class FakeRateLimiter(RateLimiter):
    """The RateLimiter port's sliding window log on an injectable clock (seconds, as a float).

    The same rule as the adapters (``tests/contract/test_rate_limiter.py`` runs it
    with them): allowed when fewer than ``limit`` attempts were allowed in the
    last ``window_seconds``; refusals are not counted. No eviction: tests are small.
    ``hits`` records every key hit, in order.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._allowed: dict[str, list[float]] = {}
        self.hits: list[str] = []

    async def hit(self, key: str, limit: int, window_seconds: float) -> RateDecision:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, not {limit!r}")
        if not (isinstance(window_seconds, int | float) and math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError(f"window_seconds must be a positive finite number, not {window_seconds!r}")
        now = self._clock()
        self.hits.append(key)
        times = [t for t in self._allowed.get(key, []) if t > now - window_seconds]
        self._allowed[key] = times
        if len(times) < limit:
            times.append(now)
            return RateDecision(True, limit - len(times), 0.0)
        release = times[len(times) - limit] + window_seconds
        return RateDecision(False, 0, max(release - now, 1e-6))

    async def reset(self, key: str) -> None:
        self._allowed.pop(key, None)


class FakeTokenService(TokenService):
    """Opaque access tokens (``at_<hex>``) mapped to their claims; expiry read from ``clock``.

    ``verify_access`` raises ``InvalidToken`` for a string it never issued (or
    one ``revoke``d), and ``InvalidToken("expired")`` once the clock passes
    ``expires_at``. Not JWT-shaped, so ``peek_issuer`` finds no issuer in them.
    """

    ISSUER = "https://elearning.test"
    AUDIENCE = "elearning-api"

    def __init__(self, clock: Clock, ttl: timedelta = timedelta(minutes=10)) -> None:
        self._clock = clock
        self._ttl = ttl
        self.issued: dict[str, AccessClaims] = {}

    def issue_access(self, subject: str, *, scope: Sequence[str] = (), session_id: str | None = None) -> str:
        if not subject:
            raise ValueError("an access token needs a subject")
        token = f"at_{secrets.token_hex(16)}"
        now = self._clock.now()
        self.issued[token] = AccessClaims(
            subject=subject,
            token_id=uuid.uuid4().hex,
            issued_at=now,
            expires_at=now + self._ttl,
            audience=self.AUDIENCE,
            issuer=self.ISSUER,
            token_type="access",
            scope=tuple(scope),
            session_id=session_id,
        )
        return token

    def verify_access(self, token: str) -> AccessClaims:
        claims = self.issued.get(token)
        if claims is None:
            raise InvalidToken(detail="not a token this service issued")
        if self._clock.now() >= claims.expires_at:
            raise InvalidToken("expired", detail="expired")
        return claims

    def jwks(self) -> dict[str, Any]:
        return {"keys": []}


@dataclass(frozen=True, slots=True)
class _Authorization:
    nonce: str
    code_challenge: str
    redirect_uri: str


def _b64json(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode("ascii")


class FakeOidcProvider(OidcProvider):
    """An external OpenID Connect provider in memory, checking what the real one checks.

    The flow as a test drives it: the service's ``begin_external`` asks for
    ``authorization_url``; the person signs in at the provider
    (``code = provider.sign_in(url, identity)``); the service's
    ``complete_external`` redeems the code with ``exchange``, which refuses an
    unknown or reused code, a PKCE verifier that does not match the challenge,
    another nonce or another redirect URI. ``access_token(identity)`` mints a
    JWT-shaped bearer token naming this issuer, which ``verify_access_token`` knows.
    """

    def __init__(self, name: str = "acme", issuer: str | None = None, *, provision: bool = True) -> None:
        self.name = name
        self.issuer = issuer or f"https://id.{name}.test"
        self.provision = provision
        self.available = True
        self._authorizations: dict[str, _Authorization] = {}
        self._codes: dict[str, tuple[_Authorization, ExternalIdentity]] = {}
        self._access_tokens: dict[str, ExternalIdentity] = {}

    def identity(
        self, subject: str, email: str | None, *, email_verified: bool = True, name: str | None = None
    ) -> ExternalIdentity:
        return ExternalIdentity(
            provider=self.name,
            issuer=self.issuer,
            subject=subject,
            email=email,
            email_verified=email_verified,
            name=name,
        )

    async def authorization_url(self, *, state: str, nonce: str, code_challenge: str, redirect_uri: str) -> str:
        if not self.available:
            raise ExternalSignInError("the provider cannot be reached")
        self._authorizations[state] = _Authorization(nonce, code_challenge, redirect_uri)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
                "redirect_uri": redirect_uri,
            }
        )
        return f"{self.issuer}/authorize?{query}"

    def sign_in(self, authorization_url: str, identity: ExternalIdentity) -> tuple[str, str]:
        """The person signs in at the provider: the (code, state) the browser brings back to the callback."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url).query)
        state = query["state"][0]
        code = secrets.token_urlsafe(16)
        self._codes[code] = (self._authorizations[state], identity)
        return code, state

    async def exchange(self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str) -> ExternalIdentity:
        entry = self._codes.pop(code, None)
        if entry is None:
            raise ExternalSignInError("invalid_grant: the code is unknown or was already used")
        authorization, identity = entry
        if pkce_challenge(code_verifier) != authorization.code_challenge:
            raise ExternalSignInError("invalid_grant: PKCE verification failed")
        if nonce != authorization.nonce:
            raise ExternalSignInError("the ID token's nonce does not match")
        if redirect_uri != authorization.redirect_uri:
            raise ExternalSignInError("invalid_grant: redirect_uri mismatch")
        return identity

    def access_token(self, identity: ExternalIdentity) -> str:
        header = _b64json({"alg": "RS256", "typ": "JWT"})
        payload = _b64json({"iss": self.issuer, "sub": identity.subject, "aud": "elearning-api"})
        token = f"{header}.{payload}.{secrets.token_urlsafe(16)}"
        self._access_tokens[token] = identity
        return token

    async def verify_access_token(self, token: str) -> ExternalIdentity:
        identity = self._access_tokens.get(token)
        if identity is None:
            raise InvalidToken(detail="signature does not verify")
        return identity


class InMemoryResourceDirectory(ResourceDirectory):
    """ResourceDirectory over a FakeStore's committed courses and organizations, like SqlResourceDirectory."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        course = self._store.courses.get(course_id)
        if course is None:
            return None
        return ResourceRef(
            ScopeKind.COURSE, course_id, organization_id=course.organization_id, owner_id=course.owner_id
        )

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return organization_id in self._store.organizations


class SettableClock(FixedClock):
    """A FixedClock that can also be set to a moment (``advance`` moves it by a delta)."""

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware datetime")
        self._at = at

    def seconds(self) -> float:
        """The time as a float, for collaborators that take a seconds clock (FakeRateLimiter)."""
        return self._at.timestamp()


# -- the identity and auth services on the fakes ------------------------------------------

PASSWORD = "correct horse battery staple"


@dataclass
class IdentityPlatform:
    """IdentityService and AuthService on one FakeStore, every collaborator at hand to inspect or steer.

    ``clock`` drives the services, the token service and the rate limiter alike,
    so moving it expires links, sessions, access tokens and throttle windows together.
    """

    store: FakeStore
    clock: SettableClock
    hasher: FakePasswordHasher
    mailer: FakeMailer
    mail: MailQueue
    limiter: FakeRateLimiter
    tokens: FakeTokenService
    resources: InMemoryResourceDirectory
    providers: dict[str, FakeOidcProvider]
    identity: IdentityService
    auth: AuthService

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def mails_to(self, address: str) -> list[MailMessage]:
        """Every mail sent to ``address`` so far, once the queued ones have left."""
        await self.mail.drain()
        return self.mailer.to(address)

    async def add_user(
        self,
        email: str | None = None,
        *,
        password: str | None = PASSWORD,
        grants: Iterable[Grant] = (),
        verified: bool = False,
        display_name: str = "Ada Lovelace",
    ) -> User:
        """A committed, active user (events pulled) whose password is ``password``."""
        user = User.register(
            email=email or f"user-{uuid.uuid4().hex[:12]}@example.org",
            display_name=display_name,
            at=self.clock.now(),
            password_hash=self.hasher.hashed(password) if password is not None else None,
            email_verified=verified,
        )
        for grant in grants:
            user.grant(grant, self.clock.now(), by="test")
        user.pull_events()
        async with self.uow() as uow:
            uow.users.add(user)
            await uow.commit()
        return user

    async def add_organization(self, slug: str) -> Organization:
        organization = Organization.create(slug=slug, name=slug.title(), at=self.clock.now())
        organization.pull_events()
        async with self.uow() as uow:
            uow.organizations.add(organization)
            await uow.commit()
        return organization

    async def add_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
        async with self.uow() as uow:
            assert await uow.organizations.add_member(organization_id, user_id, self.clock.now())
            await uow.commit()

    async def add_course(self, *, organization_id: uuid.UUID | None = None, owner_id: UserId | None = None) -> Course:
        course = a_course(organization_id=organization_id, owner_id=owner_id, at=self.clock.now())
        async with self.uow() as uow:
            uow.courses.add(course)
            await uow.commit()
        return course

    def stored(self, user_id: uuid.UUID) -> User:
        """The committed state of a user."""
        return self.store.users[user_id]

    def sessions_of(self, user_id: uuid.UUID) -> list[LoginSession]:
        return [s for s in self.store.records["sessions"].values() if s.user_id == user_id]

    def active_sessions_of(self, user_id: uuid.UUID) -> list[LoginSession]:
        return [s for s in self.sessions_of(user_id) if s.active_at(self.clock.now())]

    @staticmethod
    def principal(user: User) -> Principal:
        """The principal a request signed in as ``user`` would carry (its grants at this moment)."""
        return user_principal(user.id, tuple(user.grants), None, email_verified=user.email_verified)


def an_identity_platform(
    *,
    identity_config: IdentityConfig | None = None,
    auth_config: AuthConfig | None = None,
    providers: Iterable[FakeOidcProvider] = (),
    at: datetime = T0,
) -> IdentityPlatform:
    store = FakeStore()
    clock = SettableClock(at)
    hasher = FakePasswordHasher()
    mailer = FakeMailer()
    mail = MailQueue(mailer)
    limiter = FakeRateLimiter(clock.seconds)
    tokens = FakeTokenService(clock, (auth_config or AuthConfig()).access_ttl)
    resources = InMemoryResourceDirectory(store)
    by_name = {p.name: p for p in providers}
    policy = RolePolicy()
    identity = IdentityService(
        lambda: FakeUnitOfWork(store),
        InMemoryUserQueries(store),
        hasher,
        mail,
        limiter,
        resources,
        clock,
        policy,
        CursorCodec(CURSOR_SECRET),
        identity_config,
    )
    auth = AuthService(
        lambda: FakeUnitOfWork(store),
        hasher,
        tokens,
        InMemoryPrincipalQueries(store),
        limiter,
        clock,
        by_name,
        auth_config,
    )
    return IdentityPlatform(store, clock, hasher, mailer, mail, limiter, tokens, resources, by_name, identity, auth)


# -- enrollment -------------------------------------------------------------------------
#
# The enrollment module's fakes keep a store of their own (courses as the enrollment
# module sees them: a ResourceRef and whether published; which users are active), so
# they stay independent of the course aggregate. Like the SQL adapter, a unit of work
# that calls ``enrollment_settings.lock(course)`` holds the course's lock until it ends,
# and its changes become visible to others only when it commits.
# (Their imports are here, apart from the shared block at the top.)

from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentPolicy  # noqa: E402
from elearning_core.enrollment.ports import (  # noqa: E402
    CourseLookup,
    EnrollmentUnitOfWork,
    LearnerLookup,
    PrerequisiteChecker,
)
from elearning_core.enrollment.queries import (  # noqa: E402
    EnrollmentFilter,
    EnrollmentQueries,
    EnrollmentView,
    LearnerEnrollmentView,
)
from elearning_core.enrollment.service import EnrollmentService  # noqa: E402


@dataclass
class EnrollmentStore:
    settings: dict[uuid.UUID, EnrollmentPolicy] = field(default_factory=dict)
    cohorts: dict[uuid.UUID, Cohort] = field(default_factory=dict)
    enrollments: dict[uuid.UUID, Enrollment] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    courses: dict[uuid.UUID, tuple[ResourceRef, bool]] = field(default_factory=dict)
    slugs: dict[str, uuid.UUID] = field(default_factory=dict)
    titles: dict[uuid.UUID, str] = field(default_factory=dict)
    active_users: set[uuid.UUID] = field(default_factory=set)
    locks: dict[uuid.UUID, asyncio.Lock] = field(default_factory=dict)
    holds: dict[str, tuple[uuid.UUID, uuid.UUID, datetime]] = field(default_factory=dict)
    """Seats held by checkouts: reference -> (course, user, until)."""

    def add_course(
        self,
        *,
        published: bool = True,
        owner_id: uuid.UUID | None = None,
        organization_id: uuid.UUID | None = None,
        slug: str | None = None,
    ) -> uuid.UUID:
        course_id = uuid.uuid4()
        ref = ResourceRef(ScopeKind.COURSE, course_id, organization_id=organization_id, owner_id=owner_id)
        self.courses[course_id] = (ref, published)
        self.slugs[slug or f"course-{course_id.hex[:8]}"] = course_id
        return course_id

    def add_user(self) -> uuid.UUID:
        user_id = uuid.uuid4()
        self.active_users.add(user_id)
        return user_id


class _FakeSettings:
    def __init__(self, uow: FakeEnrollmentUnitOfWork) -> None:
        self._uow = uow

    async def get(self, course_id: uuid.UUID) -> EnrollmentPolicy:
        staged = self._uow.staged_settings.get(course_id)
        return staged or self._uow.store.settings.get(course_id) or EnrollmentPolicy.default(course_id)

    async def lock(self, course_id: uuid.UUID) -> EnrollmentPolicy:
        await self._uow.lock_course(course_id)
        return await self.get(course_id)

    async def save(self, policy: EnrollmentPolicy) -> None:
        self._uow.staged_settings[policy.course_id] = policy


class _FakeCohorts:
    def __init__(self, uow: FakeEnrollmentUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> dict[uuid.UUID, Cohort]:
        merged: dict[uuid.UUID, Cohort | None] = {k: copy.copy(v) for k, v in self._uow.store.cohorts.items()}
        merged.update({k: copy.copy(v) for k, v in self._uow.staged_cohorts.items()})
        return {k: v for k, v in merged.items() if v is not None}

    async def get(self, cohort_id: uuid.UUID) -> Cohort | None:
        return self._all().get(cohort_id)

    async def lock(self, cohort_id: uuid.UUID) -> Cohort | None:
        return self._all().get(cohort_id)  # cohorts change only under their course's lock

    async def name_taken(self, course_id: uuid.UUID, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        return any(c.course_id == course_id and c.name == name and c.id != other_than for c in self._all().values())

    async def add(self, cohort: Cohort) -> None:
        if await self.name_taken(cohort.course_id, cohort.name):
            raise Conflict("the course already has a cohort with this name")
        self._uow.staged_cohorts[cohort.id] = copy.copy(cohort)

    async def save(self, cohort: Cohort) -> None:
        if await self.name_taken(cohort.course_id, cohort.name, other_than=cohort.id):
            raise Conflict("the course already has a cohort with this name")
        self._uow.staged_cohorts[cohort.id] = copy.copy(cohort)

    async def remove(self, cohort_id: uuid.UUID) -> None:
        self._uow.staged_cohorts[cohort_id] = None
        for enrollment in [*self._uow.store.enrollments.values(), *self._uow.seen.values()]:
            if enrollment.cohort_id == cohort_id:
                loaded = await self._uow.enrollments.get(enrollment.id)
                assert loaded is not None
                loaded.cohort_id = None

    async def list(self, course_id: uuid.UUID) -> builtins.list[Cohort]:
        found = [c for c in self._all().values() if c.course_id == course_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))


class _FakeEnrollments:
    def __init__(self, uow: FakeEnrollmentUnitOfWork) -> None:
        self._uow = uow

    async def get(self, enrollment_id: uuid.UUID) -> Enrollment | None:
        seen = self._uow.seen
        if enrollment_id not in seen:
            stored = self._uow.store.enrollments.get(enrollment_id)
            if stored is None:
                return None
            seen[enrollment_id] = copy.deepcopy(stored)
        return seen[enrollment_id]

    async def find(self, course_id: uuid.UUID, user_id: uuid.UUID) -> Enrollment | None:
        for enrollment in [*self._uow.seen.values(), *self._uow.store.enrollments.values()]:
            if enrollment.course_id == course_id and enrollment.user_id == user_id:
                return await self.get(enrollment.id)
        return None

    def add(self, enrollment: Enrollment) -> None:
        self._uow.seen[enrollment.id] = enrollment

    async def count_active(self, course_id: uuid.UUID, cohort_id: uuid.UUID | None = None) -> int:
        merged = {**self._uow.store.enrollments, **self._uow.seen}
        return sum(
            1
            for e in merged.values()
            if e.course_id == course_id and e.is_active and (cohort_id is None or e.cohort_id == cohort_id)
        )


class _FakeSeatHolds:
    """Staged like the other repositories: visible to others when the unit of work commits."""

    def __init__(self, uow: FakeEnrollmentUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> dict[str, tuple[uuid.UUID, uuid.UUID, datetime] | None]:
        return {**self._uow.store.holds, **self._uow.staged_holds}

    async def add(self, course_id: uuid.UUID, reference: str, user_id: uuid.UUID, until: datetime) -> None:
        if self._all().get(reference) is None:
            self._uow.staged_holds[reference] = (course_id, user_id, until)

    async def release(self, reference: str) -> bool:
        held = self._all().get(reference) is not None
        self._uow.staged_holds[reference] = None
        return held

    async def count_live(self, course_id: uuid.UUID, at: datetime, *, other_than: str | None = None) -> int:
        return sum(
            1
            for ref, hold in self._all().items()
            if hold is not None and hold[0] == course_id and hold[2] > at and ref != other_than
        )


class FakeEnrollmentUnitOfWork(EnrollmentUnitOfWork):
    """The enrollment module's unit of work over an EnrollmentStore (``EnrollmentUnitOfWork``)."""

    def __init__(self, store: EnrollmentStore) -> None:
        self.store = store
        self.committed = False
        self._reset()

    def _reset(self) -> None:
        self.staged_settings: dict[uuid.UUID, EnrollmentPolicy] = {}
        self.staged_cohorts: dict[uuid.UUID, Cohort | None] = {}
        self.staged_holds: dict[str, tuple[uuid.UUID, uuid.UUID, datetime] | None] = {}
        self.seen: dict[uuid.UUID, Enrollment] = {}
        self._held: list[asyncio.Lock] = []
        self.enrollment_settings = _FakeSettings(self)
        self.cohorts = _FakeCohorts(self)
        self.enrollments = _FakeEnrollments(self)
        self.seat_holds = _FakeSeatHolds(self)

    async def lock_course(self, course_id: uuid.UUID) -> None:
        lock = self.store.locks.setdefault(course_id, asyncio.Lock())
        if lock in self._held:
            return
        await lock.acquire()
        self._held.append(lock)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        keys: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = {}
        for e in [*self.store.enrollments.values(), *self.seen.values()]:
            if keys.setdefault((e.course_id, e.user_id), e.id) != e.id:
                raise Conflict("the learner is already enrolled in this course")
        self.store.settings.update(self.staged_settings)
        for cohort_id, cohort in self.staged_cohorts.items():
            if cohort is None:
                self.store.cohorts.pop(cohort_id, None)
            else:
                self.store.cohorts[cohort_id] = cohort
        for reference, hold in self.staged_holds.items():
            if hold is None:
                self.store.holds.pop(reference, None)
            else:
                self.store.holds[reference] = hold
        events = [e for enrollment in self.seen.values() for e in enrollment.pull_events()]
        self.store.enrollments.update({k: copy.deepcopy(v) for k, v in self.seen.items()})
        self.store.outbox.extend(events)
        self.committed = True
        await self.rollback()

    async def rollback(self) -> None:
        for lock in self._held:
            lock.release()
        self._reset()


class InMemoryEnrollmentQueries(EnrollmentQueries):
    def __init__(self, store: EnrollmentStore) -> None:
        self._store = store

    def _views(self) -> list[EnrollmentView]:
        return [EnrollmentView.of(e) for e in self._store.enrollments.values()]

    async def list_enrollments(
        self, course_id: uuid.UUID, where: EnrollmentFilter, after: uuid.UUID | None, limit: int
    ) -> list[EnrollmentView]:
        found = [
            v
            for v in self._views()
            if v.course_id == course_id
            and (where.status is None or v.status is where.status)
            and (where.cohort_id is None or v.cohort_id == where.cohort_id)
            and (after is None or v.id > after)
        ]
        return sorted(found, key=lambda v: v.id)[:limit]

    async def enrollments_of(
        self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[LearnerEnrollmentView]:
        slugs = {course_id: slug for slug, course_id in self._store.slugs.items()}
        mine = sorted(
            (v for v in self._views() if v.user_id == user_id and v.course_id in slugs),
            key=lambda v: (v.enrolled_at, v.id),
            reverse=True,
        )
        return [
            LearnerEnrollmentView(v, self._store.titles.get(v.course_id, slugs[v.course_id]), slugs[v.course_id])
            for v in mine
            if after is None or (v.enrolled_at, v.id) < after
        ][:limit]

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        return await self.enrolled_since(user_id, course_id) is not None

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        return next(
            (
                v.enrolled_at
                for v in self._views()
                if v.user_id == user_id and v.course_id == course_id and v.status.value != "unenrolled"
            ),
            None,
        )

    async def active_counts(self, course_id: uuid.UUID) -> tuple[int, dict[uuid.UUID, int]]:
        active = [v for v in self._views() if v.course_id == course_id and v.status.value == "active"]
        return len(active), dict(Counter(v.cohort_id for v in active if v.cohort_id is not None))


class _CoursesHeld(Protocol):
    courses: dict[uuid.UUID, tuple[ResourceRef, bool]]


class _StoredCourseDirectory(ResourceDirectory):
    """A store's courses (``id -> (ref, published)``) as other modules see them through their ports."""

    def __init__(self, store: _CoursesHeld) -> None:
        self._store = store

    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        found = self._store.courses.get(course_id)
        return found[0] if found else None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False

    async def published(self, course_id: uuid.UUID) -> bool:
        found = self._store.courses.get(course_id)
        return bool(found and found[1])


class InMemoryEnrollmentDirectory(_StoredCourseDirectory, CourseLookup, LearnerLookup, PrerequisiteChecker):
    """ResourceDirectory, CourseLookup, LearnerLookup and PrerequisiteChecker over an EnrollmentStore."""

    _store: EnrollmentStore

    def __init__(self, store: EnrollmentStore) -> None:
        super().__init__(store)

    async def id_by_slug(self, slug: str) -> uuid.UUID | None:
        return self._store.slugs.get(slug)

    async def active(self, user_id: uuid.UUID) -> bool:
        return user_id in self._store.active_users

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        return {
            e.course_id
            for e in self._store.enrollments.values()
            if e.user_id == user_id and e.course_id in course_ids and e.status.value == "completed"
        }


def an_enrollment_service(
    store: EnrollmentStore | None = None, *, clock: Clock | None = None, policy: Policy | None = None
) -> EnrollmentService:
    """An EnrollmentService on the enrollment fakes (a fresh unit of work per use case over one store)."""
    store = store if store is not None else EnrollmentStore()
    directory = InMemoryEnrollmentDirectory(store)
    return EnrollmentService(
        lambda: FakeEnrollmentUnitOfWork(store),
        InMemoryEnrollmentQueries(store),
        directory,
        directory,
        directory,
        directory,
        clock or FixedClock(T0),
        policy or RolePolicy(),
        CursorCodec(CURSOR_SECRET),
    )


class FakePatternMatcher(PatternMatcher):
    """The stdlib ``re`` without a time limit, for core unit tests. Patterns listed in ``slow`` raise
    ``PatternTimeout`` as the real matcher does past its limit, so the timeout path needs no real
    catastrophic backtracking (the contract suite checks that the real one raises it)."""

    def __init__(self, slow: Collection[str] = ()) -> None:
        self.slow = frozenset(slow)
        self.calls: list[tuple[str, str]] = []

    def problem(self, pattern: str) -> str | None:
        if len(pattern) > PATTERN_MAX:
            return f"the pattern is {len(pattern)} characters long; at most {PATTERN_MAX}"
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"the pattern does not compile: {exc}"
        return None

    def fullmatch(self, pattern: str, text: str, *, ignore_case: bool) -> bool:
        self.calls.append((pattern, text))
        if pattern in self.slow:
            raise PatternTimeout(f"the pattern {pattern!r} ran out of time")
        return re.fullmatch(pattern, text, re.IGNORECASE if ignore_case else 0) is not None


# -- assessment -------------------------------------------------------------------------
#
# The assessment fakes keep a store of their own, like the enrollment ones: courses as the
# module sees them (a ResourceRef and whether published), enrollments as (course, learner)
# pairs, and the bank, quizzes, attempts and grades as committed state. A unit of work works
# on private copies and applies them at commit, where the SQL schema's keys hold too: a second
# attempt with the same (quiz, learner, number), or a second one in progress, raises
# AttemptExists; a question or quiz changed by another unit of work since this one loaded it
# raises Conflict, and so does an attempt whose stored version moved meanwhile. As in
# SqlAttemptRepository, only what changed is written back: an attempt's own fields (with its
# version) when one of them changed, and the items that changed, so two autosaves of
# different items both stay while a save loaded before a submit fails. ``attempts.lock``
# (and ``using_question``) hold the attempt's lock until the unit of work ends, like
# FOR UPDATE, and read it again once taken. Leaving without ``commit()`` forgets every change.
# (Their imports are here, apart from the shared block at the top.)

import dataclasses  # noqa: E402

from elearning_core.assessment.model import (  # noqa: E402
    Attempt,
    AttemptStatus,
    Extension,
    GradingScheme,
    Question,
    QuestionVersion,
    Quiz,
    QuizGrade,
    QuizStatus,
)
from elearning_core.assessment.ports import (  # noqa: E402
    AssessmentUnitOfWork,
    AttemptExists,
    AttemptRepository,
    EnrollmentLookup,
    GradeRepository,
    QuestionRepository,
    QuizRepository,
)
from elearning_core.assessment.ports import CourseLookup as AssessmentCourseLookup  # noqa: E402
from elearning_core.assessment.queries import (  # noqa: E402
    AssessmentQueries,
    AttemptSummary,
    GradebookInputs,
    GradeCell,
    ItemScore,
    Learner,
    QuestionSummary,
    QueueEntry,
    QuizSummary,
)
from elearning_core.assessment.service import AssessmentService, attempt_summary, quiz_summary  # noqa: E402
from elearning_core.auth.model import Role, Scope  # noqa: E402
from elearning_core.auth.service import user_principal as _assessment_principal  # noqa: E402


@dataclass
class AssessmentStore:
    """The assessment module's committed state (the fake's database)."""

    questions: dict[uuid.UUID, Question] = field(default_factory=dict)
    question_versions: dict[tuple[uuid.UUID, int], QuestionVersion] = field(default_factory=dict)
    quizzes: dict[uuid.UUID, Quiz] = field(default_factory=dict)
    extensions: dict[tuple[uuid.UUID, uuid.UUID], Extension] = field(default_factory=dict)
    attempts: dict[uuid.UUID, Attempt] = field(default_factory=dict)
    grades: dict[tuple[uuid.UUID, uuid.UUID], QuizGrade] = field(default_factory=dict)
    schemes: dict[uuid.UUID, GradingScheme] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    courses: dict[uuid.UUID, tuple[ResourceRef, bool]] = field(default_factory=dict)
    enrolled: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    """(course id, user id) of active or completed enrollments."""
    learners: dict[uuid.UUID, Learner] = field(default_factory=dict)
    locks: dict[uuid.UUID, asyncio.Lock] = field(default_factory=dict)
    commits: int = 0

    def add_course(
        self, *, published: bool = True, owner_id: uuid.UUID | None = None, organization_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        course_id = uuid.uuid4()
        ref = ResourceRef(ScopeKind.COURSE, course_id, organization_id=organization_id, owner_id=owner_id)
        self.courses[course_id] = (ref, published)
        return course_id

    def enroll(self, course_id: uuid.UUID, user_id: uuid.UUID | None = None, *, name: str | None = None) -> uuid.UUID:
        user_id = user_id or uuid.uuid4()
        self.enrolled.add((course_id, user_id))
        label = name or f"Learner {user_id.hex[:6]}"
        self.learners.setdefault(user_id, Learner(user_id, label, f"{user_id.hex[:8]}@example.test"))
        return user_id

    def events(self, *types: type[DomainEvent]) -> list[DomainEvent]:
        """The committed events, of the given types when any are given."""
        return [e for e in self.outbox if not types or isinstance(e, types)]


def _assessment_stored(aggregate: Any) -> Any:
    """A private copy of an aggregate as committed state (no pending events or versions)."""
    stored = copy.deepcopy(aggregate)
    stored.pull_events()
    if isinstance(stored, Question):
        stored.pull_new_versions()
    return stored


def _fields_of(value: Any) -> tuple[Any, ...]:
    """A dataclass's public fields as a comparable tuple (the aggregates compare by identity)."""
    return tuple(getattr(value, f.name) for f in dataclasses.fields(value) if not f.name.startswith("_"))


def _attempt_changes(attempt: Attempt, before: Attempt) -> tuple[bool, list[int]]:
    """Whether the attempt's own fields (its version aside) changed since load, and which items did."""
    own = [
        f.name for f in dataclasses.fields(Attempt) if f.name not in ("items", "version") and not f.name.startswith("_")
    ]
    row_changed = any(getattr(attempt, name) != getattr(before, name) for name in own)
    items = [
        i
        for i, (now, then) in enumerate(zip(attempt.items, before.items, strict=False))
        if _fields_of(now) != _fields_of(then)
    ]
    return row_changed, items


class InMemoryQuestionRepository(QuestionRepository):
    def __init__(self, uow: FakeAssessmentUnitOfWork) -> None:
        self._uow = uow

    async def get(self, question_id: uuid.UUID) -> Question | None:
        return await self._uow.load(self._uow.questions_seen, self._uow.store.questions, question_id)

    def add(self, question: Question) -> None:
        self._uow.questions_seen[question.id] = question

    def _live(self) -> dict[uuid.UUID, Question]:
        return {**self._uow.store.questions, **self._uow.questions_seen}

    async def versions(self, refs: Collection[tuple[uuid.UUID, int]]) -> dict[tuple[uuid.UUID, int], QuestionVersion]:
        await asyncio.sleep(0)
        found = {ref: v for ref in refs if (v := self._uow.store.question_versions.get(ref)) is not None}
        for question in self._uow.questions_seen.values():
            ref = (question.id, question.current.version)
            if ref in refs:
                found[ref] = question.current
        return found

    async def current(self, question_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, QuestionVersion]:
        live = self._live()
        return {q: live[q].current for q in question_ids if q in live and not live[q].archived}

    async def tagged(self, course_id: uuid.UUID, tags: Collection[str]) -> builtins.list[uuid.UUID]:
        wanted = set(tags)
        return sorted(
            q.id
            for q in self._live().values()
            if q.course_id == course_id and not q.archived and wanted <= set(q.current.tags)
        )


class InMemoryQuizRepository(QuizRepository):
    def __init__(self, uow: FakeAssessmentUnitOfWork) -> None:
        self._uow = uow

    async def get(self, quiz_id: uuid.UUID) -> Quiz | None:
        return await self._uow.load(self._uow.quizzes_seen, self._uow.store.quizzes, quiz_id)

    def add(self, quiz: Quiz) -> None:
        self._uow.quizzes_seen[quiz.id] = quiz

    async def extension(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> Extension | None:
        key = (quiz_id, user_id)
        if key in self._uow.staged_extensions:
            return self._uow.staged_extensions[key]
        return self._uow.store.extensions.get(key)

    async def put_extension(self, extension: Extension) -> None:
        self._uow.staged_extensions[(extension.quiz_id, extension.user_id)] = extension

    async def remove_extension(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        existed = await self.extension(quiz_id, user_id) is not None
        self._uow.staged_extensions[(quiz_id, user_id)] = None
        return existed


class InMemoryAttemptRepository(AttemptRepository):
    def __init__(self, uow: FakeAssessmentUnitOfWork) -> None:
        self._uow = uow

    async def get(self, attempt_id: uuid.UUID) -> Attempt | None:
        return await self._uow.load(self._uow.attempts_seen, self._uow.store.attempts, attempt_id)

    async def lock(self, attempt_id: uuid.UUID) -> Attempt | None:
        await self._uow.hold(attempt_id)
        mine, before = self._uow.attempts_seen.get(attempt_id), self._uow.snapshots.get(attempt_id)
        if mine is not None and isinstance(before, Attempt) and not _attempt_changes(mine, before)[0]:
            del self._uow.attempts_seen[attempt_id]  # read before the lock, unchanged: read again, as FOR UPDATE does
        return await self.get(attempt_id)

    def add(self, attempt: Attempt) -> None:
        self._uow.attempts_seen[attempt.id] = attempt

    def _live(self) -> dict[uuid.UUID, Attempt]:
        return {**self._uow.store.attempts, **self._uow.attempts_seen}

    async def of_learner(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> builtins.list[Attempt]:
        await asyncio.sleep(0)
        ids = [a.id for a in self._live().values() if a.quiz_id == quiz_id and a.user_id == user_id]
        found = [a for i in ids if (a := await self.get(i)) is not None]
        return sorted(found, key=lambda a: a.number)

    async def using_question(self, question_id: uuid.UUID) -> builtins.list[Attempt]:
        ids = sorted(
            a.id
            for a in self._live().values()
            if a.status is not AttemptStatus.IN_PROGRESS and any(i.question_id == question_id for i in a.items)
        )
        found = [a for i in ids if (a := await self.lock(i)) is not None]
        return [a for a in found if a.status is not AttemptStatus.IN_PROGRESS]

    async def expired(self, before: uuid.UUID | None, limit: int, now: datetime) -> builtins.list[uuid.UUID]:
        ids = sorted(
            a.id for a in self._uow.store.attempts.values() if a.expired(now) and (before is None or a.id > before)
        )
        return ids[:limit]


class InMemoryGradeRepository(GradeRepository):
    def __init__(self, uow: FakeAssessmentUnitOfWork) -> None:
        self._uow = uow

    async def put(self, grade: QuizGrade) -> None:
        self._uow.staged_grades[(grade.quiz_id, grade.user_id)] = grade

    async def scheme(self, course_id: uuid.UUID) -> GradingScheme:
        staged = self._uow.staged_schemes.get(course_id)
        return staged or self._uow.store.schemes.get(course_id) or GradingScheme(course_id)

    async def save_scheme(self, scheme: GradingScheme) -> None:
        self._uow.staged_schemes[scheme.course_id] = scheme


_A = TypeVar("_A", Question, Quiz, Attempt)


class FakeAssessmentUnitOfWork(AssessmentUnitOfWork):
    """The assessment module's unit of work over an AssessmentStore (``AssessmentUnitOfWork``)."""

    questions: InMemoryQuestionRepository
    quizzes: InMemoryQuizRepository
    attempts: InMemoryAttemptRepository
    grades: InMemoryGradeRepository

    def __init__(self, store: AssessmentStore) -> None:
        self.store = store
        self.committed = False
        self._reset()

    def _reset(self) -> None:
        self.questions_seen: dict[uuid.UUID, Question] = {}
        self.quizzes_seen: dict[uuid.UUID, Quiz] = {}
        self.attempts_seen: dict[uuid.UUID, Attempt] = {}
        self.snapshots: dict[uuid.UUID, Question | Quiz | Attempt] = {}
        """Each loaded aggregate as it was read, to write back only what changed."""
        self.staged_extensions: dict[tuple[uuid.UUID, uuid.UUID], Extension | None] = {}
        self.staged_grades: dict[tuple[uuid.UUID, uuid.UUID], QuizGrade] = {}
        self.staged_schemes: dict[uuid.UUID, GradingScheme] = {}
        self._held: list[asyncio.Lock] = []
        self.questions = InMemoryQuestionRepository(self)
        self.quizzes = InMemoryQuizRepository(self)
        self.attempts = InMemoryAttemptRepository(self)
        self.grades = InMemoryGradeRepository(self)

    async def load(self, seen: dict[uuid.UUID, _A], stored: Mapping[uuid.UUID, _A], key: uuid.UUID) -> _A | None:
        """The aggregate as this unit sees it: loaded once (a copy of the store's), with a snapshot
        of how it was read, so commit writes back only what changed."""
        await asyncio.sleep(0)  # a read is I/O: let concurrent units of work interleave, as on a database
        if key not in seen:
            found = stored.get(key)
            if found is None:
                return None
            seen[key] = copy.deepcopy(found)
            self.snapshots[key] = copy.deepcopy(found)
        return seen[key]

    async def hold(self, attempt_id: uuid.UUID) -> None:
        lock = self.store.locks.setdefault(attempt_id, asyncio.Lock())
        if lock not in self._held:
            await lock.acquire()
            self._held.append(lock)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        store = self.store
        attempts = self._attempt_writes()
        questions, versions = self._question_writes()
        quizzes = self._quiz_writes()
        aggregates: list[Question | Quiz | Attempt] = [
            *self.questions_seen.values(),
            *self.quizzes_seen.values(),
            *self.attempts_seen.values(),
        ]
        events = [e for aggregate in aggregates for e in aggregate.pull_events()]
        store.question_versions.update(versions)
        store.questions.update(questions)
        store.quizzes.update(quizzes)
        store.attempts.update(attempts)
        for key, extension in self.staged_extensions.items():
            if extension is None:
                store.extensions.pop(key, None)
            else:
                store.extensions[key] = extension
        store.grades.update(self.staged_grades)
        store.schemes.update(self.staged_schemes)
        store.outbox.extend(events)
        store.commits += 1
        self.committed = True
        await self.rollback()

    def _attempt_writes(self) -> dict[uuid.UUID, Attempt]:
        """The attempts to store: new ones (unique keys checked) and the changed parts of loaded ones."""
        store, writes = self.store, {}
        numbers = {(a.quiz_id, a.user_id, a.number): a.id for a in store.attempts.values()}
        running = {
            (a.quiz_id, a.user_id): a.id for a in store.attempts.values() if a.status is AttemptStatus.IN_PROGRESS
        }
        for attempt in self.attempts_seen.values():
            before = self.snapshots.get(attempt.id)
            if not isinstance(before, Attempt):
                key = (attempt.quiz_id, attempt.user_id)
                if attempt.id in store.attempts or numbers.setdefault((*key, attempt.number), attempt.id) != attempt.id:
                    raise AttemptExists(f"attempt {attempt.number} of this learner at this quiz exists already")
                if attempt.status is AttemptStatus.IN_PROGRESS and running.setdefault(key, attempt.id) != attempt.id:
                    raise AttemptExists("this learner has an attempt at this quiz in progress already")
                writes[attempt.id] = _assessment_stored(attempt)
                continue
            row_changed, items_changed = _attempt_changes(attempt, before)
            if not row_changed and not items_changed:
                continue
            stored = store.attempts[attempt.id]
            if stored.version != before.version:
                raise Conflict("the attempt was changed by someone else meanwhile; try again")
            merged = copy.deepcopy(stored)
            if row_changed:
                for f in dataclasses.fields(Attempt):
                    if f.name != "items" and not f.name.startswith("_"):
                        setattr(merged, f.name, copy.deepcopy(getattr(attempt, f.name)))
            for index in items_changed:
                merged.items[index] = copy.deepcopy(attempt.items[index])
            if row_changed and attempt.status is AttemptStatus.IN_PROGRESS:
                key = (attempt.quiz_id, attempt.user_id)
                if running.setdefault(key, attempt.id) != attempt.id:
                    raise AttemptExists("this learner has an attempt at this quiz in progress already")
            elif row_changed and running.get((attempt.quiz_id, attempt.user_id)) == attempt.id:
                del running[(attempt.quiz_id, attempt.user_id)]
            writes[attempt.id] = merged
        return writes

    def _question_writes(
        self,
    ) -> tuple[dict[uuid.UUID, Question], dict[tuple[uuid.UUID, int], QuestionVersion]]:
        store = self.store
        heads: dict[uuid.UUID, Question] = {}
        versions: dict[tuple[uuid.UUID, int], QuestionVersion] = {}
        for question in self.questions_seen.values():
            before = self.snapshots.get(question.id)
            new = question.pull_new_versions()
            for version in new:
                ref = (question.id, version.version)
                if ref in store.question_versions or ref in versions:
                    raise Conflict("the question was changed by someone else meanwhile; try again")
                versions[ref] = version
            if isinstance(before, Question):
                if not new and _fields_of(question) == _fields_of(before):
                    continue
                stored = store.questions[question.id]
                if (stored.current.version, stored.updated_at) != (before.current.version, before.updated_at):
                    raise Conflict("the question was changed by someone else meanwhile; try again")
            heads[question.id] = _assessment_stored(question)
        return heads, versions

    def _quiz_writes(self) -> dict[uuid.UUID, Quiz]:
        writes: dict[uuid.UUID, Quiz] = {}
        for quiz in self.quizzes_seen.values():
            before = self.snapshots.get(quiz.id)
            if isinstance(before, Quiz):
                if _fields_of(quiz) == _fields_of(before):
                    continue
                if self.store.quizzes[quiz.id].updated_at != before.updated_at:
                    raise Conflict("the quiz was changed by someone else meanwhile; try again")
            writes[quiz.id] = _assessment_stored(quiz)
        return writes

    async def rollback(self) -> None:
        for lock in self._held:
            lock.release()
        self._reset()


def _sort_due(quiz: QuizSummary) -> tuple[bool, datetime, str]:
    return (quiz.due_at is None, quiz.due_at or datetime.max.replace(tzinfo=UTC), quiz.title)


class InMemoryAssessmentQueries(AssessmentQueries):
    """The query port over an AssessmentStore's committed state."""

    def __init__(self, store: AssessmentStore) -> None:
        self._store = store

    async def questions(
        self, course_id: uuid.UUID, tag: str | None, include_archived: bool, after: uuid.UUID | None, limit: int
    ) -> list[QuestionSummary]:
        found = [
            QuestionSummary(
                q.id,
                q.course_id,
                q.current.version,
                q.current.kind,
                q.current.prompt,
                q.current.points,
                q.current.tags,
                q.archived,
                q.updated_at,
            )
            for q in self._store.questions.values()
            if q.course_id == course_id
            and (include_archived or not q.archived)
            and (tag is None or tag in q.current.tags)
            and (after is None or q.id > after)
        ]
        return sorted(found, key=lambda s: s.id)[:limit]

    async def quizzes(self, course_id: uuid.UUID, published_only: bool) -> list[QuizSummary]:
        found = [
            quiz_summary(q)
            for q in self._store.quizzes.values()
            if q.course_id == course_id and (not published_only or q.status is QuizStatus.PUBLISHED)
        ]
        return sorted(found, key=_sort_due)

    async def attempts(
        self, quiz_id: uuid.UUID, user_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
    ) -> list[AttemptSummary]:
        found = [
            attempt_summary(a)
            for a in self._store.attempts.values()
            if a.quiz_id == quiz_id and (user_id is None or a.user_id == user_id) and (after is None or a.id > after)
        ]
        return sorted(found, key=lambda s: s.id)[:limit]

    async def grading_queue(
        self, course_id: uuid.UUID, quiz_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID, int] | None, limit: int
    ) -> list[QueueEntry]:
        entries = [
            QueueEntry(
                a.id,
                a.quiz_id,
                self._store.quizzes[a.quiz_id].title,
                a.user_id,
                i.question_id,
                i.position,
                i.grading_note,
                a.submitted_at,
            )
            for a in self._store.attempts.values()
            if a.course_id == course_id
            and a.status is AttemptStatus.SUBMITTED
            and a.submitted_at is not None
            and (quiz_id is None or a.quiz_id == quiz_id)
            for i in a.items
            if i.needs_grading
        ]
        entries.sort(key=lambda e: (e.submitted_at, e.attempt_id, e.position))
        if after is not None:
            entries = [e for e in entries if (e.submitted_at, e.attempt_id, e.position) > after]
        return entries[:limit]

    async def gradebook_inputs(self, course_id: uuid.UUID) -> GradebookInputs:
        return self._inputs(course_id, None)

    async def learner_grades(self, course_id: uuid.UUID, user_id: uuid.UUID) -> GradebookInputs:
        return self._inputs(course_id, user_id)

    def _inputs(self, course_id: uuid.UUID, only: uuid.UUID | None) -> GradebookInputs:
        store = self._store
        quizzes = sorted(
            (
                quiz_summary(q)
                for q in store.quizzes.values()
                if q.course_id == course_id and q.status is QuizStatus.PUBLISHED
            ),
            key=_sort_due,
        )
        ids = {q.id for q in quizzes}
        learners = sorted(
            (
                store.learners.get(u) or Learner(u, str(u), "")
                for c, u in store.enrolled
                if c == course_id and (only is None or u == only)
            ),
            key=lambda learner: (learner.display_name, learner.user_id),
        )
        grades = [
            GradeCell(g.user_id, g.quiz_id, g.percent, g.attempts, g.pending)
            for g in store.grades.values()
            if g.quiz_id in ids and (only is None or g.user_id == only)
        ]
        scheme = store.schemes.get(course_id) or GradingScheme(course_id)
        closes = {
            key: e.closes_at
            for key, e in store.extensions.items()
            if key[0] in ids and (only is None or key[1] == only)
        }
        return GradebookInputs(quizzes, learners, grades, list(scheme.categories), closes)

    async def item_scores(self, quiz_id: uuid.UUID) -> list[ItemScore]:
        return [
            ItemScore(a.id, i.question_id, i.score, i.points)
            for a in sorted(self._store.attempts.values(), key=lambda a: a.id)
            if a.quiz_id == quiz_id and a.status is AttemptStatus.GRADED
            for i in a.items
            if i.score is not None
        ]


class InMemoryAssessmentDirectory(_StoredCourseDirectory, AssessmentCourseLookup, EnrollmentLookup):
    """ResourceDirectory, CourseLookup and EnrollmentLookup over an AssessmentStore."""

    _store: AssessmentStore

    def __init__(self, store: AssessmentStore) -> None:
        super().__init__(store)

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        return (course_id, user_id) in self._store.enrolled

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        """The store keeps no dates: an enrollment counts from long before any test's clock."""
        return ENROLLED_LONG_AGO if (course_id, user_id) in self._store.enrolled else None


@dataclass
class AssessmentPlatform:
    """An AssessmentService on the assessment fakes, with its store, clock and matcher at hand."""

    store: AssessmentStore
    clock: SettableClock
    matcher: FakePatternMatcher
    service: AssessmentService

    def course(self, *, published: bool = True) -> uuid.UUID:
        return self.store.add_course(published=published)

    def learner(self, course_id: uuid.UUID, *, name: str | None = None) -> Principal:
        """A signed-in learner enrolled in the course."""
        return _assessment_principal(self.store.enroll(course_id, name=name), (), None)

    def outsider(self) -> Principal:
        """A signed-in user enrolled nowhere."""
        return _assessment_principal(uuid.uuid4(), (), None)

    def instructor(self, course_id: uuid.UUID) -> Principal:
        return _assessment_principal(uuid.uuid4(), (Grant(Role.INSTRUCTOR, Scope.course(course_id)),), None)

    def assistant(self, course_id: uuid.UUID) -> Principal:
        return _assessment_principal(uuid.uuid4(), (Grant(Role.TEACHING_ASSISTANT, Scope.course(course_id)),), None)


def an_assessment_platform(
    *,
    store: AssessmentStore | None = None,
    clock: SettableClock | None = None,
    matcher: FakePatternMatcher | None = None,
    policy: Policy | None = None,
) -> AssessmentPlatform:
    """An AssessmentService on the fakes: a fresh unit of work per use case over one store."""
    store = store if store is not None else AssessmentStore()
    clock = clock or SettableClock(T0)
    matcher = matcher or FakePatternMatcher()
    directory = InMemoryAssessmentDirectory(store)
    service = AssessmentService(
        lambda: FakeAssessmentUnitOfWork(store),
        InMemoryAssessmentQueries(store),
        directory,
        directory,
        directory,
        matcher,
        clock,
        policy or RolePolicy(),
        CursorCodec(CURSOR_SECRET),
    )
    return AssessmentPlatform(store, clock, matcher, service)
