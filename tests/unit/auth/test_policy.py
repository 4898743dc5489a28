"""The role policy: scoped grants, named permissions, decisions that say why."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.auth.model import (
    GRANTABLE_ON,
    PARTICIPATE,
    PLATFORM,
    Grant,
    Permission,
    Role,
    RolePolicy,
    Scope,
    ScopeKind,
    permissions_of,
    require_participation,
    scopes_of,
)
from elearning_core.shared.errors import EmailVerificationRequired, PermissionDenied
from elearning_core.shared.ports import ANONYMOUS, SYSTEM, Principal

ORG_A, ORG_B = uuid.UUID(int=1), uuid.UUID(int=2)
COURSE_1, COURSE_2, COURSE_3 = uuid.UUID(int=11), uuid.UUID(int=12), uuid.UUID(int=13)


@dataclass(frozen=True)
class FakeCourse:
    id: uuid.UUID
    organization_id: uuid.UUID | None

    def authorization_scopes(self) -> tuple[Scope, ...]:
        scopes = [Scope.course(self.id)]
        if self.organization_id is not None:
            scopes.append(Scope.organization(self.organization_id))
        return tuple(scopes)


COURSE_1_IN_A = FakeCourse(COURSE_1, ORG_A)
COURSE_2_IN_A = FakeCourse(COURSE_2, ORG_A)
COURSE_3_IN_B = FakeCourse(COURSE_3, ORG_B)


@dataclass
class Directory:
    """Grants by subject: what the identity module will look up."""

    grants: dict[str, list[Grant]] = field(default_factory=dict)

    def __call__(self, principal: Principal) -> list[Grant]:
        return self.grants.get(principal.subject, [])


def user(name: str) -> Principal:
    return Principal(subject=name, user_id=uuid.uuid5(uuid.NAMESPACE_URL, name))


def policy_with(**grants: list[Grant]) -> RolePolicy:
    return RolePolicy(Directory(dict(grants)))


def test_an_instructor_edits_only_the_course_granted() -> None:
    policy = policy_with(ines=[Grant(Role.INSTRUCTOR, Scope.course(COURSE_1))])
    allowed = policy.authorize(user("ines"), "course.edit", COURSE_1_IN_A)
    assert allowed.allowed
    assert allowed.reason == f"instructor on course {COURSE_1} grants course.edit"
    denied = policy.authorize(user("ines"), "course.edit", COURSE_2_IN_A)
    assert not denied.allowed
    assert denied.reason == f"no role grants course.edit on course {COURSE_2}"


def test_an_organization_admin_reaches_every_course_of_the_organization_and_no_other() -> None:
    policy = policy_with(olga=[Grant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG_A))])
    assert policy.authorize(user("olga"), "course.publish", COURSE_1_IN_A).allowed
    assert policy.authorize(user("olga"), "enrollment.manage", COURSE_2_IN_A).allowed
    assert not policy.authorize(user("olga"), "course.publish", COURSE_3_IN_B).allowed
    assert not policy.authorize(user("olga"), "organization.manage", COURSE_1_IN_A).allowed
    assert not policy.authorize(user("olga"), "course.create").allowed  # a platform-wide action


def test_a_teaching_assistant_sees_grades_but_does_not_edit_the_course() -> None:
    policy = policy_with(tara=[Grant(Role.TEACHING_ASSISTANT, Scope.course(COURSE_1))])
    assert policy.authorize(user("tara"), "grade.view_all", COURSE_1_IN_A).allowed
    assert policy.authorize(user("tara"), "course.view_unpublished", COURSE_1_IN_A).allowed
    assert not policy.authorize(user("tara"), "course.edit", COURSE_1_IN_A).allowed
    assert not policy.authorize(user("tara"), "enrollment.manage", COURSE_1_IN_A).allowed


def test_learners_anonymous_and_unknown_permissions_are_refused_with_the_reason() -> None:
    policy = policy_with(lea=[Grant(Role.LEARNER, Scope.course(COURSE_1))])
    learner = policy.authorize(user("lea"), "grade.view_all", COURSE_1_IN_A)
    assert (learner.allowed, learner.reason) == (False, f"no role grants grade.view_all on course {COURSE_1}")
    nobody = policy.authorize(user("nobody"), "course.edit", COURSE_1_IN_A)
    assert nobody.reason == f"no role grants course.edit on course {COURSE_1}: the principal holds no role"
    assert policy.authorize(ANONYMOUS, "course.edit", COURSE_1_IN_A).reason == "authentication required"
    assert policy.authorize(SYSTEM, "course.teleport").reason == "unknown permission course.teleport"


def test_the_service_accounts_admin_role_is_a_platform_admin() -> None:
    decision = policy_with().authorize(SYSTEM, "organization.manage", COURSE_3_IN_B)
    assert decision.allowed
    assert decision.reason == "platform_admin on the platform grants organization.manage"


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.PLATFORM_ADMIN, Scope.course(COURSE_1)),
        (Role.ORGANIZATION_ADMIN, PLATFORM),
        (Role.ORGANIZATION_ADMIN, Scope.course(COURSE_1)),
        (Role.TEACHING_ASSISTANT, PLATFORM),
    ],
)
def test_a_role_cannot_be_granted_on_a_scope_it_does_not_belong_to(role: Role, scope: Scope) -> None:
    with pytest.raises(ValueError, match=f"the {role.value} role cannot be granted on {scope.kind.value} scope"):
        Grant(role, scope)


def test_scopes_are_well_formed() -> None:
    with pytest.raises(ValueError, match="platform scope has no id"):
        Scope(ScopeKind.PLATFORM, ORG_A)
    with pytest.raises(ValueError, match="need one"):
        Scope(ScopeKind.COURSE)
    assert scopes_of(None) == (PLATFORM,)
    assert scopes_of(COURSE_1_IN_A) == (Scope.course(COURSE_1), Scope.organization(ORG_A), PLATFORM)
    assert scopes_of("not a resource") == (PLATFORM,)


# -- properties -------------------------------------------------------------------------------

RESOURCES = st.sampled_from([None, COURSE_1_IN_A, COURSE_2_IN_A, COURSE_3_IN_B, FakeCourse(COURSE_2, None)])
SCOPES = st.sampled_from(
    [PLATFORM, Scope.organization(ORG_A), Scope.organization(ORG_B), *(Scope.course(c) for c in (COURSE_1, COURSE_2))]
)
GRANTS = (
    st.tuples(st.sampled_from(list(Role)), SCOPES)
    .filter(lambda rs: rs[1].kind in GRANTABLE_ON[rs[0]])
    .map(lambda rs: Grant(*rs))
)
PERMISSIONS = st.sampled_from(list(Permission))


@given(grants=st.lists(GRANTS, max_size=4), extra=GRANTS, permission=PERMISSIONS, resource=RESOURCES)
def test_a_grant_more_never_takes_a_permission_away(
    grants: list[Grant], extra: Grant, permission: Permission, resource: object
) -> None:
    before = policy_with(u=grants).authorize(user("u"), permission, resource)
    after = policy_with(u=[*grants, extra]).authorize(user("u"), permission, resource)
    assert after.allowed or not before.allowed


@given(grants=st.lists(GRANTS, max_size=4), permission=PERMISSIONS, resource=RESOURCES)
def test_allowed_exactly_when_a_grant_has_the_permission_on_a_scope_of_the_resource(
    grants: list[Grant], permission: Permission, resource: object
) -> None:
    decision = policy_with(u=grants).authorize(user("u"), permission, resource)
    expected = any(permission in permissions_of(g) and g.scope in scopes_of(resource) for g in grants)
    assert decision.allowed is expected
    assert permission.value in decision.reason


@given(permission=PERMISSIONS, resource=RESOURCES)
def test_a_platform_admin_may_do_anything_and_the_anonymous_nothing(permission: Permission, resource: object) -> None:
    policy = policy_with(root=[Grant(Role.PLATFORM_ADMIN)])
    assert policy.authorize(user("root"), permission, resource).allowed
    assert not policy.authorize(ANONYMOUS, permission, resource).allowed


COURSE_GRANTS = GRANTS.filter(lambda g: g.scope.kind is ScopeKind.COURSE)


@given(grant=COURSE_GRANTS, permission=PERMISSIONS)
def test_a_course_grant_never_reaches_another_course(grant: Grant, permission: Permission) -> None:
    other = FakeCourse(uuid.uuid4(), ORG_A)
    assert not policy_with(u=[grant]).authorize(user("u"), permission, other).allowed


# -- the participation rule (verified email), decided by the account, not by a role -----------


def verified(name: str, *, is_verified: bool) -> Principal:
    return Principal(subject=name, user_id=uuid.uuid5(uuid.NAMESPACE_URL, name), email_verified=is_verified)


def test_participation_needs_a_verified_email_when_the_platform_requires_it() -> None:
    strict, relaxed = RolePolicy(), RolePolicy(require_verified_email=False)
    assert strict.authorize(verified("ada", is_verified=True), PARTICIPATE).allowed
    refused = strict.authorize(verified("bob", is_verified=False), PARTICIPATE)
    assert not refused.allowed
    assert "confirm your email address" in refused.reason
    assert relaxed.authorize(verified("bob", is_verified=False), PARTICIPATE).allowed
    # A service account has no mailbox: it acts for the platform. Nobody anonymous takes part.
    assert strict.authorize(SYSTEM, PARTICIPATE).allowed
    assert not relaxed.authorize(ANONYMOUS, PARTICIPATE).allowed


def test_even_a_platform_admin_role_does_not_replace_verification() -> None:
    """The rule is about the mailbox, not about rights: a grant does not vouch for an address."""
    policy = RolePolicy(Directory({"root": [Grant(Role.PLATFORM_ADMIN)]}))
    assert not policy.authorize(verified("root", is_verified=False), PARTICIPATE).allowed


def test_require_participation_names_the_refusal_a_user_can_lift() -> None:
    with pytest.raises(EmailVerificationRequired, match="not allowed to post"):
        require_participation(RolePolicy(), verified("bob", is_verified=False), "post")
    with pytest.raises(PermissionDenied) as refused:
        require_participation(RolePolicy(), ANONYMOUS, "post")
    assert not isinstance(refused.value, EmailVerificationRequired)
    require_participation(RolePolicy(), verified("ada", is_verified=True), "post")
