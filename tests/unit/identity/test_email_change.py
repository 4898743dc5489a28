"""Changing an account's email on the fakes: the link to the new address, the notice to the old one, the rules."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from elearning_core.identity import events as ev
from elearning_core.identity.commands import ChangeEmail, ConfirmPasswordReset
from elearning_core.identity.model import User
from elearning_core.identity.ports import MailMessage
from elearning_core.identity.service import INVALID_LINK
from elearning_core.shared.errors import Conflict, NotFound, PermissionDenied, TooManyAttempts, ValidationFailed
from elearning_core.shared.ports import SYSTEM
from tests.fakes import PASSWORD, IdentityPlatform, an_identity_platform

IP = "203.0.113.7"


@pytest.fixture
def platform() -> IdentityPlatform:
    return an_identity_platform()


def change_token(mail: MailMessage) -> str:
    found = re.search(r"https?://\S+/api/v1/auth/email-change/confirm\?token=([A-Za-z0-9_-]{20,})\n", mail.text)
    assert found, mail.text
    return found.group(1)


async def ask(platform: IdentityPlatform, user: User, new_email: str, password: str | None = PASSWORD) -> str:
    """Request the change as the user; the token mailed to the new address."""
    await platform.identity.request_email_change(
        platform.principal(user), ChangeEmail(new_email=new_email, current_password=password)
    )
    mails = await platform.mails_to(new_email)
    assert [m.subject for m in mails][-1] == "Confirm your new email address"
    return change_token(mails[-1])


async def test_the_address_changes_only_when_the_link_to_the_new_one_is_opened(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    token = await ask(platform, ada, "Ada@New.Example.org")
    assert platform.stored(ada.id).email == "ada@example.org"

    # The old address is told, with the new address named and nothing that acts.
    [notice] = await platform.mails_to("ada@example.org")
    assert notice.subject == "Your account's email address is changing"
    assert "Ada@new.example.org" in notice.text
    assert "token" not in notice.text
    assert token not in notice.text

    changed = await platform.identity.confirm_email_change(token)
    assert changed.email == platform.stored(ada.id).email == "Ada@new.example.org"
    assert platform.stored(ada.id).email_verified
    # Single use.
    with pytest.raises(ValidationFailed, match=re.escape(INVALID_LINK)):
        await platform.identity.confirm_email_change(token)
    # The new address signs in; the old one no longer does.
    assert (await platform.auth.login("ada@new.example.org", PASSWORD, client_ip=IP)).user_id == ada.id
    types = [type(e) for e in platform.store.outbox]
    assert types == [ev.EmailChangeRequested, ev.EmailChanged]
    changed_event = platform.store.outbox[-1]
    assert isinstance(changed_event, ev.EmailChanged)
    assert (changed_event.email, changed_event.by, changed_event.type) == (
        "Ada@new.example.org",
        "user",
        "identity.email_changed.v1",
    )


async def test_a_password_account_confirms_with_its_current_password(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    for wrong in (None, "not the password"):
        with pytest.raises(ValidationFailed) as refused:
            await platform.identity.request_email_change(
                platform.principal(ada), ChangeEmail(new_email="ada@new.example.org", current_password=wrong)
            )
        assert [e.field for e in refused.value.errors] == ["current_password"]
    assert await platform.mails_to("ada@new.example.org") == []
    assert await platform.mails_to("ada@example.org") == []
    # An account without a password (external sign-in only) has nothing to confirm with: its session suffices.
    oidc = await platform.add_user("grace@example.org", password=None, verified=True)
    await ask(platform, oidc, "grace@new.example.org", password=None)


async def test_the_new_address_must_be_free_when_asked_and_when_confirmed(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    await platform.add_user("grace@example.org")
    with pytest.raises(Conflict, match="another account uses this email address"):
        await platform.identity.request_email_change(
            platform.principal(ada), ChangeEmail(new_email="GRACE@example.org", current_password=PASSWORD)
        )
    with pytest.raises(ValidationFailed) as same:
        await platform.identity.request_email_change(
            platform.principal(ada), ChangeEmail(new_email="ADA@example.org", current_password=PASSWORD)
        )
    assert [e.field for e in same.value.errors] == ["new_email"]
    with pytest.raises(ValidationFailed) as malformed:
        await platform.identity.request_email_change(
            platform.principal(ada), ChangeEmail(new_email="not an address", current_password=PASSWORD)
        )
    assert [e.field for e in malformed.value.errors] == ["new_email"]

    token = await ask(platform, ada, "free@example.org")
    await platform.add_user("free@example.org")  # taken meanwhile
    with pytest.raises(Conflict, match="now"):
        await platform.identity.confirm_email_change(token)
    assert platform.stored(ada.id).email == "ada@example.org"


async def test_the_newest_request_wins_and_links_expire(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    first = await ask(platform, ada, "one@example.org")
    second = await ask(platform, ada, "two@example.org")
    with pytest.raises(ValidationFailed):
        await platform.identity.confirm_email_change(first)
    platform.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(ValidationFailed):
        await platform.identity.confirm_email_change(second)
    assert platform.stored(ada.id).email == "ada@example.org"


async def test_confirming_kills_the_links_mailed_to_the_old_address_but_keeps_sessions(
    platform: IdentityPlatform,
) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    session = await platform.auth.login("ada@example.org", PASSWORD, client_ip=IP)
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    token = await ask(platform, ada, "ada@new.example.org")
    await platform.identity.confirm_email_change(token)
    reset_mail = next(m for m in await platform.mails_to("ada@example.org") if m.subject == "Reset your password")
    reset = re.search(r"token=([A-Za-z0-9_-]+)", reset_mail.text)
    assert reset is not None
    with pytest.raises(ValidationFailed):
        await platform.identity.confirm_password_reset(
            ConfirmPasswordReset(token=reset.group(1), new_password="x" * 12)
        )
    assert (await platform.auth.authenticate(session.access_token)).user_id == ada.id


async def test_a_link_of_another_purpose_does_not_change_the_address(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    await platform.identity.request_password_reset("ada@example.org", client_ip=IP)
    [reset_mail] = await platform.mails_to("ada@example.org")
    found = re.search(r"token=([A-Za-z0-9_-]+)", reset_mail.text)
    assert found is not None
    with pytest.raises(ValidationFailed):
        await platform.identity.confirm_email_change(found.group(1))
    assert platform.stored(ada.id).email == "ada@example.org"


async def test_requests_are_throttled_per_account(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org", verified=True)
    for n in range(3):
        await ask(platform, ada, f"n{n}@example.org")
    with pytest.raises(TooManyAttempts):
        await platform.identity.request_email_change(
            platform.principal(ada), ChangeEmail(new_email="n9@example.org", current_password=PASSWORD)
        )


async def test_an_admin_sets_an_address_at_once_verified_and_the_old_one_is_told(platform: IdentityPlatform) -> None:
    ada = await platform.add_user("ada@example.org")
    moved = await platform.identity.set_email(SYSTEM, ada.id, "ada@new.example.org")
    assert moved.email == platform.stored(ada.id).email == "ada@new.example.org"
    assert platform.stored(ada.id).email_verified
    [notice] = await platform.mails_to("ada@example.org")
    assert "an administrator changed" in notice.text
    await platform.add_user("grace@example.org")
    with pytest.raises(Conflict):
        await platform.identity.set_email(SYSTEM, ada.id, "grace@example.org")
    with pytest.raises(PermissionDenied):
        await platform.identity.set_email(platform.principal(ada), ada.id, "other@example.org")
    with pytest.raises(NotFound):
        await platform.identity.set_email(SYSTEM, uuid.UUID(int=7), "x@example.org")
    event = platform.store.outbox[-1]
    assert isinstance(event, ev.EmailChanged)
    assert event.by == "admin"
