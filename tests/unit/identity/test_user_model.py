"""The User aggregate and the field rules: normalisation, validation, events, anonymisation, grants."""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.auth.model import GRANTABLE_ON, PLATFORM, Grant, Role, Scope, ScopeKind
from elearning_core.identity import events as ev
from elearning_core.identity.model import (
    BIO_MAX,
    DELETED_NAME,
    DISPLAY_NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    User,
    UserStatus,
    check_bio,
    check_display_name,
    check_email,
    check_locale,
    check_org_slug,
    check_password,
    check_time_zone,
    email_key,
    make_grant,
)
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from tests.fakes import T0, a_user, minutes

PURE = settings(max_examples=200, deadline=None)
T1 = T0 + minutes(1)
T2 = T0 + minutes(2)
COURSE = uuid.UUID(int=7)
ORG = uuid.UUID(int=8)


def fields_of(error: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.field for e in error.value.errors]


# -- emails ------------------------------------------------------------------------------


def test_an_email_keeps_its_local_part_and_lowers_its_domain() -> None:
    assert check_email("  Ada.Lovelace@Example.ORG \n") == "Ada.Lovelace@example.org"


def test_the_email_key_ignores_case_so_one_address_is_one_account() -> None:
    assert email_key(" Ada@Example.org") == email_key("ada@EXAMPLE.ORG") == "ada@example.org"
    user = User.register(email="Ada@Example.ORG", display_name="Ada", at=T0, password_hash=None)
    assert user.email == "Ada@example.org"
    assert user.email_key == "ada@example.org"


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ada",
        "ada@",
        "@example.org",
        "ada@example",
        "ada@example.o",
        "a da@example.org",
        "ada@@example.org",
        "ada@exa mple.org",
        "ada\x01@example.org",
        "ada@example.org\x00",
        f"{'a' * 65}@example.org",
        f"ada@{'d' * 250}.org",
    ],
)
def test_malformed_emails_are_refused_naming_the_field(email: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_email(email)
    assert error.value.errors == [FieldError("email", "must be an email address such as ada@example.org")]


LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "._+-", min_size=1, max_size=64)
LABEL = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=20)
TLD = st.text(alphabet=string.ascii_letters, min_size=2, max_size=6)
EMAILS = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    LOCAL,
    st.lists(LABEL, min_size=1, max_size=3),
    TLD,
)


@PURE
@given(email=EMAILS, padding=st.sampled_from(["", " ", "\t", " \n "]))
def test_valid_emails_round_trip(email: str, padding: str) -> None:
    local, _, domain = email.rpartition("@")
    checked = check_email(padding + email + padding)
    assert checked == f"{local}@{domain.lower()}"
    assert check_email(checked) == checked
    assert email_key(checked) == email_key(email) == email.lower()
    assert User.register(email=email, display_name="X", at=T0, password_hash=None).email_key == email.lower()


# -- the other fields ----------------------------------------------------------------------


def test_display_names_are_trimmed_and_inner_whitespace_collapsed() -> None:
    assert check_display_name("  Ada \t  Lovelace\n") == "Ada Lovelace"
    assert check_display_name("x" * DISPLAY_NAME_MAX) == "x" * DISPLAY_NAME_MAX
    for bad in ("", "  \t\n", "x" * (DISPLAY_NAME_MAX + 1)):
        with pytest.raises(ValidationFailed) as error:
            check_display_name(bad)
        assert fields_of(error) == ["display_name"]


@PURE
@given(name=st.text(max_size=120))
def test_display_names_are_normalised_idempotently(name: str) -> None:
    try:
        normalised = check_display_name(name)
    except ValidationFailed:
        words = name.split()
        assert not words or len(" ".join(words)) > DISPLAY_NAME_MAX or "\x00" in name  # no NUL: not storable
        return
    assert check_display_name(normalised) == normalised
    assert normalised == normalised.strip()
    assert "  " not in normalised
    assert not any(ch.isspace() and ch != " " for ch in normalised)
    assert normalised.split() == name.split()


def test_locales_time_zones_and_bios() -> None:
    assert [check_locale(v) for v in ("en", "pt-BR", "zh-Hant-TW")] == ["en", "pt-BR", "zh-Hant-TW"]
    for bad_locale in ("", "EN", "english", "en_US", "e"):
        with pytest.raises(ValidationFailed) as error:
            check_locale(bad_locale)
        assert fields_of(error) == ["locale"]
    assert check_time_zone("Europe/Paris") == "Europe/Paris"
    assert check_time_zone("UTC") == "UTC"
    for bad_zone in ("", "Mars/Olympus_Mons", "europe/paris", "+02:00"):
        with pytest.raises(ValidationFailed) as error:
            check_time_zone(bad_zone)
        assert fields_of(error) == ["time_zone"]
    assert check_bio("b" * BIO_MAX) == "b" * BIO_MAX
    with pytest.raises(ValidationFailed) as error:
        check_bio("b" * (BIO_MAX + 1))
    assert fields_of(error) == ["bio"]


def test_password_rules_are_a_length_range_and_not_the_email() -> None:
    assert check_password("p" * PASSWORD_MIN) == "p" * PASSWORD_MIN
    assert check_password("p" * PASSWORD_MAX) == "p" * PASSWORD_MAX
    assert check_password("no digits or capitals at all") == "no digits or capitals at all"  # no composition rules
    for bad in ("p" * (PASSWORD_MIN - 1), "p" * (PASSWORD_MAX + 1), ""):
        with pytest.raises(ValidationFailed, match="password must be") as error:
            check_password(bad)
        assert fields_of(error) == ["password"]
    with pytest.raises(ValidationFailed) as error:
        check_password(" Ada.Lovelace@Example.org", email="ada.lovelace@example.org")
    assert error.value.errors == [FieldError("password", "must not be the email address")]


def test_organization_slugs() -> None:
    assert check_org_slug("acme-corp-2") == "acme-corp-2"
    for bad in ("", "-acme", "acme-", "Acme", "ac me", "a" * 64):
        with pytest.raises(ValidationFailed) as error:
            check_org_slug(bad)
        assert fields_of(error) == ["slug"]


# -- registration and profile -----------------------------------------------------------------


def test_registration_records_who_registered_and_a_verified_email_when_vouched_for() -> None:
    plain = User.register(email="ada@example.org", display_name=" Ada ", at=T0, password_hash="h")
    assert (plain.status, plain.email_verified, plain.display_name) == (UserStatus.ACTIVE, False, "Ada")
    [registered] = plain.pull_events()
    assert isinstance(registered, ev.UserRegistered)
    assert (registered.aggregate_id, registered.email, registered.source) == (plain.id, "ada@example.org", "password")

    vouched = User.register(
        email="bob@example.org", display_name="Bob", at=T0, password_hash=None, source="admin", email_verified=True
    )
    assert vouched.email_verified_at == T0
    assert [type(e) for e in vouched.pull_events()] == [ev.UserRegistered, ev.EmailVerified]


def test_update_profile_records_one_event_naming_the_changed_fields() -> None:
    user = a_user(display_name="Ada Lovelace")
    changed = user.update_profile(T1, display_name="Ada  Lovelace", bio="Analyst", time_zone="Europe/London")
    assert changed == ["bio", "time_zone"]  # the name normalises to what it already was
    assert (user.bio, user.time_zone, user.display_name, user.updated_at) == (
        "Analyst",
        "Europe/London",
        "Ada Lovelace",
        T1,
    )
    [event] = user.pull_events()
    assert isinstance(event, ev.ProfileUpdated)
    assert (event.fields, event.occurred_at, event.aggregate_id) == (["bio", "time_zone"], T1, user.id)


def test_update_profile_without_a_change_records_nothing() -> None:
    user = a_user(display_name="Ada Lovelace")
    assert user.update_profile(T1, display_name=" Ada Lovelace ", locale="en") == []
    assert user.update_profile(T1) == []
    assert user.pending_events == []
    assert user.updated_at == T0


def test_update_profile_refuses_unknown_fields_and_bad_values_changing_nothing() -> None:
    user = a_user(display_name="Ada Lovelace")
    with pytest.raises(ValidationFailed) as error:
        user.update_profile(T1, email="mallory@example.org")
    assert fields_of(error) == ["email"]
    with pytest.raises(ValidationFailed) as error:
        user.update_profile(T1, bio="ok", locale="not a locale")
    assert fields_of(error) == ["locale"]
    assert (user.bio, user.locale, user.email.startswith("user-")) == ("", "en", True)
    assert user.pending_events == []


# -- anonymisation --------------------------------------------------------------------------


def personal_user() -> User:
    user = a_user(email="ada@example.org", display_name="Ada Lovelace", grants=[Grant(Role.INSTRUCTOR)])
    user.update_profile(T1, bio="Mathematician", locale="en-GB", time_zone="Europe/London")
    user.verify_email(T1)
    user.suspend(T1, "spam")
    user.pull_events()
    return user


def test_anonymise_erases_every_personal_field_and_keeps_the_id_and_creation_time() -> None:
    user = personal_user()
    user_id, created_at = user.id, user.created_at
    user.anonymise(T2)
    assert user.id == user_id
    assert user.created_at == created_at
    assert user.email == f"deleted-{user_id.hex}@deleted.invalid"
    assert "ada@" not in user.email_key  # (the id's hex digits may spell "ada" themselves)
    assert user.display_name == DELETED_NAME
    assert (user.bio, user.locale, user.time_zone, user.suspended_reason) == ("", "en", "UTC", "")
    assert user.password_hash is None
    assert user.email_verified_at is None
    assert user.grants == set()
    assert (user.status, user.deleted_at, user.updated_at) == (UserStatus.DELETED, T2, T2)
    [event] = user.pull_events()
    assert isinstance(event, ev.UserDeleted)
    assert event.aggregate_id == user_id
    dumped = event.model_dump_json().lower()
    assert "ada@" not in dumped  # the event carries no personal data
    assert "lovelace" not in dumped


def test_anonymise_is_idempotent() -> None:
    user = personal_user()
    user.anonymise(T1)
    first = (user.email, user.display_name, user.deleted_at, user.updated_at)
    user.pull_events()
    user.anonymise(T2)
    assert (user.email, user.display_name, user.deleted_at, user.updated_at) == first
    assert user.pending_events == []


def test_a_deleted_user_refuses_further_changes() -> None:
    user = personal_user()
    user.anonymise(T1)
    user.pull_events()
    attempts: list[Callable[[], object]] = [
        lambda: user.update_profile(T2, bio="back"),
        lambda: user.set_password_hash("hashed:v1:again", T2, reason="change"),
        lambda: user.verify_email(T2),
        lambda: user.suspend(T2, "again"),
        lambda: user.reactivate(T2),
        lambda: user.grant(Grant(Role.LEARNER), T2, by="admin"),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict, match="deleted"):
            attempt()
    assert user.revoke(Grant(Role.INSTRUCTOR), T2, by="admin") is False  # nothing left to revoke
    assert (user.status, user.bio, user.password_hash, user.grants) == (UserStatus.DELETED, "", None, set())
    assert user.pending_events == []


def test_suspend_and_reactivate_are_idempotent() -> None:
    user = a_user()
    user.suspend(T1, "  " + "r" * 600)
    user.suspend(T2, "again")
    assert (user.status, user.suspended_reason) == (UserStatus.SUSPENDED, "r" * 500)
    user.reactivate(T2)
    user.reactivate(T2)
    assert (user.status, user.suspended_reason) == (UserStatus.ACTIVE, "")
    assert [type(e) for e in user.pull_events()] == [ev.UserSuspended, ev.UserReactivated]


# -- grants ---------------------------------------------------------------------------------


def test_grant_and_revoke_are_idempotent_and_record_events() -> None:
    user = a_user()
    grant = Grant(Role.INSTRUCTOR, Scope.course(COURSE))
    assert user.grant(grant, T1, by="user:admin") is True
    assert user.grant(grant, T2, by="user:admin") is False
    assert user.grants == {grant}
    [granted] = user.pull_events()
    assert isinstance(granted, ev.RoleGranted)
    assert (granted.role, granted.scope_kind, granted.scope_id, granted.granted_by, granted.occurred_at) == (
        "instructor",
        "course",
        COURSE,
        "user:admin",
        T1,
    )
    assert user.revoke(grant, T2, by="user:root") is True
    assert user.revoke(grant, T2, by="user:root") is False
    assert user.grants == set()
    [revoked] = user.pull_events()
    assert isinstance(revoked, ev.RoleRevoked)
    assert (revoked.role, revoked.scope_id, revoked.revoked_by) == ("instructor", COURSE, "user:root")


def test_make_grant_builds_grants_from_names() -> None:
    assert make_grant("platform_admin") == Grant(Role.PLATFORM_ADMIN, PLATFORM)
    assert make_grant("instructor", "course", COURSE) == Grant(Role.INSTRUCTOR, Scope.course(COURSE))
    assert make_grant("organization_admin", "organization", ORG) == Grant(
        Role.ORGANIZATION_ADMIN, Scope.organization(ORG)
    )


@pytest.mark.parametrize(
    ("role", "scope", "scope_id", "field", "message"),
    [
        ("superuser", "platform", None, "role", "must be one of platform_admin"),
        ("learner", "galaxy", None, "scope", "must be one of platform, organization, course"),
        ("platform_admin", "organization", ORG, "scope", "the platform_admin role can be granted on: platform"),
        ("platform_admin", "course", COURSE, "scope", "the platform_admin role can be granted on: platform"),
        ("organization_admin", "platform", None, "scope", "can be granted on: organization"),
        ("organization_admin", "course", COURSE, "scope", "can be granted on: organization"),
        ("teaching_assistant", "platform", None, "scope", "can be granted on: course, organization"),
        ("instructor", "course", None, "scope_id", "is required for organization and course scopes"),
        ("learner", "platform", ORG, "scope_id", "not allowed for platform"),
    ],
)
def test_make_grant_refuses_with_field_errors(
    role: str, scope: str, scope_id: uuid.UUID | None, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        make_grant(role, scope, scope_id)
    [field_error] = error.value.errors
    assert field_error.field == field
    assert message in field_error.message


@PURE
@given(role=st.sampled_from(list(Role)), kind=st.sampled_from(list(ScopeKind)))
def test_make_grant_accepts_exactly_the_grantable_scopes(role: Role, kind: ScopeKind) -> None:
    scope_id = None if kind is ScopeKind.PLATFORM else uuid.uuid4()
    if kind in GRANTABLE_ON[role]:
        assert make_grant(role.value, kind.value, scope_id) == Grant(role, Scope(kind, scope_id))
    else:
        with pytest.raises(ValidationFailed) as error:
            make_grant(role.value, kind.value, scope_id)
        assert fields_of(error) == ["scope"]
