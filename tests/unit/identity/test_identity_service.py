"""Identity use cases on the fakes: sign-up, email links, passwords, deletion, suspension, role grants."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError

from elearning_core.auth.model import Grant, Permission, Role, Scope, ScopeKind
from elearning_core.identity import events as ev
from elearning_core.identity.commands import (
    ChangePassword,
    ConfirmPasswordReset,
    CreateUser,
    RegisterUser,
    RoleGrantSpec,
    UpdateProfile,
)
from elearning_core.identity.events import MemberRemoved, UserDeleted
from elearning_core.identity.model import ExternalIdentity, TokenPurpose, User, UserStatus
from elearning_core.identity.ports import MailMessage, UserListFilter
from elearning_core.identity.service import INVALID_LINK, IdentityConfig, token_digest
from elearning_core.shared.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from tests.fakes import PASSWORD, IdentityPlatform, an_identity_platform

NEW_PASSWORD = "a brand new passphrase"
IP = "203.0.113.7"


@pytest.fixture
def platform() -> IdentityPlatform:
    return an_identity_platform()


def registration(email: str = "ada@example.org", password: str = PASSWORD, **more: str) -> RegisterUser:
    return RegisterUser(email=email, password=password, display_name=more.pop("display_name", "Ada Lovelace"), **more)


def link_token(mail: MailMessage) -> str:
    found = re.search(r"verify-email\?token=([A-Za-z0-9_-]+)", mail.text)
    assert found, mail.text
    return found.group(1)


def reset_token(mail: MailMessage) -> str:
    found = re.search(r"https?://\S+/api/v1/auth/password-reset/confirm\?token=([A-Za-z0-9_-]{20,})\n", mail.text)
    assert found, mail.text
    return found.group(1)


def event_types(platform: IdentityPlatform) -> list[type[DomainEvent]]:
    return [type(e) for e in platform.store.outbox]


async def registered(platform: IdentityPlatform, email: str = "ada@example.org") -> tuple[User, str]:
    """Register through the use case; the stored user and the token of its verification mail."""
    await platform.identity.register(registration(email))
    [mail] = await platform.mails_to(email)
    [user] = [u for u in platform.store.users.values() if u.email_key == email.lower()]
    return user, link_token(mail)


async def can_log_in(platform: IdentityPlatform, email: str, password: str) -> bool:
    try:
        await platform.auth.login(email, password, client_ip=IP)
    except Unauthenticated:
        return False
    return True


# -- registration -------------------------------------------------------------------------


async def test_register_mails_a_link_that_verifies_the_email_once(platform: IdentityPlatform) -> None:
    await platform.identity.register(registration("Ada@Example.org"))  # -> None: the answer says nothing
    [mail] = await platform.mails_to("Ada@example.org")
    assert mail.subject == "Confirm your email address"
    assert mail.text.startswith("Hello Ada Lovelace,")
    [user] = platform.store.users.values()
    assert (user.email, user.email_verified, user.password_hash) == ("Ada@example.org", False, f"hashed:v1:{PASSWORD}")
    token = link_token(mail)
    assert token_digest(token) in platform.store.records["tokens"]
    assert token not in str(platform.store.records["tokens"])  # only the digest is stored

    verified = await platform.identity.verify_email(token)
    assert verified.id == user.id
    assert platform.stored(user.id).email_verified_at == platform.clock.now()
    assert event_types(platform) == [ev.UserRegistered, ev.EmailVerified]

    with pytest.raises(ValidationFailed, match="already used") as error:
        await platform.identity.verify_email(token)
    assert [e.field for e in error.value.errors] == ["token"]
    assert event_types(platform) == [ev.UserRegistered, ev.EmailVerified]


async def test_a_verification_link_expires_after_its_ttl(platform: IdentityPlatform) -> None:
    ttl = IdentityConfig().verify_ttl
    _, early_token = await registered(platform, "early@example.org")
    late, late_token = await registered(platform, "late@example.org")
    platform.clock.advance(ttl - timedelta(seconds=1))
    assert (await platform.identity.verify_email(early_token)).email_verified
    platform.clock.advance(timedelta(seconds=1))
    with pytest.raises(ValidationFailed, match=re.escape(INVALID_LINK)):
        await platform.identity.verify_email(late_token)
    assert not platform.stored(late.id).email_verified
    with pytest.raises(ValidationFailed):
        await platform.identity.verify_email("not-a-token-anyone-was-sent")


async def test_registering_a_taken_email_answers_the_same_and_tells_only_the_owner(platform: IdentityPlatform) -> None:
    owner, _ = await registered(platform, "ada@example.org")
    events_before, tokens_before = list(platform.store.outbox), dict(platform.store.records["tokens"])

    # The same answer as a new email gets (None, no error); only the owner hears of it, by mail.
    await platform.identity.register(registration("ADA@Example.ORG", password="an attacker's password"))

    assert list(platform.store.users) == [owner.id]
    assert platform.stored(owner.id).password_hash == f"hashed:v1:{PASSWORD}"
    assert platform.store.records["tokens"] == tokens_before
    assert platform.store.outbox == events_before
    mails = await platform.mails_to("ada@example.org")
    assert [m.subject for m in mails] == ["Confirm your email address", "You already have an account"]
    assert "verify-email?token=" not in mails[-1].text
    assert len(platform.mailer.sent) == 2


async def test_an_invalid_profile_is_refused_alike_whether_or_not_the_email_is_taken(
    platform: IdentityPlatform,
) -> None:
    """Otherwise the difference (an error for a new email, silence for a taken one) tells who has an account."""
    await registered(platform, "ada@example.org")
    for email in ("ada@example.org", "nobody@example.org"):
        for bad in ({"display_name": "   "}, {"time_zone": "Mars/Olympus_Mons"}, {"locale": "Klingon"}):
            with pytest.raises(ValidationFailed):
                await platform.identity.register(registration(email, **bad))
    assert len(platform.store.users) == 1
    assert [m.subject for m in await platform.mails_to("ada@example.org")] == ["Confirm your email address"]
    assert await platform.mails_to("nobody@example.org") == []


async def test_a_link_is_good_only_for_its_own_purpose(platform: IdentityPlatform) -> None:
    user, verify_token = await registered(platform, "ada@example.org")
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    reset = reset_token((await platform.mails_to("ada@example.org"))[-1])
    with pytest.raises(ValidationFailed):
        await platform.identity.verify_email(reset)
    with pytest.raises(ValidationFailed):
        await platform.identity.confirm_password_reset(
            ConfirmPasswordReset(token=verify_token, new_password=NEW_PASSWORD)
        )
    assert not platform.stored(user.id).email_verified
    assert platform.stored(user.id).password_hash == f"hashed:v1:{PASSWORD}"


async def test_resending_the_verification_mail(platform: IdentityPlatform) -> None:
    user, first = await registered(platform, "ada@example.org")
    assert await platform.identity.resend_verification(platform.principal(user)) is True
    second = link_token((await platform.mails_to("ada@example.org"))[-1])
    assert second != first
    await platform.identity.verify_email(second)
    assert await platform.identity.resend_verification(platform.principal(user)) is False
    assert len(await platform.mails_to("ada@example.org")) == 2


async def test_a_verified_address_is_confirmed_again_only_when_asked(platform: IdentityPlatform) -> None:
    """Mail to a verified address that bounced is held back until its owner confirms it again: the link is
    sent on request, and following it is a new ``EmailVerified`` (the first verification time stays)."""
    user, first = await registered(platform, "ada@example.org")
    await platform.identity.verify_email(first)
    verified_at = platform.stored(user.id).email_verified_at
    assert await platform.identity.resend_verification(platform.principal(user)) is False
    platform.clock.advance(timedelta(minutes=5))
    assert await platform.identity.resend_verification(platform.principal(user), again=True) is True
    again = link_token((await platform.mails_to("ada@example.org"))[-1])
    await platform.identity.verify_email(again)
    assert platform.stored(user.id).email_verified_at == verified_at
    assert event_types(platform) == [ev.UserRegistered, ev.EmailVerified, ev.EmailVerified]


async def test_an_admin_creates_verified_accounts_and_a_taken_email_is_a_conflict(platform: IdentityPlatform) -> None:
    created = await platform.identity.create_user(
        SYSTEM, CreateUser(email="Grace@Example.org", display_name="Grace", password=PASSWORD)
    )
    assert platform.stored(created.id).email_verified
    assert await can_log_in(platform, "grace@example.org", PASSWORD)
    with pytest.raises(Conflict, match="already exists"):
        await platform.identity.create_user(SYSTEM, CreateUser(email="GRACE@example.org", display_name="Other"))
    with pytest.raises(PermissionDenied):
        await platform.identity.create_user(
            platform.principal(platform.stored(created.id)), CreateUser(email="x@example.org", display_name="X")
        )
    assert len(platform.store.users) == 1


def test_a_registration_naming_a_role_or_status_is_refused_outright() -> None:
    with pytest.raises(ValidationError, match="role") as error:
        RegisterUser.model_validate(
            {"email": "ada@example.org", "password": PASSWORD, "display_name": "Ada", "role": "platform_admin"}
        )
    assert error.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError, match="status"):
        RegisterUser(email="ada@example.org", password=PASSWORD, display_name="Ada", status="active")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("password", "message"),
    [("too short", "password must be 10 to 256 characters"), ("Ada@Example.org", "must not be the email address")],
)
async def test_passwords_breaking_the_rules_are_refused(
    platform: IdentityPlatform, password: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        await platform.identity.register(registration("ada@example.org", password=password))
    assert [e.field for e in error.value.errors] == ["password"]
    assert message in str(error.value)
    assert platform.store.users == {}
    assert await platform.mails_to("ada@example.org") == []


async def test_closed_registration_is_refused() -> None:
    platform = an_identity_platform(identity_config=IdentityConfig(registration_open=False))
    with pytest.raises(PermissionDenied, match="registration is closed"):
        await platform.identity.register(registration())
    assert platform.store.users == {}
    assert await platform.mails_to("ada@example.org") == []


# -- password reset ------------------------------------------------------------------------


async def test_a_reset_for_an_unknown_email_mails_nobody_and_answers_the_same(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    await platform.identity.request_password_reset("nobody@example.org", client_ip=IP)  # no error: no tell
    assert await platform.mails_to("nobody@example.org") == []
    assert platform.mailer.sent == []
    await platform.identity.request_password_reset("ADA@example.org", client_ip=IP)
    [mail] = await platform.mails_to("ada@example.org")
    assert mail.subject == "Reset your password"
    assert "within 60 minutes" in mail.text
    stored = platform.store.records["tokens"][token_digest(reset_token(mail))]
    assert (stored.user_id, stored.purpose) == (user.id, TokenPurpose.PASSWORD_RESET)


async def test_a_suspended_account_gets_no_reset_mail(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    await platform.identity.set_status(SYSTEM, user.id, suspended=True)
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    assert await platform.mails_to("ada@example.org") == []


async def test_confirming_a_reset_sets_the_password_and_ends_everything_else(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org", verified=False)
    laptop = await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    phone = await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    first, second = [reset_token(m) for m in await platform.mails_to("ada@example.org")]

    confirmed = await platform.identity.confirm_password_reset(
        ConfirmPasswordReset(token=second, new_password=NEW_PASSWORD)
    )

    assert confirmed.id == user.id
    stored = platform.stored(user.id)
    assert stored.password_hash == f"hashed:v1:{NEW_PASSWORD}"
    assert stored.email_verified  # the reset proved control of the mailbox
    assert await can_log_in(platform, "ada@example.org", NEW_PASSWORD)
    assert not await can_log_in(platform, "ada@example.org", PASSWORD)
    for tokens in (laptop, phone):
        with pytest.raises(Unauthenticated):
            await platform.auth.refresh(tokens.refresh_token)
        with pytest.raises(Unauthenticated):
            await platform.auth.authenticate(tokens.access_token)
    assert {s.revoked_reason for s in platform.sessions_of(user.id) if s.revoked_at} == {"password reset"}
    for used in (first, second):
        with pytest.raises(ValidationFailed, match=re.escape(INVALID_LINK)):
            await platform.identity.confirm_password_reset(ConfirmPasswordReset(token=used, new_password="x" * 12))
    changed = [e for e in platform.store.outbox if isinstance(e, ev.PasswordChanged)]
    assert [e.reason for e in changed] == ["reset"]
    assert ev.EmailVerified in event_types(platform)


async def test_a_reset_refused_for_its_new_password_leaves_the_link_usable(platform: IdentityPlatform) -> None:
    await platform.add_user("ada@example.org")
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    [mail] = await platform.mails_to("ada@example.org")
    with pytest.raises(ValidationFailed) as error:
        await platform.identity.confirm_password_reset(
            ConfirmPasswordReset(token=reset_token(mail), new_password="short")
        )
    assert [e.field for e in error.value.errors] == ["password"]
    await platform.identity.confirm_password_reset(
        ConfirmPasswordReset(token=reset_token(mail), new_password=NEW_PASSWORD)
    )
    assert await can_log_in(platform, "ada@example.org", NEW_PASSWORD)


async def test_a_reset_link_expires(platform: IdentityPlatform) -> None:
    await platform.add_user("ada@example.org")
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    [mail] = await platform.mails_to("ada@example.org")
    platform.clock.advance(IdentityConfig().reset_ttl)
    with pytest.raises(ValidationFailed, match=re.escape(INVALID_LINK)):
        await platform.identity.confirm_password_reset(
            ConfirmPasswordReset(token=reset_token(mail), new_password=NEW_PASSWORD)
        )
    assert await can_log_in(platform, "ada@example.org", PASSWORD)


async def test_the_fourth_reset_request_for_one_account_within_the_window_is_refused(
    platform: IdentityPlatform,
) -> None:
    await platform.add_user("ada@example.org")
    for email in ("ada@example.org", "Ada@Example.org", "ADA@EXAMPLE.ORG"):
        await platform.identity.request_password_reset(email, client_ip=IP)
    with pytest.raises(TooManyAttempts) as refused:
        await platform.identity.request_password_reset("ada@example.org", client_ip="198.51.100.1")
    assert 0 < refused.value.retry_after_seconds <= 3600
    assert len(await platform.mails_to("ada@example.org")) == 3
    # The same throttle for an email without an account: its answers tell nothing either.
    for _ in range(3):
        await platform.identity.request_password_reset("nobody@example.org", client_ip=IP)
    with pytest.raises(TooManyAttempts):
        await platform.identity.request_password_reset("nobody@example.org", client_ip=IP)

    platform.clock.advance(timedelta(seconds=refused.value.retry_after_seconds))
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    assert len(await platform.mails_to("ada@example.org")) == 4


# -- passwords, profile -----------------------------------------------------------------------


async def test_changing_the_password_needs_the_current_one_and_ends_the_sessions(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    tokens = await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    me = await platform.auth.authenticate(tokens.access_token)

    with pytest.raises(ValidationFailed) as error:
        await platform.identity.change_password(
            me, ChangePassword(current_password="wrong!", new_password=NEW_PASSWORD)
        )
    assert [e.field for e in error.value.errors] == ["current_password"]
    assert platform.stored(user.id).password_hash == f"hashed:v1:{PASSWORD}"
    assert platform.active_sessions_of(user.id) != []

    with pytest.raises(ValidationFailed, match="must not be the email address"):
        await platform.identity.change_password(
            me, ChangePassword(current_password=PASSWORD, new_password="ada@example.org")
        )

    await platform.identity.change_password(me, ChangePassword(current_password=PASSWORD, new_password=NEW_PASSWORD))
    assert platform.stored(user.id).password_hash == f"hashed:v1:{NEW_PASSWORD}"
    assert platform.active_sessions_of(user.id) == []
    with pytest.raises(Unauthenticated):
        await platform.auth.refresh(tokens.refresh_token)
    assert await can_log_in(platform, "ada@example.org", NEW_PASSWORD)
    assert not await can_log_in(platform, "ada@example.org", PASSWORD)


async def test_a_service_account_has_no_password_to_change(platform: IdentityPlatform) -> None:
    with pytest.raises(Unauthenticated, match="service account"):
        await platform.identity.change_password(
            SYSTEM, ChangePassword(current_password=PASSWORD, new_password=NEW_PASSWORD)
        )


async def test_profiles_are_edited_by_their_owner_or_an_admin(platform: IdentityPlatform) -> None:
    ada = await platform.add_user(display_name="Ada")
    bob = await platform.add_user(display_name="Bob")
    updated = await platform.identity.update_profile(platform.principal(ada), ada.id, UpdateProfile(bio="Countess"))
    assert updated.bio == platform.stored(ada.id).bio == "Countess"
    with pytest.raises(PermissionDenied):
        await platform.identity.update_profile(platform.principal(bob), ada.id, UpdateProfile(bio="Vandal"))
    await platform.identity.update_profile(SYSTEM, ada.id, UpdateProfile(display_name="Ada L."))
    assert platform.stored(ada.id).display_name == "Ada L."
    assert platform.stored(ada.id).bio == "Countess"


# -- deletion -----------------------------------------------------------------------------


async def test_the_owner_deletes_the_account_with_the_password(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org", grants=[Grant(Role.INSTRUCTOR)])
    organization = await platform.add_organization("acme")
    await platform.add_member(organization.id, user.id)
    identity = ExternalIdentity("acme", "https://id.acme.test", "sub-1", "ada@example.org", True, "Ada")
    async with platform.uow() as uow:
        await uow.external_identities.link(identity, user.id, platform.clock.now())
        await uow.commit()
    tokens = await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    [reset_mail] = await platform.mails_to("ada@example.org")
    me = await platform.auth.authenticate(tokens.access_token)

    for password in (None, "not the password"):
        with pytest.raises(ValidationFailed, match="confirm the deletion") as error:
            await platform.identity.delete_account(me, user.id, password=password)
        assert [e.field for e in error.value.errors] == ["password"]
        assert platform.stored(user.id).status is UserStatus.ACTIVE

    await platform.identity.delete_account(me, user.id, password=PASSWORD)

    stored = platform.stored(user.id)
    assert (stored.status, stored.password_hash, stored.grants) == (UserStatus.DELETED, None, set())
    assert stored.email_key != "ada@example.org"
    assert platform.active_sessions_of(user.id) == []
    async with platform.uow() as uow:
        assert await uow.external_identities.links_of(user.id) == []
        assert await uow.external_identities.find(identity.issuer, identity.subject) is None
        assert await uow.organizations.member_count(organization.id) == 0
        assert await uow.organizations.organizations_of(user.id) == []
    # Other modules learn of it: the deletion, and the membership it ended, as removing a member would say.
    removed = [e for e in platform.store.outbox if isinstance(e, MemberRemoved)]
    assert [(e.aggregate_id, e.user_id) for e in removed] == [(organization.id, user.id)]
    assert any(isinstance(e, UserDeleted) and e.aggregate_id == user.id for e in platform.store.outbox)
    with pytest.raises(ValidationFailed):
        await platform.identity.confirm_password_reset(
            ConfirmPasswordReset(token=reset_token(reset_mail), new_password=NEW_PASSWORD)
        )
    with pytest.raises(Unauthenticated):
        await platform.auth.authenticate(tokens.access_token)
    assert not await can_log_in(platform, "ada@example.org", PASSWORD)
    assert ev.UserDeleted in event_types(platform)
    with pytest.raises(NotFound):
        await platform.identity.delete_account(SYSTEM, user.id)
    # The address is free again.
    await platform.identity.register(registration("ada@example.org"))
    assert len(platform.store.users) == 2


async def test_an_admin_deletes_without_a_password_and_nobody_else_can(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    other = await platform.add_user("bob@example.org")
    with pytest.raises(PermissionDenied):
        await platform.identity.delete_account(platform.principal(other), user.id, password=PASSWORD)
    admin = await platform.add_user("root@example.org", grants=[Grant(Role.PLATFORM_ADMIN)])
    await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    await platform.identity.delete_account(platform.principal(admin), user.id)
    assert platform.stored(user.id).status is UserStatus.DELETED
    assert platform.active_sessions_of(user.id) == []


async def test_an_account_without_a_password_is_deleted_by_its_owner_without_one(platform: IdentityPlatform) -> None:
    user = await platform.add_user(password=None)
    await platform.identity.delete_account(platform.principal(user), user.id)
    assert platform.stored(user.id).status is UserStatus.DELETED


# -- suspension -----------------------------------------------------------------------------


async def test_suspension_ends_the_sessions_and_refuses_sign_in(platform: IdentityPlatform) -> None:
    user = await platform.add_user("ada@example.org")
    tokens = await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)

    suspended = await platform.identity.set_status(SYSTEM, user.id, suspended=True, reason="chargeback fraud")

    assert (suspended.status, suspended.suspended_reason) == (UserStatus.SUSPENDED, "chargeback fraud")
    assert platform.active_sessions_of(user.id) == []
    with pytest.raises(Unauthenticated, match="suspended"):
        await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    with pytest.raises(Unauthenticated):
        await platform.auth.authenticate(tokens.access_token)
    with pytest.raises(Unauthenticated):
        await platform.auth.refresh(tokens.refresh_token)

    await platform.identity.set_status(SYSTEM, user.id, suspended=False)
    assert await can_log_in(platform, "ada@example.org", PASSWORD)
    with pytest.raises(Unauthenticated):
        await platform.auth.refresh(tokens.refresh_token)  # the old session stays ended
    assert [t for t in event_types(platform) if t in (ev.UserSuspended, ev.UserReactivated)] == [
        ev.UserSuspended,
        ev.UserReactivated,
    ]


async def test_only_an_admin_suspends_and_not_themself(platform: IdentityPlatform) -> None:
    admin = await platform.add_user(grants=[Grant(Role.PLATFORM_ADMIN)])
    user = await platform.add_user()
    with pytest.raises(PermissionDenied):
        await platform.identity.set_status(platform.principal(user), admin.id, suspended=True)
    with pytest.raises(Conflict, match="your own account"):
        await platform.identity.set_status(platform.principal(admin), admin.id, suspended=True)
    with pytest.raises(NotFound):
        await platform.identity.set_status(SYSTEM, uuid.uuid4(), suspended=True)
    assert platform.stored(admin.id).is_active


# -- role grants ---------------------------------------------------------------------------


async def test_a_platform_admin_grants_anything(platform: IdentityPlatform) -> None:
    admin = await platform.add_user(grants=[Grant(Role.PLATFORM_ADMIN)])
    user = await platform.add_user()
    organization = await platform.add_organization("acme")
    course = await platform.add_course(organization_id=organization.id)
    specs = [
        RoleGrantSpec(role="platform_admin"),
        RoleGrantSpec(role="organization_admin", scope="organization", scope_id=organization.id),
        RoleGrantSpec(role="teaching_assistant", scope="course", scope_id=course.id),
    ]
    for spec in specs:
        _, changed = await platform.identity.grant_role(platform.principal(admin), user.id, spec)
        assert changed
    assert platform.stored(user.id).grants == {
        Grant(Role.PLATFORM_ADMIN),
        Grant(Role.ORGANIZATION_ADMIN, Scope.organization(organization.id)),
        Grant(Role.TEACHING_ASSISTANT, Scope.course(course.id)),
    }
    _, again = await platform.identity.grant_role(platform.principal(admin), user.id, specs[0])
    assert again is False
    granted_events = [e for e in platform.store.outbox if isinstance(e, ev.RoleGranted)]
    assert [e.granted_by for e in granted_events] == [f"user:{admin.id}"] * 3


async def test_an_organization_admin_grants_course_roles_within_the_organization_only(
    platform: IdentityPlatform,
) -> None:
    acme = await platform.add_organization("acme")
    globex = await platform.add_organization("globex")
    ours = await platform.add_course(organization_id=acme.id)
    theirs = await platform.add_course(organization_id=globex.id)
    loose = await platform.add_course()
    olga = platform.principal(
        await platform.add_user(grants=[Grant(Role.ORGANIZATION_ADMIN, Scope.organization(acme.id))])
    )
    ines = await platform.add_user()

    _, changed = await platform.identity.grant_role(
        olga, ines.id, RoleGrantSpec(role="instructor", scope="course", scope_id=ours.id)
    )
    assert changed
    assert platform.stored(ines.id).grants == {Grant(Role.INSTRUCTOR, Scope.course(ours.id))}

    refused = [
        RoleGrantSpec(role="instructor", scope="course", scope_id=theirs.id),
        RoleGrantSpec(role="instructor", scope="course", scope_id=loose.id),
        RoleGrantSpec(role="organization_admin", scope="organization", scope_id=globex.id),
        RoleGrantSpec(role="platform_admin"),
        RoleGrantSpec(role="instructor"),
    ]
    for spec in refused:
        with pytest.raises(PermissionDenied, match=r"role\.grant"):
            await platform.identity.grant_role(olga, ines.id, spec)
    assert platform.stored(ines.id).grants == {Grant(Role.INSTRUCTOR, Scope.course(ours.id))}

    revoked = await platform.identity.revoke_role(
        olga, ines.id, RoleGrantSpec(role="instructor", scope="course", scope_id=ours.id)
    )
    assert revoked.grants == platform.stored(ines.id).grants == set()
    with pytest.raises(NotFound, match="role grant"):
        await platform.identity.revoke_role(
            olga, ines.id, RoleGrantSpec(role="instructor", scope="course", scope_id=ours.id)
        )


async def test_a_learner_cannot_grant_even_to_themself(platform: IdentityPlatform) -> None:
    course = await platform.add_course()
    learner = await platform.add_user(grants=[Grant(Role.LEARNER, Scope.course(course.id))])
    for spec in (RoleGrantSpec(role="learner"), RoleGrantSpec(role="instructor", scope="course", scope_id=course.id)):
        with pytest.raises(PermissionDenied, match=r"no role grants role\.grant"):
            await platform.identity.grant_role(platform.principal(learner), learner.id, spec)
    assert platform.stored(learner.id).grants == {Grant(Role.LEARNER, Scope.course(course.id))}


async def test_grants_on_missing_resources_or_users_are_not_found(platform: IdentityPlatform) -> None:
    user = await platform.add_user()
    with pytest.raises(NotFound, match="course"):
        await platform.identity.grant_role(
            SYSTEM, user.id, RoleGrantSpec(role="instructor", scope="course", scope_id=uuid.uuid4())
        )
    with pytest.raises(NotFound, match="organization"):
        await platform.identity.grant_role(
            SYSTEM, user.id, RoleGrantSpec(role="learner", scope="organization", scope_id=uuid.uuid4())
        )
    with pytest.raises(NotFound, match="user"):
        await platform.identity.grant_role(SYSTEM, uuid.uuid4(), RoleGrantSpec(role="learner"))
    with pytest.raises(ValidationFailed):
        await platform.identity.grant_role(
            SYSTEM, user.id, RoleGrantSpec(role="platform_admin", scope="course", scope_id=uuid.uuid4())
        )


# -- listing and explaining ---------------------------------------------------------------------


async def test_listing_users_needs_user_manage(platform: IdentityPlatform) -> None:
    acme = await platform.add_organization("acme")
    olga = await platform.add_user(
        "olga@example.org", grants=[Grant(Role.ORGANIZATION_ADMIN, Scope.organization(acme.id))]
    )
    ada = await platform.add_user("ada@example.org")
    await platform.add_member(acme.id, ada.id)
    with pytest.raises(PermissionDenied, match=r"user\.manage"):
        await platform.identity.list_users(platform.principal(ada), UserListFilter())
    with pytest.raises(PermissionDenied, match=r"user\.manage"):
        await platform.identity.list_users(platform.principal(olga), UserListFilter())  # the whole platform
    members = (
        await platform.identity.list_users(platform.principal(olga), UserListFilter(organization_id=acme.id))
    ).items
    assert [u.id for u in members] == [ada.id]
    everyone = (await platform.identity.list_users(SYSTEM, UserListFilter())).items
    assert {u.id for u in everyone} == {olga.id, ada.id}
    assert [u.id for u in (await platform.identity.list_users(SYSTEM, UserListFilter(text="OLGA"))).items] == [olga.id]


async def test_a_member_pages_through_their_own_organizations_only(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org")
    theirs = [await platform.add_organization(f"org-{i}") for i in range(5)]
    others = await platform.add_organization("not-ada")
    for organization in theirs:
        await platform.add_member(organization.id, ada.id)
    seen, cursor = [], None
    while True:
        page = await platform.identity.list_organizations(platform.principal(ada), cursor=cursor, limit=2)
        seen += [o.id for o in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(o.id for o in theirs)  # id order, each once, never someone else's
    assert others.id not in seen
    everything = await platform.identity.list_organizations(SYSTEM, limit=2)  # an admin's listing
    assert everything.next_cursor is not None
    with pytest.raises(ValidationFailed) as refused:  # an admin's cursor is not a member's
        await platform.identity.list_organizations(platform.principal(ada), cursor=everything.next_cursor)
    assert [e.field for e in refused.value.errors] == ["cursor"]


async def test_explain_permissions_gives_every_permission_with_a_reason(platform: IdentityPlatform) -> None:
    owner = await platform.add_user()
    course = await platform.add_course(owner_id=owner.id)
    resource, decisions = await platform.identity.explain_permissions(platform.principal(owner), "course", course.id)
    assert (resource.kind, resource.id, resource.owner_id) == (ScopeKind.COURSE, course.id, owner.id)
    assert [p for p, _, _ in decisions] == list(Permission)
    assert all(reason for _, _, reason in decisions)
    by_permission = {p: (allowed, reason) for p, allowed, reason in decisions}
    assert by_permission[Permission.COURSE_EDIT] == (
        True,
        f"owner of course {course.id}: instructor grants course.edit",
    )
    assert by_permission[Permission.ROLE_GRANT] == (
        False,
        f"no role grants role.grant on course {course.id}: the principal holds no role",
    )

    stranger = await platform.add_user()
    _, theirs = await platform.identity.explain_permissions(platform.principal(stranger), "course", course.id)
    assert not any(allowed for _, allowed, _ in theirs)

    _, on_platform = await platform.identity.explain_permissions(SYSTEM, "platform", None)
    assert all(allowed for _, allowed, _ in on_platform)
    with pytest.raises(NotFound):
        await platform.identity.explain_permissions(platform.principal(owner), "course", uuid.uuid4())
    with pytest.raises(ValidationFailed, match="unknown resource kind"):
        await platform.identity.explain_permissions(platform.principal(owner), "planet", uuid.uuid4())
    with pytest.raises(ValidationFailed, match="needs an id"):
        await platform.identity.explain_permissions(platform.principal(owner), "course", None)


async def test_a_user_reads_themself_and_an_admin_anyone(platform: IdentityPlatform) -> None:
    ada = await platform.add_user()
    bob = await platform.add_user()
    assert (await platform.identity.get_user(platform.principal(ada), ada.id)).id == ada.id
    with pytest.raises(PermissionDenied):
        await platform.identity.get_user(platform.principal(ada), bob.id)
    assert (await platform.identity.get_user(SYSTEM, bob.id)).id == bob.id
    with pytest.raises(NotFound):
        await platform.identity.get_user(SYSTEM, uuid.uuid4())
