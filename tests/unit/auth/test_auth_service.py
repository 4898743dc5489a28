"""Authentication use cases on the fakes: password sign-in, throttling, sessions with refresh-token
rotation and reuse detection, per-request authentication, and external sign-in through OIDC."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from elearning_core.auth.model import Grant, Role, Scope
from elearning_core.auth.service import SESSION_ENDED, WRONG_CREDENTIALS, AuthConfig, IssuedTokens, user_principal
from elearning_core.identity import events as ev
from elearning_core.identity.commands import RoleGrantSpec
from elearning_core.identity.model import ExternalIdentity, UserStatus
from elearning_core.identity.service import Throttle
from elearning_core.shared.errors import NotFound, TooManyAttempts, Unauthenticated
from elearning_core.shared.ports import SYSTEM
from tests.fakes import PASSWORD, FakeOidcProvider, IdentityPlatform, an_identity_platform

IP = "203.0.113.7"
REDIRECT = "https://learn.example.org/api/v1/auth/oidc/callback"
T = TypeVar("T")


@pytest.fixture
def platform() -> IdentityPlatform:
    return an_identity_platform()


async def login(platform: IdentityPlatform, email: str = "ada@example.org", password: str = PASSWORD) -> IssuedTokens:
    return await platform.auth.login(email, password, client_ip=IP)


# -- password sign-in ---------------------------------------------------------------------


async def test_login_issues_tokens_for_a_new_session(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org", grants=[Grant(Role.LEARNER)])
    issued = await login(platform, "ADA@example.org")
    assert issued.user_id == user.id
    assert issued.token_type == "Bearer"
    assert issued.expires_in == 600
    assert issued.refresh_expires_at == platform.clock.now() + timedelta(days=14)
    [session] = platform.sessions_of(user.id)
    assert (session.id, session.kind, session.revoked_at) == (issued.session_id, "bearer", None)
    assert session.expires_at == platform.clock.now() + timedelta(days=90)
    claims = platform.tokens.verify_access(issued.access_token)
    assert (claims.subject, claims.session_id) == (str(user.id), str(issued.session_id))
    assert issued.refresh_token not in str(platform.store.records["refresh"])  # only its digest is kept

    principal = await platform.auth.authenticate(issued.access_token)
    assert (principal.user_id, principal.session_id, principal.subject) == (
        user.id,
        issued.session_id,
        f"user:{user.id}",
    )
    assert principal.grants == (Grant(Role.LEARNER),)


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer_after_the_same_work(
    platform: IdentityPlatform,
) -> None:
    await platform.add_user("ada@example.org")
    with pytest.raises(Unauthenticated) as wrong_password:
        await login(platform, "ada@example.org", "not the password")
    assert (platform.hasher.verify_calls, platform.hasher.verify_unknown_calls) == (1, 0)

    with pytest.raises(Unauthenticated) as unknown_email:
        await login(platform, "nobody@example.org", "not the password")
    assert (platform.hasher.verify_calls, platform.hasher.verify_unknown_calls) == (1, 1)

    with pytest.raises(Unauthenticated) as not_an_email:
        await login(platform, "not an email", "not the password")
    assert platform.hasher.verify_unknown_calls == 2

    assert str(wrong_password.value) == str(unknown_email.value) == str(not_an_email.value) == WRONG_CREDENTIALS
    assert platform.store.records["sessions"] == {}


async def test_an_account_without_a_password_cannot_sign_in_with_one(platform: IdentityPlatform) -> None:
    await platform.add_user("ada@example.org", password=None)
    with pytest.raises(Unauthenticated, match=WRONG_CREDENTIALS):
        await login(platform, "ada@example.org", "")
    assert platform.hasher.verify_unknown_calls == 1


async def test_a_suspended_account_cannot_sign_in(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    await platform.identity.set_status(SYSTEM, user.id, suspended=True)
    with pytest.raises(Unauthenticated, match="suspended"):
        await login(platform)
    with pytest.raises(Unauthenticated, match=WRONG_CREDENTIALS):  # nothing said without the password
        await login(platform, password="not the password")
    assert platform.sessions_of(user.id) == []


async def test_a_hash_made_with_old_parameters_is_replaced_on_login(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    await login(platform)
    assert platform.stored(user.id).password_hash == f"hashed:v1:{PASSWORD}"
    assert platform.hasher.hash_calls == 0

    platform.hasher.params = "v2"
    await login(platform)
    assert platform.stored(user.id).password_hash == f"hashed:v2:{PASSWORD}"
    [changed] = [e for e in platform.store.outbox if isinstance(e, ev.PasswordChanged)]
    assert changed.reason == "rehash"

    await login(platform)
    assert platform.hasher.hash_calls == 1  # rehashed once, not at every login


async def test_the_account_throttle_refuses_after_the_limit_even_the_right_password(
    platform: IdentityPlatform,
) -> None:
    await platform.add_user("ada@example.org")
    limit = platform.auth.config.login_per_account.limit
    for n in range(limit):
        with pytest.raises(Unauthenticated):
            await login(platform, "Ada@Example.org" if n % 2 else "ada@example.org", f"guess {n}")
    with pytest.raises(TooManyAttempts) as refused:
        await login(platform)
    assert 0 < refused.value.retry_after_seconds <= platform.auth.config.login_per_account.window_seconds
    assert platform.hasher.verify_calls == limit  # a throttled attempt costs no hashing
    with pytest.raises(Unauthenticated):  # another account's counter is its own
        await login(platform, "bob@example.org", "any password at all")

    platform.clock.advance(timedelta(seconds=refused.value.retry_after_seconds))
    assert (await login(platform)).user_id is not None


async def test_a_successful_login_resets_the_account_counter(platform: IdentityPlatform) -> None:
    await platform.add_user("ada@example.org")
    limit = platform.auth.config.login_per_account.limit
    for _ in range(limit - 1):
        with pytest.raises(Unauthenticated):
            await login(platform, password="wrong")
    await login(platform)
    for _ in range(limit - 1):
        with pytest.raises(Unauthenticated):
            await login(platform, password="wrong")
    await login(platform)  # the limit-th attempt since the last success
    for _ in range(limit):
        with pytest.raises(Unauthenticated):
            await login(platform, password="wrong")
    with pytest.raises(TooManyAttempts):
        await login(platform, password="wrong")


async def test_the_ip_throttle_spans_accounts() -> None:
    platform = an_identity_platform(auth_config=AuthConfig(login_per_ip=Throttle(3, 60)))
    for n in range(3):
        with pytest.raises(Unauthenticated):
            await login(platform, f"user{n}@example.org", "guess")
    with pytest.raises(TooManyAttempts):
        await login(platform, "user9@example.org", "guess")
    with pytest.raises(Unauthenticated):  # another address is not held back
        await platform.auth.login("user9@example.org", "guess", client_ip="198.51.100.2")


# -- sessions -------------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    first = await login(platform)
    platform.clock.advance(timedelta(minutes=5))
    second = await platform.auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert (second.session_id, second.user_id) == (first.session_id, user.id)
    assert (await platform.auth.authenticate(second.access_token)).session_id == first.session_id
    third = await platform.auth.refresh(second.refresh_token)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_a_reused_refresh_token_ends_the_whole_family(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    stolen = await login(platform)
    other_device = await login(platform)
    rotated = await platform.auth.refresh(stolen.refresh_token)

    with pytest.raises(Unauthenticated, match="already used; the session has been ended"):
        await platform.auth.refresh(stolen.refresh_token)

    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await platform.auth.refresh(rotated.refresh_token)  # the newest of the family too
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await platform.auth.authenticate(rotated.access_token)
    [ended] = [s for s in platform.sessions_of(user.id) if s.id == stolen.session_id]
    assert ended.revoked_reason == "refresh token reused"
    # Another sign-in of the same account is another family, untouched.
    assert (await platform.auth.refresh(other_device.refresh_token)).session_id == other_device.session_id


async def test_refresh_refuses_unknown_idle_and_too_old_sessions(platform: IdentityPlatform) -> None:
    await platform.add_user("ada@example.org")
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await platform.auth.refresh("never-issued")

    idle = await login(platform)
    platform.clock.advance(timedelta(days=14))
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await platform.auth.refresh(idle.refresh_token)

    tokens = await login(platform)
    start = platform.clock.now()
    for _ in range(6):  # 78 days of a session refreshed every 13 days
        platform.clock.advance(timedelta(days=13))
        tokens = await platform.auth.refresh(tokens.refresh_token)
    assert tokens.refresh_expires_at == start + timedelta(days=90)  # capped by the session's absolute end
    platform.clock.advance(timedelta(days=13))
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await platform.auth.refresh(tokens.refresh_token)


async def test_logout_ends_one_session(platform: IdentityPlatform) -> None:
    await platform.add_user("ada@example.org")
    by_token, by_access, untouched = await login(platform), await login(platform), await login(platform)

    assert await platform.auth.logout(refresh_token=by_token.refresh_token) is True
    assert await platform.auth.logout(refresh_token=by_token.refresh_token) is False
    me = await platform.auth.authenticate(by_access.access_token)
    assert await platform.auth.logout(actor=me) is True
    assert await platform.auth.logout() is False
    assert await platform.auth.logout(refresh_token="unknown") is False

    for ended in (by_token, by_access):
        with pytest.raises(Unauthenticated, match=SESSION_ENDED):
            await platform.auth.authenticate(ended.access_token)
        with pytest.raises(Unauthenticated, match=SESSION_ENDED):
            await platform.auth.refresh(ended.refresh_token)
    assert (await platform.auth.authenticate(untouched.access_token)).session_id == untouched.session_id


# -- authenticating a request -------------------------------------------------------------------


async def test_authenticate_carries_the_users_current_grants(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    course = await platform.add_course()
    tokens = await login(platform)
    assert (await platform.auth.authenticate(tokens.access_token)).grants == ()

    spec = RoleGrantSpec(role="instructor", scope="course", scope_id=course.id)
    await platform.identity.grant_role(SYSTEM, user.id, spec)
    assert (await platform.auth.authenticate(tokens.access_token)).grants == (
        Grant(Role.INSTRUCTOR, Scope.course(course.id)),
    )
    await platform.identity.revoke_role(SYSTEM, user.id, spec)
    assert (await platform.auth.authenticate(tokens.access_token)).grants == ()


async def test_authenticate_refuses_after_suspension_and_for_bad_tokens_with_a_safe_message(
    platform: IdentityPlatform,
) -> None:
    user = await platform.add_user("ada@example.org")
    tokens = await login(platform)
    for garbage in ("", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJldmlsIn0."):
        with pytest.raises(Unauthenticated) as error:
            await platform.auth.authenticate(garbage)
        assert str(error.value) == "the bearer token is invalid"

    platform.clock.advance(timedelta(minutes=10))
    with pytest.raises(Unauthenticated) as expired:
        await platform.auth.authenticate(tokens.access_token)
    assert str(expired.value) == "the bearer token is expired"

    fresh = await platform.auth.refresh(tokens.refresh_token)
    await platform.identity.set_status(SYSTEM, user.id, suspended=True)
    with pytest.raises(Unauthenticated, match="the account is not active"):
        await platform.auth.authenticate(fresh.access_token)


async def test_a_token_naming_no_user_is_refused(platform: IdentityPlatform) -> None:
    odd = platform.tokens.issue_access("service:reports")
    with pytest.raises(Unauthenticated, match="the bearer token is invalid"):
        await platform.auth.authenticate(odd)
    ghost = platform.tokens.issue_access(str(uuid.uuid4()))
    with pytest.raises(Unauthenticated, match="the account is not active"):
        await platform.auth.authenticate(ghost)


# -- sessions as a state machine ----------------------------------------------------------------

UNLIMITED = AuthConfig(login_per_account=Throttle(10**9, 900), login_per_ip=Throttle(10**9, 900))


@dataclass
class Family:
    user_id: uuid.UUID
    tokens: list[str]
    access_token: str
    revoked: bool = False


@dataclass
class Model:
    active: dict[uuid.UUID, bool] = field(default_factory=dict)
    families: dict[uuid.UUID, Family] = field(default_factory=dict)


class SessionMachine(RuleBasedStateMachine):
    """Logins, refreshes (of the latest token or of any token ever issued), logouts, suspensions.

    The model: a family is revoked by logout, by its user's suspension, or by a
    refresh with a token of it that is not its latest; a refresh succeeds
    exactly when the token is the latest of an unrevoked family whose user is active.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.platform = an_identity_platform(auth_config=UNLIMITED)
        self.users = [self.run(self.platform.add_user(f"user{n}@example.org")) for n in range(2)]
        self.model = Model(active={u.id: True for u in self.users})

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    def family_of(self, token: str) -> Family:
        [family] = [f for f in self.model.families.values() if token in f.tokens]
        return family

    @rule(n=st.integers(0, 1))
    def login(self, n: int) -> None:
        user = self.users[n]
        if not self.model.active[user.id]:
            with pytest.raises(Unauthenticated, match="suspended"):
                self.run(login(self.platform, user.email))
            return
        issued = self.run(login(self.platform, user.email))
        assert issued.session_id not in self.model.families
        self.model.families[issued.session_id] = Family(user.id, [issued.refresh_token], issued.access_token)

    @precondition(lambda self: self.model.families)
    @rule(data=st.data(), latest=st.booleans())
    def refresh(self, data: st.DataObject, latest: bool) -> None:
        families = list(self.model.families.values())
        if latest:
            token = data.draw(st.sampled_from(families), label="family").tokens[-1]
        else:
            token = data.draw(st.sampled_from([t for f in families for t in f.tokens]), label="any token")
        family = self.family_of(token)
        expected = token == family.tokens[-1] and not family.revoked and self.model.active[family.user_id]
        try:
            issued = self.run(self.platform.auth.refresh(token))
        except Unauthenticated:
            assert not expected, "a refresh of the latest token of a live family was refused"
            family.revoked = True  # a spent token revokes the family; a revoked one stays revoked
            return
        assert expected, "a refresh succeeded with a spent token or a revoked family"
        assert (issued.user_id, issued.refresh_token in family.tokens) == (family.user_id, False)
        family.tokens.append(issued.refresh_token)
        family.access_token = issued.access_token

    @precondition(lambda self: self.model.families)
    @rule(data=st.data(), by_refresh_token=st.booleans())
    def logout(self, data: st.DataObject, by_refresh_token: bool) -> None:
        family = data.draw(st.sampled_from(list(self.model.families.values())), label="family")
        if by_refresh_token:
            ended = self.run(self.platform.auth.logout(refresh_token=data.draw(st.sampled_from(family.tokens))))
        else:
            session_id = self.platform.tokens.verify_access(family.access_token).session_id
            assert session_id is not None
            actor = user_principal(family.user_id, (), uuid.UUID(session_id))
            ended = self.run(self.platform.auth.logout(actor=actor))
        assert ended is not family.revoked
        family.revoked = True

    @rule(n=st.integers(0, 1), suspended=st.booleans())
    def set_status(self, n: int, suspended: bool) -> None:
        user = self.users[n]
        self.run(self.platform.identity.set_status(SYSTEM, user.id, suspended=suspended))
        self.model.active[user.id] = not suspended
        if suspended:
            for family in self.model.families.values():
                if family.user_id == user.id:
                    family.revoked = True

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        for session_id, family in self.model.families.items():
            session = self.platform.store.records["sessions"][session_id]
            assert (session.revoked_at is not None) is family.revoked
            assert self.platform.stored(family.user_id).is_active is self.model.active[family.user_id]

    @invariant()
    def an_access_token_works_exactly_while_its_session_and_user_do(self) -> None:
        for family in self.model.families.values():
            live = not family.revoked and self.model.active[family.user_id]
            try:
                principal = self.run(self.platform.auth.authenticate(family.access_token))
            except Unauthenticated:
                assert not live
            else:
                assert live
                assert principal.user_id == family.user_id


TestSessions = SessionMachine.TestCase
TestSessions.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- external sign-in -------------------------------------------------------------------------


@pytest.fixture
def acme() -> FakeOidcProvider:
    return FakeOidcProvider("acme")


@pytest.fixture
def closed() -> FakeOidcProvider:
    return FakeOidcProvider("corp", provision=False)


@pytest.fixture
def federated(acme: FakeOidcProvider, closed: FakeOidcProvider) -> IdentityPlatform:
    return an_identity_platform(providers=[acme, closed])


async def external_sign_in(
    platform: IdentityPlatform,
    provider: FakeOidcProvider,
    identity: ExternalIdentity,
    *,
    return_to: str | None = None,
) -> tuple[IssuedTokens, str | None]:
    url = await platform.auth.begin_external(provider.name, redirect_uri=REDIRECT, return_to=return_to)
    code, state = provider.sign_in(url, identity)
    return await platform.auth.complete_external(provider.name, code=code, state=state, redirect_uri=REDIRECT)


async def test_begin_keeps_a_pending_login_and_sends_the_browser_to_the_provider(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    url = await federated.auth.begin_external("acme", redirect_uri=REDIRECT, return_to="/courses")
    assert url.startswith("https://id.acme.test/authorize?")
    assert "code_challenge_method=S256" in url
    [pending] = federated.store.records["pending"].values()
    assert (pending.provider, pending.return_to) == ("acme", "/courses")
    assert pending.expires_at == federated.clock.now() + timedelta(minutes=10)
    assert pending.code_verifier not in url  # only its challenge travels
    assert federated.auth.providers == ["acme", "corp"]
    with pytest.raises(NotFound, match="identity provider"):
        await federated.auth.begin_external("nowhere", redirect_uri=REDIRECT)
    acme.available = False
    with pytest.raises(Unauthenticated, match="acme is not available"):
        await federated.auth.begin_external("acme", redirect_uri=REDIRECT)


async def test_a_verified_email_links_the_identity_to_the_existing_account(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    user = await federated.add_user("Ada@Example.org", verified=False)
    identity = acme.identity("sub-ada", "ada@example.org", name="Ada")

    issued, return_to = await external_sign_in(federated, acme, identity, return_to="/dashboard")

    assert issued.user_id == user.id
    assert return_to == "/dashboard"
    assert federated.stored(user.id).email_verified  # the provider vouched for the mailbox
    [session] = federated.sessions_of(user.id)
    assert session.kind == "cookie"  # a browser's sign-in
    async with federated.uow() as uow:
        assert await uow.external_identities.links_of(user.id) == [("acme", acme.issuer)]
    [linked] = [e for e in federated.store.outbox if isinstance(e, ev.ExternalIdentityLinked)]
    assert (linked.aggregate_id, linked.provider, linked.issuer) == (user.id, "acme", acme.issuer)
    assert len(federated.store.users) == 1

    # Later sign-ins find the link by subject, whatever email the provider now says.
    moved = acme.identity("sub-ada", "ada@elsewhere.example", email_verified=False)
    again, _ = await external_sign_in(federated, acme, moved)
    assert again.user_id == user.id
    assert federated.sessions_of(user.id)[-1].kind == "bearer"


async def test_a_new_identity_provisions_an_account_when_the_provider_allows(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    issued, _ = await external_sign_in(federated, acme, acme.identity("sub-new", "grace@example.org", name="Grace"))
    user = federated.stored(issued.user_id)
    assert (user.email, user.display_name, user.password_hash, user.email_verified) == (
        "grace@example.org",
        "Grace",
        None,
        True,
    )
    [registered] = [e for e in federated.store.outbox if isinstance(e, ev.UserRegistered)]
    assert registered.source == "oidc:acme"
    assert (await federated.auth.authenticate(issued.access_token)).user_id == user.id

    nameless, _ = await external_sign_in(federated, acme, acme.identity("sub-2", "linus@example.org"))
    assert federated.stored(nameless.user_id).display_name == "linus"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("   ", "mary"), ("  Mary \t Somerville ", "Mary Somerville"), ("M" * 300, "M" * 100)],
)
async def test_a_provisioned_account_takes_any_name_the_provider_gives(
    federated: IdentityPlatform, acme: FakeOidcProvider, name: str, expected: str
) -> None:
    """The provider's ``name`` claim is free text nobody here controls: it must not make the sign-in fail."""
    issued, _ = await external_sign_in(federated, acme, acme.identity("sub-m", "mary@example.org", name=name))
    assert federated.stored(issued.user_id).display_name == expected


async def test_a_new_identity_is_refused_when_the_provider_does_not_provision(
    federated: IdentityPlatform, closed: FakeOidcProvider
) -> None:
    with pytest.raises(Unauthenticated, match="no account exists for this corp identity; ask an administrator"):
        await external_sign_in(federated, closed, closed.identity("sub-x", "eve@example.org"))
    assert federated.store.users == {}
    assert federated.store.records["links"] == {}
    # An existing account is linked all the same.
    user = await federated.add_user("eve@example.org")
    issued, _ = await external_sign_in(federated, closed, closed.identity("sub-x", "eve@example.org"))
    assert issued.user_id == user.id


@pytest.mark.parametrize("email", [None, ""])
async def test_an_identity_without_a_verified_email_is_refused(
    federated: IdentityPlatform, acme: FakeOidcProvider, email: str | None
) -> None:
    user = await federated.add_user("ada@example.org")
    for identity in (
        acme.identity("sub-1", "ada@example.org", email_verified=False),
        acme.identity("sub-2", email),
    ):
        with pytest.raises(Unauthenticated, match="did not confirm a verified email address"):
            await external_sign_in(federated, acme, identity)
    assert list(federated.store.users) == [user.id]
    assert federated.store.records["links"] == {}
    assert federated.sessions_of(user.id) == []


async def test_a_state_is_good_once(federated: IdentityPlatform, acme: FakeOidcProvider) -> None:
    identity = acme.identity("sub-1", "ada@example.org")
    url = await federated.auth.begin_external("acme", redirect_uri=REDIRECT)
    code, state = acme.sign_in(url, identity)
    await federated.auth.complete_external("acme", code=code, state=state, redirect_uri=REDIRECT)
    replay_code, _ = acme.sign_in(url, identity)
    with pytest.raises(Unauthenticated, match="expired or was already completed"):
        await federated.auth.complete_external("acme", code=replay_code, state=state, redirect_uri=REDIRECT)
    with pytest.raises(Unauthenticated, match="expired or was already completed"):
        await federated.auth.complete_external("acme", code=replay_code, state="made-up", redirect_uri=REDIRECT)
    assert federated.store.records["pending"] == {}


async def test_a_state_begun_for_one_provider_is_refused_by_another(
    federated: IdentityPlatform, acme: FakeOidcProvider, closed: FakeOidcProvider
) -> None:
    await federated.add_user("ada@example.org")
    url = await federated.auth.begin_external("acme", redirect_uri=REDIRECT)
    code, state = acme.sign_in(url, acme.identity("sub-1", "ada@example.org"))
    with pytest.raises(Unauthenticated, match="expired or was already completed"):
        await federated.auth.complete_external("corp", code=code, state=state, redirect_uri=REDIRECT)
    with pytest.raises(Unauthenticated, match="expired or was already completed"):  # and it is spent
        await federated.auth.complete_external("acme", code=code, state=state, redirect_uri=REDIRECT)
    assert federated.store.records["links"] == {}


async def test_a_pending_login_expires(federated: IdentityPlatform, acme: FakeOidcProvider) -> None:
    url = await federated.auth.begin_external("acme", redirect_uri=REDIRECT)
    code, state = acme.sign_in(url, acme.identity("sub-1", "ada@example.org"))
    federated.clock.advance(timedelta(minutes=10))
    with pytest.raises(Unauthenticated, match="expired or was already completed"):
        await federated.auth.complete_external("acme", code=code, state=state, redirect_uri=REDIRECT)


async def test_a_failed_code_exchange_is_refused_with_the_providers_reason(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    url = await federated.auth.begin_external("acme", redirect_uri=REDIRECT)
    _, state = acme.sign_in(url, acme.identity("sub-1", "ada@example.org"))
    with pytest.raises(Unauthenticated, match="acme sign-in failed: invalid_grant"):
        await federated.auth.complete_external("acme", code="forged", state=state, redirect_uri=REDIRECT)
    url = await federated.auth.begin_external("acme", redirect_uri=REDIRECT)
    code, state = acme.sign_in(url, acme.identity("sub-1", "ada@example.org"))
    with pytest.raises(Unauthenticated, match="redirect_uri mismatch"):
        await federated.auth.complete_external("acme", code=code, state=state, redirect_uri="https://evil.example")
    assert federated.store.users == {}


async def test_a_suspended_account_cannot_sign_in_externally(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    user = await federated.add_user("ada@example.org")
    identity = acme.identity("sub-1", "ada@example.org")
    await external_sign_in(federated, acme, identity)
    await federated.identity.set_status(SYSTEM, user.id, suspended=True)
    with pytest.raises(Unauthenticated, match="not active"):
        await external_sign_in(federated, acme, identity)
    other = await federated.add_user("bob@example.org")
    await federated.identity.set_status(SYSTEM, other.id, suspended=True)
    with pytest.raises(Unauthenticated, match="not active"):
        await external_sign_in(federated, acme, acme.identity("sub-bob", "bob@example.org"))
    assert federated.store.users[other.id].status is UserStatus.SUSPENDED


async def test_a_linked_providers_access_token_authenticates_as_its_user(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    user = await federated.add_user("ada@example.org", grants=[Grant(Role.LEARNER)])
    identity = acme.identity("sub-ada", "ada@example.org")
    await external_sign_in(federated, acme, identity)

    principal = await federated.auth.authenticate(acme.access_token(identity))

    assert (principal.user_id, principal.session_id, principal.grants) == (user.id, None, (Grant(Role.LEARNER),))
    await federated.identity.set_status(SYSTEM, user.id, suspended=True)
    with pytest.raises(Unauthenticated, match="the account is not active"):
        await federated.auth.authenticate(acme.access_token(identity))


async def test_an_unlinked_providers_access_token_is_refused_with_how_to_link(
    federated: IdentityPlatform, acme: FakeOidcProvider
) -> None:
    await federated.add_user("ada@example.org")
    token = acme.access_token(acme.identity("sub-ada", "ada@example.org"))
    with pytest.raises(Unauthenticated) as error:
        await federated.auth.authenticate(token)
    assert str(error.value) == (
        "no account is linked to this acme identity; sign in once through /api/v1/auth/oidc/acme/authorize"
    )
    forged = token.rsplit(".", 1)[0] + ".forged-signature"
    with pytest.raises(Unauthenticated) as invalid:
        await federated.auth.authenticate(forged)
    assert str(invalid.value) == "the bearer token is invalid"
    stranger = FakeOidcProvider("stranger")  # not configured: its tokens are just invalid
    with pytest.raises(Unauthenticated, match="the bearer token is invalid"):
        await federated.auth.authenticate(stranger.access_token(stranger.identity("s", "s@example.org")))
