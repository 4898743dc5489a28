"""The identity and auth ports' contract (users, organizations, tokens, links, sessions, pending
logins, the per-request principal read), run on the fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from elearning_core.auth.model import Grant, Role, RolePolicy, Scope
from elearning_core.auth.ports import LoginSession, PendingLogin
from elearning_core.course.commands import CreateCourse
from elearning_core.course.service import CourseService
from elearning_core.identity.model import ExternalIdentity, OneTimeToken, Organization, TokenPurpose, User, UserStatus
from elearning_core.identity.ports import UserListFilter
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import Conflict, PermissionDenied
from elearning_core.shared.ids import UserId, new_uuid
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from tests.contract.conftest import Backend
from tests.fakes import CURSOR_SECRET, T0, a_course, a_user, minutes

T1 = T0 + minutes(1)
T2 = T0 + minutes(2)
ORG_ID = uuid.UUID("0190f0f0-0000-7000-8000-000000000001")
COURSE_ID = uuid.UUID("0190f0f0-0000-7000-8000-000000000002")
ALL_GRANTS = {
    Grant(Role.PLATFORM_ADMIN),
    Grant(Role.LEARNER),
    Grant(Role.INSTRUCTOR, Scope.organization(ORG_ID)),
    Grant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG_ID)),
    Grant(Role.TEACHING_ASSISTANT, Scope.course(COURSE_ID)),
    Grant(Role.LEARNER, Scope.course(COURSE_ID)),
}


def shape(user: User) -> dict[str, Any]:
    """Everything the user repository must keep, as plain data."""
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "locale": user.locale,
        "time_zone": user.time_zone,
        "status": user.status,
        "password_hash": user.password_hash,
        "email_verified_at": user.email_verified_at,
        "bio": user.bio,
        "suspended_reason": user.suspended_reason,
        "deleted_at": user.deleted_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "grants": set(user.grants),
        "version": user.version,
    }


async def save(backend: Backend, *users: User) -> None:
    async with backend.uow() as uow:
        for user in users:
            uow.users.add(user)
        await uow.commit()


async def load(backend: Backend, user_id: uuid.UUID) -> User | None:
    async with backend.uow() as uow:
        return await uow.users.get(user_id)


async def must_load(backend: Backend, user_id: uuid.UUID) -> User:
    user = await load(backend, user_id)
    assert user is not None
    return user


async def save_org(backend: Backend, slug: str, name: str | None = None) -> Organization:
    organization = Organization.create(slug=slug, name=name or slug.title(), at=T0)
    async with backend.uow() as uow:
        uow.organizations.add(organization)
        await uow.commit()
    return organization


def a_token(user: User, purpose: TokenPurpose = TokenPurpose.PASSWORD_RESET, *, expires: datetime = T2) -> OneTimeToken:
    return OneTimeToken(
        digest=uuid.uuid4().hex * 2, purpose=purpose, user_id=user.id, created_at=T0, expires_at=expires
    )


async def save_tokens(backend: Backend, *tokens: OneTimeToken) -> None:
    async with backend.uow() as uow:
        for token in tokens:
            await uow.one_time_tokens.add(token)
        await uow.commit()


async def consume(backend: Backend, token: OneTimeToken, at: datetime = T1) -> UserId | None:
    async with backend.uow() as uow:
        user_id = await uow.one_time_tokens.consume(token.digest, token.purpose, at)
        await uow.commit()
    return user_id


def a_session(user: User, *, expires: datetime = T2, kind: str = "bearer") -> LoginSession:
    return LoginSession(id=new_uuid(), user_id=user.id, created_at=T0, expires_at=expires, kind=kind)


async def save_session(backend: Backend, session: LoginSession, digest: str | None = None) -> str:
    digest = digest or uuid.uuid4().hex
    async with backend.uow() as uow:
        await uow.sessions.create(session, digest)
        await uow.commit()
    return digest


async def tick() -> None:
    """Give other tasks (and the database) time to reach the point where they wait."""
    for _ in range(20):
        await asyncio.sleep(0.01)


# -- users -----------------------------------------------------------------------------------------


async def test_a_user_round_trips_with_every_field_and_grant(backend: Backend) -> None:
    user = a_user(email="Ada.Lovelace@Example.ORG", display_name="Ada  Lovelace", grants=ALL_GRANTS)
    user.verify_email(T1)
    user.update_profile(T1, bio="Analyst.\nPoet of numbers: ünïcödé", locale="pt-BR", time_zone="Europe/Lisbon")
    user.suspend(T1, "  too many emails  ")
    await save(backend, user)
    assert user.version == 1
    assert user.pending_events == []

    loaded = await must_load(backend, user.id)
    assert loaded is not user
    assert shape(loaded) == shape(user)
    assert loaded.email == "Ada.Lovelace@example.org"  # the local part keeps its case
    assert loaded.suspended_reason == "too many emails"
    assert loaded.grants == ALL_GRANTS
    assert loaded.pending_events == []
    assert await load(backend, uuid.uuid4()) is None


async def test_grants_are_written_back_by_difference(backend: Backend) -> None:
    user = a_user(grants=[Grant(Role.PLATFORM_ADMIN), Grant(Role.LEARNER, Scope.course(COURSE_ID))])
    await save(backend, user)
    other_course = uuid.uuid4()
    async with backend.uow() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        assert loaded.revoke(Grant(Role.PLATFORM_ADMIN), T1, by="test")
        assert loaded.grant(Grant(Role.LEARNER, Scope.course(other_course)), T1, by="test")
        assert loaded.grant(Grant(Role.LEARNER), T1, by="test")  # a platform grant next to a course one
        await uow.commit()
        assert loaded.version == 2
    again = await must_load(backend, user.id)
    assert again.grants == {
        Grant(Role.LEARNER, Scope.course(COURSE_ID)),
        Grant(Role.LEARNER, Scope.course(other_course)),
        Grant(Role.LEARNER),
    }
    assert again.version == 2
    async with backend.uow() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        assert loaded.revoke(Grant(Role.LEARNER), T2, by="test")  # the platform one only
        await uow.commit()
    assert (await must_load(backend, user.id)).grants == {
        Grant(Role.LEARNER, Scope.course(COURSE_ID)),
        Grant(Role.LEARNER, Scope.course(other_course)),
    }


async def test_a_user_loaded_and_left_unchanged_keeps_its_version(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    async with backend.uow() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.linked("google", "https://accounts.google.com", T1)  # an event, no state change
        await uow.commit()
    assert (await must_load(backend, user.id)).version == 1
    assert (await backend.outbox_types())[-1] == "identity.external_identity_linked.v1"


async def test_commit_puts_the_events_of_users_organizations_and_courses_in_the_outbox(backend: Backend) -> None:
    user = User.register(email="new@example.org", display_name="New", at=T0, password_hash=None)
    organization = Organization.create(slug="acme", name="Acme", at=T0)
    course = a_course()
    course.change_details(T1, title="Changed")
    async with backend.uow() as uow:
        uow.users.add(user)
        uow.organizations.add(organization)
        uow.courses.add(course)
        await uow.commit()
    assert sorted(await backend.outbox_types()) == [
        "course.details_changed.v1",
        "identity.organization_created.v1",
        "identity.user_registered.v1",
    ]
    assert user.pending_events == organization.pending_events == course.pending_events == []


async def test_email_lookup_ignores_case(backend: Backend) -> None:
    user = a_user(email="Grace.Hopper@Navy.MIL")
    await save(backend, user)
    async with backend.uow() as uow:
        found = await uow.users.get_by_email("  grace.hopper@NAVY.mil ")
        assert found is not None
        assert found.id == user.id
        assert await uow.users.get(user.id) is found  # one object per user within a unit of work
        assert await uow.users.email_taken("GRACE.HOPPER@navy.mil")
        assert not await uow.users.email_taken("grace@navy.mil")
        assert await uow.users.get_by_email("grace@navy.mil") is None


async def test_an_email_taken_in_another_case_conflicts_at_commit(backend: Backend) -> None:
    first = a_user(email="ada@example.org")
    await save(backend, first)
    twin = a_user(email="ADA@Example.org")
    async with backend.uow() as uow:
        uow.users.add(twin)
        with pytest.raises(Conflict, match="an account with this email already exists"):
            await uow.commit()
    assert await load(backend, twin.id) is None
    assert (await must_load(backend, first.id)).email == "ada@example.org"


async def test_two_new_users_with_one_email_conflict_and_neither_is_kept(backend: Backend) -> None:
    one, two = a_user(email="same@example.org"), a_user(email="Same@example.org")
    async with backend.uow() as uow:
        uow.users.add(one)
        assert await uow.users.email_taken("SAME@example.org")  # staged users count
        uow.users.add(two)
        with pytest.raises(Conflict, match="email"):
            await uow.commit()
    assert await load(backend, one.id) is None
    assert await load(backend, two.id) is None


async def test_a_stale_version_conflicts(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises writers: no unit of work can hold a stale user")
    user = a_user(display_name="Original")
    await save(backend, user)
    async with backend.uow() as first, backend.uow() as second:
        mine = await first.users.get(user.id)
        theirs = await second.users.get(user.id)
        assert mine is not None
        assert theirs is not None
        mine.update_profile(T1, display_name="First wins")
        theirs.grant(Grant(Role.PLATFORM_ADMIN), T1, by="second")
        await first.commit()
        with pytest.raises(Conflict, match="changed by someone else"):
            await second.commit()
    final = await must_load(backend, user.id)
    assert (final.display_name, final.grants, final.version) == ("First wins", set(), 2)


async def test_deleted_users_are_not_found_by_email_and_free_it(backend: Backend) -> None:
    user = a_user(email="gone@example.org", grants=[Grant(Role.LEARNER)])
    await save(backend, user)
    async with backend.uow() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.anonymise(T1)
        anonymous_email = loaded.email
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get_by_email("gone@example.org") is None
        assert await uow.users.get_by_email(anonymous_email) is None
        assert not await uow.users.email_taken("gone@example.org")
        deleted = await uow.users.get(user.id)
        assert deleted is not None
        assert (deleted.status, deleted.grants, deleted.deleted_at) == (UserStatus.DELETED, set(), T1)
    newcomer = a_user(email="gone@example.org")
    await save(backend, newcomer)
    async with backend.uow() as uow:
        found = await uow.users.get_by_email("gone@example.org")
        assert found is not None
        assert found.id == newcomer.id


async def test_uncommitted_users_are_not_kept(backend: Backend) -> None:
    user = a_user()
    async with backend.uow() as uow:
        uow.users.add(user)
    async with backend.uow() as uow:
        uow.users.add(user)
        await uow.rollback()
    assert await load(backend, user.id) is None
    async with backend.uow() as uow:
        assert not await uow.users.email_taken(user.email)


# -- user listing -------------------------------------------------------------------------------------


async def test_list_users_filters_and_pages_by_id(backend: Backend) -> None:
    organization = await save_org(backend, "acme")
    alice = a_user(email="alice@acme.test", display_name="Alice Liddell", grants=[Grant(Role.LEARNER)])
    bob = a_user(email="bob@example.org", display_name="Bob 100%_Sure")
    carol = a_user(email="carol@ACME.test", display_name="Carol")
    dave = a_user(email="dave@example.org", display_name="Dave Acme-Fan")
    erin = a_user(email="erin@example.org", display_name="Erin")
    erin.suspend(T0, "spam")
    everyone = [alice, bob, carol, dave, erin]
    await save(backend, *everyone)
    async with backend.uow() as uow:
        assert await uow.organizations.add_member(organization.id, alice.id, T1)
        assert await uow.organizations.add_member(organization.id, erin.id, T1)
        await uow.commit()

    async def ids(where: UserListFilter, after: uuid.UUID | None = None, limit: int = 50) -> list[uuid.UUID]:
        return [u.id for u in await backend.users.list_users(where, after, limit)]

    by_id = sorted(u.id for u in everyone)
    assert await ids(UserListFilter()) == by_id
    assert await ids(UserListFilter(status=UserStatus.SUSPENDED)) == [erin.id]
    assert await ids(UserListFilter(status=UserStatus.ACTIVE)) == sorted(u.id for u in everyone if u is not erin)
    assert await ids(UserListFilter(text="ACME")) == sorted([alice.id, carol.id, dave.id])  # email or name
    assert await ids(UserListFilter(text="liddell")) == [alice.id]
    assert await ids(UserListFilter(text="100%_")) == [bob.id]  # LIKE wildcards are literal
    assert await ids(UserListFilter(text="%")) == [bob.id]
    assert await ids(UserListFilter(organization_id=organization.id)) == sorted([alice.id, erin.id])
    assert await ids(UserListFilter(organization_id=organization.id, status=UserStatus.ACTIVE)) == [alice.id]
    assert await ids(UserListFilter(organization_id=uuid.uuid4())) == []

    pages: list[list[uuid.UUID]] = []
    after: uuid.UUID | None = None
    while page := await ids(UserListFilter(), after, 2):
        pages.append(page)
        after = page[-1]
    assert pages == [by_id[0:2], by_id[2:4], by_id[4:5]]

    listed = {u.id: u for u in await backend.users.list_users(UserListFilter(), None, 10)}
    assert listed[alice.id].grants == {Grant(Role.LEARNER)}
    assert listed[bob.id].grants == set()
    assert shape(listed[erin.id]) == shape(erin)


# -- organizations -----------------------------------------------------------------------------------


async def test_organizations_round_trip_and_their_slugs_are_unique(backend: Backend) -> None:
    acme = await save_org(backend, "acme", "Acme Corp")
    async with backend.uow() as uow:
        loaded = await uow.organizations.get(acme.id)
        assert loaded is not None
        assert (loaded.id, loaded.slug, loaded.name, loaded.created_at) == (acme.id, "acme", "Acme Corp", T0)
        assert await uow.organizations.get_by_slug("acme") is loaded
        assert await uow.organizations.get_by_slug("nope") is None
        assert await uow.organizations.get(uuid.uuid4()) is None
        assert await uow.organizations.slug_taken("acme")
        assert not await uow.organizations.slug_taken("other")
        staged = Organization.create(slug="staged", name="Staged", at=T0)
        uow.organizations.add(staged)
        assert await uow.organizations.slug_taken("staged")
    twin = Organization.create(slug="acme", name="Another Acme", at=T1)
    async with backend.uow() as uow:
        uow.organizations.add(twin)
        with pytest.raises(Conflict, match="slug is already taken by another organization"):
            await uow.commit()
    async with backend.uow() as uow:
        assert await uow.organizations.get(twin.id) is None
        assert not await uow.organizations.slug_taken("staged")


async def test_an_organizations_time_zone_is_kept_and_its_updates_written_at_commit(backend: Backend) -> None:
    paris = Organization.create(slug="paris", name="Paris", time_zone="Europe/Paris", at=T0)
    other = await save_org(backend, "other")
    async with backend.uow() as uow:
        uow.organizations.add(paris)
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.organizations.get(paris.id)
        assert loaded is not None
        assert loaded.time_zone == "Europe/Paris"
        assert loaded.update(T1, name="Paris Campus", time_zone="America/Montreal") == ["name", "time_zone"]
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.organizations.get(paris.id)
        untouched = await uow.organizations.get(other.id)
        assert again is not None
        assert untouched is not None
        assert (again.name, again.time_zone, again.slug) == ("Paris Campus", "America/Montreal", "paris")
        assert (untouched.name, untouched.time_zone) == ("Other", "UTC")
        assert again.update(T2, time_zone="Asia/Tokyo") == ["time_zone"]
        # Left without commit: rolled back.
    async with backend.uow() as uow:
        kept = await uow.organizations.get(paris.id)
        assert kept is not None
        assert kept.time_zone == "America/Montreal"


async def test_organizations_list_in_id_order_with_a_keyset(backend: Backend) -> None:
    created = [await save_org(backend, f"org-{n}") for n in range(5)]
    async with backend.uow() as uow:
        fresh = Organization.create(slug="fresh", name="Fresh", at=T1)
        uow.organizations.add(fresh)  # visible to its own unit of work's listing
        first = await uow.organizations.list(None, 3)
        rest = await uow.organizations.list(first[-1].id, 10)
        assert [o.id for o in first + rest] == sorted([o.id for o in created] + [fresh.id])
        assert fresh in first + rest
    async with backend.uow() as uow:
        assert [o.slug for o in await uow.organizations.list(None, 10)] == [f"org-{n}" for n in range(5)]


async def test_memberships(backend: Backend) -> None:
    zeta, alpha = await save_org(backend, "zeta", "Zeta"), await save_org(backend, "alpha", "Alpha")
    user, other = a_user(), a_user()
    await save(backend, user, other)
    async with backend.uow() as uow:
        assert await uow.organizations.add_member(zeta.id, user.id, T1)
        assert not await uow.organizations.add_member(zeta.id, user.id, T2)  # already a member
        assert await uow.organizations.add_member(alpha.id, user.id, T1)
        assert await uow.organizations.add_member(zeta.id, other.id, T1)
        assert await uow.organizations.member_count(zeta.id) == 2
        await uow.commit()
    async with backend.uow() as uow:
        assert [o.slug for o in await uow.organizations.organizations_of(user.id)] == ["alpha", "zeta"]
        assert await uow.organizations.member_count(alpha.id) == 1
        assert await uow.organizations.remove_member(zeta.id, user.id)
        assert not await uow.organizations.remove_member(zeta.id, user.id)
        assert not await uow.organizations.remove_member(uuid.uuid4(), user.id)
        assert [o.slug for o in await uow.organizations.organizations_of(user.id)] == ["alpha"]
        # not committed
    async with backend.uow() as uow:
        assert [o.slug for o in await uow.organizations.organizations_of(user.id)] == ["alpha", "zeta"]
        assert await uow.organizations.member_count(zeta.id) == 2
        assert await uow.organizations.organizations_of(uuid.uuid4()) == []


async def test_a_new_organization_and_user_may_be_joined_before_either_is_written(backend: Backend) -> None:
    organization = Organization.create(slug="brand-new", name="Brand New", at=T0)
    user = a_user()
    async with backend.uow() as uow:
        uow.organizations.add(organization)
        uow.users.add(user)
        assert await uow.organizations.add_member(organization.id, user.id, T0)
        assert [o.id for o in await uow.organizations.organizations_of(user.id)] == [organization.id]
        await uow.commit()
    async with backend.uow() as uow:
        assert [o.slug for o in await uow.organizations.organizations_of(user.id)] == ["brand-new"]


async def test_a_membership_of_an_unknown_user_fails_at_commit(backend: Backend) -> None:
    organization = await save_org(backend, "acme")
    async with backend.uow() as uow:
        assert await uow.organizations.add_member(organization.id, uuid.uuid4(), T1)
        with pytest.raises(Conflict):
            await uow.commit()
    async with backend.uow() as uow:
        assert await uow.organizations.member_count(organization.id) == 0


# -- one-time tokens ---------------------------------------------------------------------------------


async def test_a_token_is_consumed_once(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    token = a_token(user)
    await save_tokens(backend, token)
    async with backend.uow() as uow:
        assert await uow.one_time_tokens.consume(token.digest, token.purpose, T1) == user.id
        assert await uow.one_time_tokens.consume(token.digest, token.purpose, T1) is None
        await uow.commit()
    assert await consume(backend, token) is None
    assert await consume(backend, a_token(user)) is None  # never stored


async def test_an_expired_token_or_one_of_another_purpose_is_refused(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    token = a_token(user, TokenPurpose.VERIFY_EMAIL, expires=T1)
    await save_tokens(backend, token)
    async with backend.uow() as uow:
        assert await uow.one_time_tokens.consume(token.digest, TokenPurpose.PASSWORD_RESET, T0) is None
        assert await uow.one_time_tokens.consume(token.digest, token.purpose, T1) is None  # expires_at is exclusive
        assert await uow.one_time_tokens.consume(token.digest, token.purpose, T2) is None
        await uow.commit()
    assert await consume(backend, token, at=T0) == user.id  # still valid before it expires


async def test_an_email_change_token_gives_its_user_and_address_once(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    change = replace(a_token(user, TokenPurpose.EMAIL_CHANGE), new_email="Ada@New.example.org")
    reset = a_token(user)
    await save_tokens(backend, change, reset)
    async with backend.uow() as uow:
        assert await uow.one_time_tokens.consume_email_change(reset.digest, T1) is None  # another purpose
        assert await uow.one_time_tokens.consume_email_change(change.digest, T2) is None  # expired
        assert await uow.one_time_tokens.consume_email_change(change.digest, T1) == (user.id, "Ada@New.example.org")
        assert await uow.one_time_tokens.consume_email_change(change.digest, T1) is None
        await uow.commit()
    assert await consume(backend, reset) == user.id
    assert await backend.token_addresses() == []  # a spent token keeps no address


async def test_revoked_email_change_tokens_keep_no_address(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    await save_tokens(backend, replace(a_token(user, TokenPurpose.EMAIL_CHANGE), new_email="ada@new.example.org"))
    assert await backend.token_addresses() == ["ada@new.example.org"]
    async with backend.uow() as uow:
        assert await uow.one_time_tokens.revoke_all(user.id, TokenPurpose.EMAIL_CHANGE, T1) == 1
        await uow.commit()
    assert await backend.token_addresses() == []


async def test_a_rolled_back_consume_leaves_the_token_usable(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    token = a_token(user)
    await save_tokens(backend, token)
    async with backend.uow() as uow:
        assert await uow.one_time_tokens.consume(token.digest, token.purpose, T1) == user.id
    assert await consume(backend, token) == user.id


async def test_revoke_all_spends_every_unused_token_of_the_user_for_one_purpose(backend: Backend) -> None:
    user, other = a_user(), a_user()
    await save(backend, user, other)
    resets = [a_token(user), a_token(user), a_token(user)]
    verify = a_token(user, TokenPurpose.VERIFY_EMAIL)
    others = a_token(other)
    await save_tokens(backend, *resets, verify, others)
    assert await consume(backend, resets[0]) == user.id
    async with backend.uow() as uow:
        assert await uow.one_time_tokens.revoke_all(user.id, TokenPurpose.PASSWORD_RESET, T1) == 2
        assert await uow.one_time_tokens.revoke_all(user.id, TokenPurpose.PASSWORD_RESET, T1) == 0
        await uow.commit()
    assert [await consume(backend, t) for t in resets] == [None, None, None]
    assert await consume(backend, verify) == user.id
    assert await consume(backend, others) == other.id


async def test_a_token_may_be_issued_for_a_user_registered_in_the_same_unit_of_work(backend: Backend) -> None:
    user = a_user()
    token = a_token(user, TokenPurpose.VERIFY_EMAIL)
    async with backend.uow() as uow:
        uow.users.add(user)
        await uow.one_time_tokens.add(token)
        await uow.commit()
    assert await consume(backend, token) == user.id


async def test_a_token_of_an_unknown_user_fails_at_commit(backend: Backend) -> None:
    token = a_token(a_user())
    async with backend.uow() as uow:
        await uow.one_time_tokens.add(token)
        with pytest.raises(Conflict):
            await uow.commit()
    assert await consume(backend, token) is None


async def test_concurrent_consumers_of_one_token_have_exactly_one_winner(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    token = a_token(user)
    await save_tokens(backend, token)
    results = await asyncio.wait_for(asyncio.gather(*(consume(backend, token) for _ in range(6))), timeout=60)
    assert sorted(results, key=lambda r: r is not None) == [None] * 5 + [user.id]


async def _second_consumer_after(backend: Backend, token: OneTimeToken, *, first_commits: bool) -> list[UserId | None]:
    """The first unit of work consumes and, while it is still open, a second one tries: what does it get?"""
    second: list[UserId | None] = []

    async def second_consumer() -> None:
        second.append(await consume(backend, token))

    async with backend.uow() as first:
        assert await first.one_time_tokens.consume(token.digest, token.purpose, T1) == token.user_id
        task = asyncio.create_task(second_consumer())
        await tick()
        assert not task.done()  # waiting: on the row lock (PostgreSQL, fake) or the write lock (SQLite)
        assert second == []
        if first_commits:
            await first.commit()
    await asyncio.wait_for(task, timeout=30)
    return second


async def test_a_consumer_waiting_on_a_committed_consume_gets_nothing(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    token = a_token(user)
    await save_tokens(backend, token)
    assert await _second_consumer_after(backend, token, first_commits=True) == [None]


async def test_a_consumer_waiting_on_a_rolled_back_consume_wins(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    token = a_token(user)
    await save_tokens(backend, token)
    assert await _second_consumer_after(backend, token, first_commits=False) == [user.id]


# -- external identities ------------------------------------------------------------------------------


def an_identity(subject: str = "sub-1", issuer: str = "https://accounts.example.com") -> ExternalIdentity:
    return ExternalIdentity(
        provider="example", issuer=issuer, subject=subject, email="x@example.org", email_verified=True, name="X"
    )


async def test_external_identities_link_find_and_unlink(backend: Backend) -> None:
    user, other = a_user(), a_user()
    newcomer = a_user()
    await save(backend, user, other)
    async with backend.uow() as uow:
        await uow.external_identities.link(an_identity("sub-1"), user.id, T1)
        await uow.external_identities.link(an_identity("sub-1"), user.id, T2)  # again: nothing changes
        await uow.external_identities.link(an_identity("sub-2", "https://b.example.com"), user.id, T1)
        await uow.external_identities.link(an_identity("sub-1", "https://b.example.com"), other.id, T1)
        uow.users.add(newcomer)  # a first external sign-in: the account and its link in one commit
        await uow.external_identities.link(an_identity("sub-new"), newcomer.id, T1)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.external_identities.find("https://accounts.example.com", "sub-1") == user.id
        assert await uow.external_identities.find("https://b.example.com", "sub-1") == other.id
        assert await uow.external_identities.find("https://accounts.example.com", "sub-new") == newcomer.id
        assert await uow.external_identities.find("https://accounts.example.com", "sub-9") is None
        assert await uow.external_identities.links_of(user.id) == [
            ("example", "https://accounts.example.com"),
            ("example", "https://b.example.com"),
        ]
        with pytest.raises(Conflict, match="already linked to another user"):
            await uow.external_identities.link(an_identity("sub-1"), other.id, T2)
    async with backend.uow() as uow:
        assert await uow.external_identities.unlink_all(user.id) == 2
        assert await uow.external_identities.unlink_all(user.id) == 0
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.external_identities.find("https://accounts.example.com", "sub-1") is None
        assert await uow.external_identities.links_of(user.id) == []
        assert await uow.external_identities.links_of(other.id) == [("example", "https://b.example.com")]


# -- sessions -------------------------------------------------------------------------------------------


async def test_a_session_round_trips_and_its_refresh_tokens_rotate(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    session = a_session(user, kind="cookie")
    first = await save_session(backend, session)
    async with backend.uow() as uow:
        assert await uow.sessions.get(session.id) == session
        assert await uow.sessions.get(uuid.uuid4()) is None
        record = await uow.sessions.find_token(first)
        assert record is not None
        assert (record.digest, record.session, record.issued_at, record.used_at) == (first, session, T0, None)
        assert await uow.sessions.use_token(first, T1)
        assert not await uow.sessions.use_token(first, T1)  # a reuse
        await uow.sessions.add_token(session.id, "second-digest", T1)
        await uow.commit()
    async with backend.uow() as uow:
        used = await uow.sessions.find_token(first)
        assert used is not None
        assert used.used_at == T1
        fresh = await uow.sessions.find_token("second-digest")
        assert fresh is not None
        assert (fresh.session.id, fresh.issued_at, fresh.used_at) == (session.id, T1, None)
        assert not await uow.sessions.use_token(first, T2)
        assert not await uow.sessions.use_token("unknown-digest", T2)
        assert await uow.sessions.find_token("unknown-digest") is None


async def test_a_rolled_back_use_leaves_the_refresh_token_unused(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    digest = await save_session(backend, a_session(user))
    async with backend.uow() as uow:
        assert await uow.sessions.use_token(digest, T1)
    async with backend.uow() as uow:
        assert await uow.sessions.use_token(digest, T1)


async def test_concurrent_uses_of_one_refresh_token_have_exactly_one_winner(backend: Backend) -> None:
    user = a_user()
    await save(backend, user)
    digest = await save_session(backend, a_session(user))

    async def use() -> bool:
        async with backend.uow() as uow:
            used = await uow.sessions.use_token(digest, T1)
            await uow.commit()
        return used

    assert sorted(await asyncio.wait_for(asyncio.gather(*(use() for _ in range(6))), timeout=60)) == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]


async def test_revoking_sessions(backend: Backend) -> None:
    user, other = a_user(), a_user()
    await save(backend, user, other)
    one, two, expired = a_session(user), a_session(user), a_session(user, expires=T1)
    theirs = a_session(other)
    for session in (one, two, expired, theirs):
        await save_session(backend, session)
    async with backend.uow() as uow:
        assert await uow.sessions.revoke(one.id, T1, "logout")
        assert not await uow.sessions.revoke(one.id, T2, "logout again")
        assert not await uow.sessions.revoke(uuid.uuid4(), T1, "unknown")
        await uow.commit()
    async with backend.uow() as uow:
        ended = await uow.sessions.get(one.id)
        assert ended is not None
        assert (ended.revoked_at, ended.revoked_reason, ended.active_at(T0)) == (T1, "logout", False)
        # Only the sessions still active at T1: not the revoked one, not the expired one.
        assert await uow.sessions.revoke_all_of(user.id, T1, "password changed") == 1
        await uow.commit()
    async with backend.uow() as uow:
        revoked = await uow.sessions.get(two.id)
        assert revoked is not None
        assert (revoked.revoked_at, revoked.revoked_reason) == (T1, "password changed")
        untouched = await uow.sessions.get(expired.id)
        assert untouched is not None
        assert untouched.revoked_at is None
        still = await uow.sessions.get(theirs.id)
        assert still is not None
        assert still.active_at(T1)


async def test_a_session_for_a_user_registered_in_the_same_unit_of_work(backend: Backend) -> None:
    user = a_user()
    session = a_session(user)
    async with backend.uow() as uow:
        uow.users.add(user)
        await uow.sessions.create(session, "first")
        await uow.commit()
    record = await backend.principals.principal_record(user.id, session.id, T1)
    assert record is not None
    assert record.session_active


# -- pending external logins ----------------------------------------------------------------------------


def a_pending_login(expires: datetime = T2, return_to: str | None = "/courses") -> PendingLogin:
    return PendingLogin(
        state_digest=uuid.uuid4().hex,
        provider="example",
        code_verifier="v" * 64,
        nonce="n" * 32,
        return_to=return_to,
        expires_at=expires,
    )


async def test_a_pending_login_is_taken_once(backend: Backend) -> None:
    pending, without_return = a_pending_login(), a_pending_login(return_to=None)
    async with backend.uow() as uow:
        await uow.pending_logins.put(pending)
        await uow.pending_logins.put(without_return)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_logins.take(pending.state_digest, T1) == pending
        assert await uow.pending_logins.take(pending.state_digest, T1) is None
        assert await uow.pending_logins.take("unknown", T1) is None
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_logins.take(pending.state_digest, T1) is None
        assert await uow.pending_logins.take(without_return.state_digest, T1) == without_return


async def test_an_expired_pending_login_is_refused_and_dropped(backend: Backend) -> None:
    pending = a_pending_login(expires=T1)
    async with backend.uow() as uow:
        await uow.pending_logins.put(pending)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_logins.take(pending.state_digest, T1) is None
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_logins.take(pending.state_digest, T0) is None  # gone, not just expired


async def test_an_untaken_pending_login_stays_when_the_unit_of_work_rolls_back(backend: Backend) -> None:
    pending = a_pending_login()
    async with backend.uow() as uow:
        await uow.pending_logins.put(pending)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.pending_logins.take(pending.state_digest, T1) == pending
    async with backend.uow() as uow:
        assert await uow.pending_logins.take(pending.state_digest, T1) == pending


# -- the principal of a request -----------------------------------------------------------------------


async def test_principal_record(backend: Backend) -> None:
    grants = [Grant(Role.INSTRUCTOR, Scope.organization(ORG_ID)), Grant(Role.LEARNER)]
    user, other, bare = a_user(grants=grants), a_user(), a_user()
    await save(backend, user, other, bare)
    live, revoked, expired = a_session(user), a_session(user), a_session(user, expires=T1)
    theirs = a_session(other)
    for session in (live, revoked, expired, theirs):
        await save_session(backend, session)
    async with backend.uow() as uow:
        assert await uow.sessions.revoke(revoked.id, T0, "logout")
        await uow.commit()

    principals = backend.principals
    record = await principals.principal_record(user.id, live.id, T1)
    assert record is not None
    assert (record.user_id, record.status, set(record.grants), record.session_active) == (
        user.id,
        "active",
        set(grants),
        True,
    )
    assert len(record.grants) == 2

    async def active(session_id: uuid.UUID | None, at: datetime = T1) -> bool:
        found = await principals.principal_record(user.id, session_id, at)
        assert found is not None
        assert set(found.grants) == set(grants)  # the grants come whatever the session
        return found.session_active

    assert await active(None)
    assert not await active(revoked.id)
    assert await active(expired.id, T0)
    assert not await active(expired.id, T1)  # expires_at is exclusive
    assert not await active(theirs.id)  # another user's session
    assert not await active(uuid.uuid4())

    plain = await principals.principal_record(bare.id, None, T1)
    assert plain is not None
    assert (plain.status, plain.grants, plain.session_active, plain.email_verified) == ("active", (), True, False)
    async with backend.uow() as uow:
        stored = await uow.users.get(bare.id)
        assert stored is not None
        stored.verify_email(T1)
        await uow.commit()
    verified = await principals.principal_record(bare.id, None, T1)
    assert verified is not None
    assert verified.email_verified
    assert await principals.principal_record(uuid.uuid4(), None, T1) is None
    assert await principals.principal_record(uuid.uuid4(), live.id, T1) is None


async def test_principal_record_reflects_committed_status_changes(backend: Backend) -> None:
    user = a_user(grants=[Grant(Role.LEARNER)])
    await save(backend, user)
    async with backend.uow() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.suspend(T1, "abuse")
        record = await backend.principals.principal_record(user.id, None, T1)
        assert record is not None
        assert record.status == "active"  # the read sees committed state only
        await uow.commit()
    record = await backend.principals.principal_record(user.id, None, T2)
    assert record is not None
    assert (record.status, record.grants) == ("suspended", (Grant(Role.LEARNER),))


# -- courses in organizations --------------------------------------------------------------------------


async def test_a_course_keeps_its_organization(backend: Backend) -> None:
    in_org, alone = a_course(), a_course()
    in_org.organization_id = ORG_ID
    async with backend.uow() as uow:
        uow.courses.add(in_org)
        uow.courses.add(alone)
        await uow.commit()
    async with backend.uow() as uow:
        loaded, other = await uow.courses.get(in_org.id), await uow.courses.get(alone.id)
        assert loaded is not None
        assert other is not None
        assert (loaded.organization_id, other.organization_id) == (ORG_ID, None)
        assert loaded.authorization_scopes() == (Scope.course(in_org.id), Scope.organization(ORG_ID))
        assert other.authorization_scopes() == (Scope.course(alone.id),)


async def test_creating_a_course_in_an_organization_needs_a_grant_there(backend: Backend) -> None:
    service = CourseService(backend.uow, backend.queries, FixedClock(T0), RolePolicy(), CursorCodec(CURSOR_SECRET))
    instructor = Principal(
        subject="user:instructor",
        user_id=uuid.uuid4(),
        grants=(Grant(Role.INSTRUCTOR, Scope.organization(ORG_ID)),),
    )
    course = await service.create(instructor, CreateCourse(title="Org course", organization_id=ORG_ID))
    async with backend.uow() as uow:
        stored = await uow.courses.get(course.id)
        assert stored is not None
        assert (stored.organization_id, stored.owner_id) == (ORG_ID, instructor.user_id)
    with pytest.raises(PermissionDenied):
        await service.create(instructor, CreateCourse(title="Platform course"))
    with pytest.raises(PermissionDenied):
        await service.create(instructor, CreateCourse(title="Elsewhere", organization_id=uuid.uuid4()))
