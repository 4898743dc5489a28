"""Roles, permissions and scoped grants, and the one policy that decides with them.

A grant gives a role on a scope: the whole platform, one organization, or one
course. A resource names the scopes it lives in, innermost first (a course
lives in its course scope, its organization's scope and the platform), and a
grant applies when its scope is one of them. So an instructor granted on
course A edits A and nothing else, an organization admin manages every course
of the organization, and a platform admin everything.

``RolePolicy.authorize`` answers with a ``Decision`` whose reason names the
grant that allowed it, or says why nothing did: the same text the use cases
raise in ``PermissionDenied`` and ``GET /me/permissions`` will show.

Two rules keep "instructors edit only their courses" true:

- an instructor granted on the platform or an organization may *create*
  courses there (``permissions_of``), nothing more; the course-level
  permissions come from a grant on the course itself;
- the owner of a course (``Owned``) holds an implicit instructor grant on it,
  so a course an instructor creates is theirs to edit at once.

One permission is not a role's to give: ``PARTICIPATE`` (act as a member of
the community: enroll on one's own, and later post) is decided by the
account's state. With the platform's ``require_verified_email`` rule on, a
user holds it once their email is verified; service accounts always do.
Every module that needs the rule calls ``require_participation`` with its
policy, so the rule and its refusal (``EmailVerificationRequired``) live here.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from elearning_core.shared.errors import EmailVerificationRequired, PermissionDenied
from elearning_core.shared.ports import Decision, Policy, Principal


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    ORGANIZATION_ADMIN = "organization_admin"
    INSTRUCTOR = "instructor"
    TEACHING_ASSISTANT = "teaching_assistant"
    LEARNER = "learner"


class ScopeKind(enum.StrEnum):
    PLATFORM = "platform"
    ORGANIZATION = "organization"
    COURSE = "course"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if (self.kind is ScopeKind.PLATFORM) != (self.id is None):
            raise ValueError("the platform scope has no id; organization and course scopes need one")

    def __str__(self) -> str:
        return "the platform" if self.id is None else f"{self.kind.value} {self.id}"

    @classmethod
    def organization(cls, organization_id: uuid.UUID) -> Scope:
        return cls(ScopeKind.ORGANIZATION, organization_id)

    @classmethod
    def course(cls, course_id: uuid.UUID) -> Scope:
        return cls(ScopeKind.COURSE, course_id)


PLATFORM = Scope(ScopeKind.PLATFORM)

# Which roles may be granted where: a course role on the platform would be a platform role in disguise.
GRANTABLE_ON: dict[Role, frozenset[ScopeKind]] = {
    Role.PLATFORM_ADMIN: frozenset({ScopeKind.PLATFORM}),
    Role.ORGANIZATION_ADMIN: frozenset({ScopeKind.ORGANIZATION}),
    Role.INSTRUCTOR: frozenset({ScopeKind.PLATFORM, ScopeKind.ORGANIZATION, ScopeKind.COURSE}),
    Role.TEACHING_ASSISTANT: frozenset({ScopeKind.ORGANIZATION, ScopeKind.COURSE}),
    Role.LEARNER: frozenset({ScopeKind.PLATFORM, ScopeKind.ORGANIZATION, ScopeKind.COURSE}),
}


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    scope: Scope = PLATFORM

    def __post_init__(self) -> None:
        if self.scope.kind not in GRANTABLE_ON[self.role]:
            raise ValueError(f"the {self.role.value} role cannot be granted on {self.scope.kind.value} scope")

    def __str__(self) -> str:
        return f"{self.role.value} on {self.scope}"


class Permission(enum.StrEnum):
    COURSE_CREATE = "course.create"
    COURSE_EDIT = "course.edit"
    COURSE_PUBLISH = "course.publish"
    COURSE_DELETE = "course.delete"
    COURSE_VIEW_UNPUBLISHED = "course.view_unpublished"
    ENROLLMENT_MANAGE = "enrollment.manage"
    GRADE_VIEW_ALL = "grade.view_all"
    GRADE_EDIT = "grade.edit"
    USER_MANAGE = "user.manage"
    ORGANIZATION_MANAGE = "organization.manage"
    ROLE_GRANT = "role.grant"
    BILLING_MANAGE = "billing.manage"


_COURSE_STAFF = frozenset({Permission.COURSE_VIEW_UNPUBLISHED, Permission.GRADE_VIEW_ALL, Permission.GRADE_EDIT})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: frozenset(Permission),
    Role.ORGANIZATION_ADMIN: frozenset(Permission) - {Permission.ORGANIZATION_MANAGE, Permission.BILLING_MANAGE},
    Role.INSTRUCTOR: _COURSE_STAFF
    | {
        Permission.COURSE_CREATE,
        Permission.COURSE_EDIT,
        Permission.COURSE_PUBLISH,
        Permission.COURSE_DELETE,
        Permission.ENROLLMENT_MANAGE,
    },
    Role.TEACHING_ASSISTANT: _COURSE_STAFF,
    Role.LEARNER: frozenset(),
}
"""What each role may do within the scope it is granted on. Learners act on their own records,
which the use cases check by ownership, not by permission."""


_BROAD_SCOPE_LIMITS: dict[Role, frozenset[Permission]] = {
    Role.INSTRUCTOR: frozenset({Permission.COURSE_CREATE}),
    Role.LEARNER: frozenset(),
}


def permissions_of(grant: Grant) -> frozenset[Permission]:
    """What ``grant`` allows on the resources within its scope.

    A course role granted more broadly than one course (an instructor of the
    platform or of an organization) allows creating courses there, and not
    editing everyone else's: course-level rights need the course's own grant
    or its ownership.
    """
    permissions = ROLE_PERMISSIONS[grant.role]
    if grant.scope.kind is not ScopeKind.COURSE and grant.role in _BROAD_SCOPE_LIMITS:
        return permissions & _BROAD_SCOPE_LIMITS[grant.role]
    return permissions


COURSE_STAFF = Permission.COURSE_VIEW_UNPUBLISHED
"""The permission that makes a principal a course's staff (its discussion, its entitlement, search's drafts)."""


def staff_roles_on(kind: ScopeKind) -> tuple[Role, ...]:
    """The roles that, granted on a ``kind`` scope, make their holder staff of the courses within it (what SQL
    reads of who is staff must match): an organization's admin and teaching assistant, not its instructor."""
    scope = PLATFORM if kind is ScopeKind.PLATFORM else Scope(kind, uuid.UUID(int=0))
    return tuple(
        role
        for role, kinds in GRANTABLE_ON.items()
        if kind in kinds and COURSE_STAFF in permissions_of(Grant(role, scope))
    )


@runtime_checkable
class Owned(Protocol):
    """A resource with an owner (a course and its instructor who created it)."""

    @property
    def owner_id(self) -> uuid.UUID | None: ...


@runtime_checkable
class Scoped(Protocol):
    """A resource that says where it lives, innermost scope first (the platform is implied)."""

    def authorization_scopes(self) -> tuple[Scope, ...]: ...


def scopes_of(resource: object | None) -> tuple[Scope, ...]:
    """The scopes a grant may be on to reach ``resource``; the platform always, the resource's own too."""
    own = resource.authorization_scopes() if isinstance(resource, Scoped) else ()
    return (*own, PLATFORM) if PLATFORM not in own else own


LEGACY_ADMIN_ROLE = "admin"
"""The service accounts' role until identity lands (admin token, CLI, scripts): a platform admin."""


def _carried_grants(principal: Principal) -> Iterable[Grant]:
    return [g for g in principal.grants if isinstance(g, Grant)]


def owner_grant(principal: Principal, resource: object | None) -> Grant | None:
    """The implicit instructor grant of a course's owner on that course, if ``principal`` owns ``resource``."""
    if principal.user_id is None or not isinstance(resource, Owned) or not isinstance(resource, Scoped):
        return None
    if resource.owner_id != principal.user_id:
        return None
    own = [s for s in resource.authorization_scopes() if s.kind is ScopeKind.COURSE]
    return Grant(Role.INSTRUCTOR, own[0]) if own else None


PARTICIPATE = "account.participate"
"""Enroll on one's own (and post, once discussion lands): decided by the account's state, not by a role."""
VERIFY_FIRST = "confirm your email address first (the link in the mail; POST /api/v1/auth/verify-email/resend)"


class RolePolicy:
    """The ``Policy`` port, decided by the principal's grants.

    ``grants_of`` looks them up; by default they are the ones the principal
    carries (loaded once when the request was authenticated).
    ``require_verified_email`` is the platform's rule for ``PARTICIPATE``.
    """

    def __init__(
        self,
        grants_of: Callable[[Principal], Iterable[Grant]] = _carried_grants,
        *,
        require_verified_email: bool = True,
    ) -> None:
        self._grants_of = grants_of
        self._require_verified_email = require_verified_email

    def authorize(self, principal: Principal, permission: str, resource: object | None = None) -> Decision:
        if permission == PARTICIPATE:
            return self._participation(principal)
        try:
            wanted = Permission(permission)
        except ValueError:
            return Decision(False, f"unknown permission {permission}")
        if principal.is_anonymous:
            return Decision(False, "authentication required")
        grants = list(self._grants_of(principal))
        if principal.has_role(LEGACY_ADMIN_ROLE):
            grants.insert(0, Grant(Role.PLATFORM_ADMIN))
        reachable = scopes_of(resource)
        for grant in grants:
            if wanted in permissions_of(grant) and grant.scope in reachable:
                return Decision(True, f"{grant} grants {wanted.value}")
        owned = owner_grant(principal, resource)
        if owned is not None and wanted in permissions_of(owned):
            return Decision(True, f"owner of {owned.scope}: {owned.role.value} grants {wanted.value}")
        where = reachable[0]
        if not grants:
            return Decision(False, f"no role grants {wanted.value} on {where}: the principal holds no role")
        return Decision(False, f"no role grants {wanted.value} on {where}")

    def _participation(self, principal: Principal) -> Decision:
        if principal.is_anonymous:
            return Decision(False, "authentication required")
        if principal.user_id is None:
            return Decision(True, "a service account acts for the platform")
        if principal.email_verified:
            return Decision(True, "the account's email address is verified")
        if not self._require_verified_email:
            return Decision(True, "the platform does not require a verified email address")
        return Decision(False, VERIFY_FIRST)


def require_participation(policy: Policy, principal: Principal, action: str) -> None:
    """Refuse ``action`` unless the policy lets the principal take part (the verified-email rule).

    An unverified user gets ``EmailVerificationRequired`` (a refusal they can lift themselves);
    any other refusal is a plain ``PermissionDenied``.
    """
    decision = policy.authorize(principal, PARTICIPATE)
    if decision.allowed:
        return
    if principal.user_id is not None and not principal.email_verified:
        raise EmailVerificationRequired(action, decision.reason)
    raise PermissionDenied(action, decision.reason)


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A resource as the policy sees it, for checks made outside its own module
    (granting a course role, explaining permissions): its scopes and its owner."""

    kind: ScopeKind
    id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None

    def authorization_scopes(self) -> tuple[Scope, ...]:
        if self.kind is ScopeKind.PLATFORM or self.id is None:
            return ()
        own = Scope(self.kind, self.id)
        if self.organization_id is not None and self.kind is ScopeKind.COURSE:
            return (own, Scope.organization(self.organization_id))
        return (own,)

    def __str__(self) -> str:
        return "the platform" if self.id is None else f"{self.kind.value} {self.id}"
