"""``elearning users``, ``orgs`` and ``keys`` as an admin uses them: real commands, checked against the database.

Every happy path is checked through the platform itself (the account as the
use cases load it, a real sign-in, a real token verification), not only by the
exit code; every bad input is one line on stderr, exit code 1, no traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from elearning_adapters.container import Platform
from elearning_adapters.sql.signing_keys import signing_keys
from elearning_cli import orgs as orgs_module
from elearning_cli import users as users_module
from elearning_core.auth.model import Grant, Role, Scope
from elearning_core.course.commands import CourseSpec
from elearning_core.course.queries import CatalogFilter
from elearning_core.identity.model import User, UserStatus
from elearning_core.identity.ports import UserListFilter
from elearning_core.shared.errors import Unauthenticated
from elearning_core.shared.ports import SYSTEM
from tests.conftest import _libpq
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform

PASSWORD = "correct horse battery staple"
MISSING = "01900000-0000-7000-8000-00000000dead"


# -- helpers -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    """Every test runs on its own SQLite file, with wide tables and no stray configuration."""
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    return sqlite_url


@pytest.fixture
def migrated() -> None:
    ok("db", "upgrade")


def fails(*args: str, message: str, input: str | None = None) -> str:
    """The command fails with exactly one line on stderr containing ``message``, and prints nothing on stdout."""
    result = invoke(*args, input=input)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


async def _by_email(platform: Platform, email: str) -> User | None:
    async with platform.container.adapters.unit_of_work() as uow:
        user: User | None = await uow.users.get_by_email(email)
        return user


def stored_user(email: str) -> User:
    user = on_platform(lambda p: _by_email(p, email))
    assert user is not None, f"no account {email}"
    return user


def all_users() -> list[User]:
    async def go(platform: Platform) -> list[User]:
        return (await platform.identity.list_users(SYSTEM, UserListFilter(), limit=100)).items

    return on_platform(go)


def login(email: str, password: str) -> Any:
    return on_platform(lambda p: p.auth.login(email, password, client_ip="127.0.0.1"), keys=True)


def create(email: str, *extra: str, name: str = "Some One", input: str | None = None) -> str:
    result = ok("users", "create", email, "--name", name, *extra, input=input)
    user_id = result.stdout.strip()
    uuid.UUID(user_id)
    return user_id


def create_org(slug: str, name: str = "An Org") -> str:
    org_id = ok("orgs", "create", slug, "--name", name).stdout.strip()
    uuid.UUID(org_id)
    return org_id


def add_course() -> uuid.UUID:
    async def go(platform: Platform) -> uuid.UUID:
        await platform.courses.import_courses(SYSTEM, [CourseSpec(slug="a-course", title="A course")])
        page = await platform.courses.list_courses(SYSTEM, CatalogFilter(status=None), limit=1)
        return page.items[0].id

    return on_platform(go)


def grants_of(email: str) -> set[Grant]:
    return set(stored_user(email).grants)


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "│" in line]


# -- help --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["users", "orgs", "keys"]),
        (["users"], ["create", "list", "suspend", "reactivate", "grant-role", "revoke-role"]),
        (["users", "create"], ["EMAIL", "--name", "--password-stdin", "--locale", "--time-zone", "--role"]),
        (["users", "list"], ["--status", "--search", "--org", "--limit", "--output"]),
        (["users", "suspend"], ["USER", "--reason"]),
        (["users", "grant-role"], ["USER", "ROLE", "--scope", "--scope-id"]),
        (["users", "revoke-role"], ["USER", "ROLE", "--scope", "--scope-id"]),
        (["orgs"], ["create", "update", "list", "add-member"]),
        (["orgs", "create"], ["SLUG", "--name", "--time-zone"]),
        (["orgs", "update"], ["ORG", "--name", "--time-zone"]),
        (["orgs", "add-member"], ["ORG", "USER"]),
        (["keys"], ["list", "rotate"]),
        (["keys", "rotate"], ["--if-older-than", "--prune"]),
        (["keys", "list"], ["--output", "table|json|csv"]),
    ],
)
def test_help_describes_every_group_and_command(args: list[str], expected: list[str]) -> None:
    result = ok(*args, "--help")
    for word in expected:
        assert word in result.stdout


def test_no_command_takes_a_password_argument() -> None:
    assert "--password " not in ok("users", "create", "--help").stdout
    assert invoke("users", "create", "a@example.org", "--name", "A", "--password", "x" * 12).exit_code == 2


# -- users create ------------------------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_create_with_a_password_from_stdin_and_roles() -> None:
    course_id = add_course()
    org_id = create_org("acme")
    result = ok(
        "users",
        "create",
        "Ada@Example.ORG",
        "--name",
        "  Ada   Lovelace ",
        "--password-stdin",
        "--locale",
        "pt-BR",
        "--time-zone",
        "Europe/Lisbon",
        "--role",
        "platform_admin",
        "--role",
        f"instructor:course:{course_id}",
        "--role",
        f"organization_admin:organization:{org_id}",
        input=PASSWORD + "\n",
    )
    user_id = result.stdout.strip()
    assert result.stdout == f"{user_id}\n"  # only the id on stdout, for scripts
    assert "Created Ada@example.org (Ada Lovelace), email verified, with a password" in result.stderr
    assert PASSWORD not in result.output

    user = stored_user("ada@example.org")
    assert str(user.id) == user_id
    assert user.email == "Ada@example.org"
    assert user.display_name == "Ada Lovelace"
    assert (user.locale, user.time_zone) == ("pt-BR", "Europe/Lisbon")
    assert user.email_verified
    assert user.status is UserStatus.ACTIVE
    assert user.password_hash is not None
    assert PASSWORD not in user.password_hash
    assert user.grants == {
        Grant(Role.PLATFORM_ADMIN),
        Grant(Role.INSTRUCTOR, Scope.course(course_id)),
        Grant(Role.ORGANIZATION_ADMIN, Scope.organization(uuid.UUID(org_id))),
    }

    issued = login("ada@example.org", PASSWORD)
    assert str(issued.user_id) == user_id
    with pytest.raises(Unauthenticated):
        login("ada@example.org", PASSWORD + "!")


@pytest.mark.usefixtures("migrated")
def test_only_the_first_line_of_stdin_is_the_password() -> None:
    create("two@example.org", "--password-stdin", input=f"{PASSWORD}\r\nsecond line\n")
    assert login("two@example.org", PASSWORD).user_id == stored_user("two@example.org").id


@pytest.mark.usefixtures("migrated")
def test_create_without_a_password_makes_an_account_that_cannot_sign_in_with_one() -> None:
    result = ok("users", "create", "oidc@example.org", "--name", "Olive")
    assert "without a password" in result.stderr
    user = stored_user("oidc@example.org")
    assert str(user.id) == result.stdout.strip()
    assert user.password_hash is None
    assert user.email_verified
    assert user.grants == set()
    assert (user.locale, user.time_zone) == ("en", "UTC")
    with pytest.raises(Unauthenticated):
        login("oidc@example.org", "")


def bad_create_cases() -> list[Any]:
    return [
        pytest.param(["--role", "teacher"], None, "invalid role 'teacher': role: must be one of", id="unknown-role"),
        pytest.param(
            ["--role", f"platform_admin:course:{MISSING}"],
            None,
            "scope: the platform_admin role can be granted on: platform",
            id="role-on-wrong-scope",
        ),
        pytest.param(
            ["--role", "teaching_assistant"],
            None,
            "the teaching_assistant role can be granted on: course, organization",
            id="role-needs-a-scope",
        ),
        pytest.param(
            ["--role", "instructor:course:not-a-uuid"], None, "the course id 'not-a-uuid' is not a UUID", id="bad-uuid"
        ),
        pytest.param(
            ["--role", "instructor:course"],
            None,
            "scope_id: is required for organization and course scopes",
            id="scope-without-id",
        ),
        pytest.param(["--role", "instructor:galaxy:x:y"], None, "expected ROLE[:SCOPE:ID]", id="too-many-parts"),
        pytest.param(
            ["--role", f"instructor:course:{MISSING}"], None, f"course {MISSING} was not found", id="unknown-course"
        ),
        pytest.param(
            ["--role", f"organization_admin:organization:{MISSING}"],
            None,
            f"organization {MISSING} was not found",
            id="unknown-organization",
        ),
        pytest.param(
            ["--password-stdin"], "", "--password-stdin: standard input holds no password", id="no-password-on-stdin"
        ),
        pytest.param(
            ["--password-stdin"], "\n", "--password-stdin: standard input holds no password", id="empty-password"
        ),
        pytest.param(["--password-stdin"], "short\n", "password must be 10 to 256 characters", id="short-password"),
        pytest.param(["--locale", "english!"], None, "locale must be a BCP 47 language tag", id="bad-locale"),
        pytest.param(["--time-zone", "Mars/Base"], None, "time_zone must be an IANA time zone", id="bad-time-zone"),
    ]


@pytest.mark.usefixtures("migrated")
@pytest.mark.parametrize(("extra", "stdin", "message"), bad_create_cases())
def test_a_bad_create_is_one_line_and_creates_nothing(extra: list[str], stdin: str | None, message: str) -> None:
    fails("users", "create", "new@example.org", "--name", "New", *extra, message=message, input=stdin)
    assert all_users() == []


@pytest.mark.usefixtures("migrated")
def test_create_refuses_a_duplicate_email_and_a_bad_email() -> None:
    create("ada@example.org")
    fails("users", "create", "ADA@example.org", "--name", "Again", message="an account with this email already exists")
    fails("users", "create", "not-an-email", "--name", "X", message="email must be an email address")
    fails("users", "create", "x@example.org", "--name", "   ", message="display_name must be 1 to 100 characters")
    assert [u.email for u in all_users()] == ["ada@example.org"]


# -- users list --------------------------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_list_shows_accounts_with_their_roles_and_filters() -> None:
    org_id = create_org("acme")
    ada = create("ada@example.org", "--role", "platform_admin", name="Ada [admin]")
    bob = create("bob@example.org", "--role", f"organization_admin:organization:{org_id}", name="Bob")
    cy = create("cy@example.org", name="Cy")
    ok("orgs", "add-member", "acme", "bob@example.org")
    ok("users", "suspend", "cy@example.org")

    table = ok("users", "list").stdout
    rows = table_rows(table)
    assert len([r for r in rows if "@example.org" in r]) == 3
    ada_row = next(r for r in rows if ada in r)
    assert re.search(r"ada@example\.org\s*│\s*Ada \[admin\]\s*│\s*active\s*│\s*yes\s*│\s*platform_admin", ada_row)
    assert f"organization_admin:organization:{org_id}" in table
    assert re.search(rf"{cy}.*suspended.*│ -", table)

    listed = json.loads(ok("users", "list", "-o", "json").stdout)
    assert [u["id"] for u in listed] == [ada, bob, cy]  # oldest first
    assert listed[0] == {
        "id": ada,
        "email": "ada@example.org",
        "name": "Ada [admin]",
        "status": "active",
        "email_verified": True,
        "has_password": False,
        "locale": "en",
        "time_zone": "UTC",
        "roles": ["platform_admin"],
        "created_at": listed[0]["created_at"],
        "suspended_reason": None,
    }
    assert datetime.fromisoformat(listed[0]["created_at"]).tzinfo is not None

    def ids(*args: str) -> list[str]:
        return [u["id"] for u in json.loads(ok("users", "list", "-o", "json", *args).stdout)]

    assert ids("--status", "suspended") == [cy]
    assert ids("--status", "active") == [ada, bob]
    assert ids("--search", "BOB") == [bob]
    assert ids("--search", "example.org", "--status", "active") == [ada, bob]
    assert ids("--org", "acme") == [bob]
    assert ids("--org", org_id) == [bob]
    assert "No accounts match" in ok("users", "list", "--search", "nobody").stderr
    assert ok("users", "list", "--search", "nobody", "-o", "json").stdout.strip() == "[]"

    fails("users", "list", "--org", "no-such-org", message="organization no-such-org was not found")
    fails("users", "list", "--org", MISSING, message=f"organization {MISSING} was not found")
    assert invoke("users", "list", "--status", "sleeping").exit_code == 2  # a usage error, as for courses


@pytest.mark.usefixtures("migrated")
def test_list_walks_the_pages_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_module, "PAGE_SIZE", 2)
    created = [create(f"user{n}@example.org") for n in range(5)]

    limited = ok("users", "list", "--limit", "3", "-o", "json")
    assert [u["id"] for u in json.loads(limited.stdout)] == created[:3]
    assert "Showing the first 3 accounts; more match" in limited.stderr
    everything = ok("users", "list", "--limit", "5", "-o", "json")
    assert [u["id"] for u in json.loads(everything.stdout)] == created
    assert "more match" not in everything.stderr
    assert "Users: 4+" in ok("users", "list", "--limit", "4").stdout


# -- users suspend, reactivate -----------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_suspend_ends_the_sessions_and_reactivate_lets_the_user_back_in() -> None:
    user_id = create("ada@example.org", "--password-stdin", input=PASSWORD)
    session = login("ada@example.org", PASSWORD)

    result = ok("users", "suspend", "ADA@example.org", "--reason", "chargeback")
    assert f"Suspended ada@example.org ({user_id})" in result.stderr
    user = stored_user("ada@example.org")
    assert user.status is UserStatus.SUSPENDED
    assert user.suspended_reason == "chargeback"
    with pytest.raises(Unauthenticated, match="suspended"):
        login("ada@example.org", PASSWORD)
    with pytest.raises(Unauthenticated):
        on_platform(lambda p: p.auth.refresh(session.refresh_token), keys=True)
    assert "already suspended; nothing changed" in ok("users", "suspend", user_id).stderr
    assert stored_user("ada@example.org").suspended_reason == "chargeback"

    assert f"Reactivated ada@example.org ({user_id})" in ok("users", "reactivate", user_id).stderr
    assert stored_user("ada@example.org").status is UserStatus.ACTIVE
    assert login("ada@example.org", PASSWORD).user_id == uuid.UUID(user_id)
    assert "is not suspended; nothing changed" in ok("users", "reactivate", "ada@example.org").stderr


@pytest.mark.usefixtures("migrated")
@pytest.mark.parametrize("command", ["suspend", "reactivate", "grant-role"])
def test_an_unknown_user_is_one_line(command: str) -> None:
    extra = ["learner"] if command == "grant-role" else []
    fails("users", command, "ghost@example.org", *extra, message="user ghost@example.org was not found")
    fails("users", command, MISSING, *extra, message=f"user {MISSING} was not found")
    fails("users", command, "ghost", *extra, message="'ghost' is neither a user id (UUID) nor an email address")


# -- users grant-role, revoke-role -------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_grant_and_revoke_roles_report_what_changed() -> None:
    course_id = add_course()
    org_id = create_org("acme")
    user_id = create("bob@example.org")

    assert (
        "Granted instructor on the platform to bob@example.org"
        in ok("users", "grant-role", "bob@example.org", "instructor").stderr
    )
    granted = ok("users", "grant-role", user_id, "instructor", "--scope", "course", "--scope-id", str(course_id))
    assert f"Granted instructor on course {course_id}" in granted.stderr
    ok("users", "grant-role", "bob@example.org", f"organization_admin:organization:{org_id}")
    assert grants_of("bob@example.org") == {
        Grant(Role.INSTRUCTOR),
        Grant(Role.INSTRUCTOR, Scope.course(course_id)),
        Grant(Role.ORGANIZATION_ADMIN, Scope.organization(uuid.UUID(org_id))),
    }

    again = ok("users", "grant-role", "bob@example.org", f"instructor:course:{course_id}")
    assert f"Already held: bob@example.org already has instructor on course {course_id}" in again.stderr
    assert len(grants_of("bob@example.org")) == 3

    revoked = ok(
        "users", "revoke-role", "bob@example.org", "instructor", "--scope", "course", "--scope-id", str(course_id)
    )
    assert f"Revoked instructor on course {course_id} from bob@example.org" in revoked.stderr
    assert "roles left: instructor, organization_admin" in revoked.stderr
    ok("users", "revoke-role", user_id, "instructor")
    last = ok("users", "revoke-role", user_id, "organization_admin", "--scope", "organization", "--scope-id", org_id)
    assert "holds no role now" in last.stderr
    assert grants_of("bob@example.org") == set()

    fails(
        "users",
        "revoke-role",
        "bob@example.org",
        "instructor",
        message="bob@example.org does not hold instructor on the platform; nothing to revoke",
    )


@pytest.mark.usefixtures("migrated")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["teacher"], "invalid role 'teacher': role: must be one of", id="unknown-role"),
        pytest.param(["platform_admin", "--scope", "course", "--scope-id", MISSING], "can be granted on: platform"),
        pytest.param(["instructor", "--scope", "galaxy"], "scope: must be one of platform, organization, course"),
        pytest.param(["instructor", "--scope", "course", "--scope-id", "12345"], "the course id '12345' is not a UUID"),
        pytest.param(["instructor", "--scope", "course"], "scope_id: is required", id="missing-scope-id"),
        pytest.param(["instructor", "--scope-id", MISSING], "not allowed for platform", id="scope-id-on-platform"),
        pytest.param(
            ["instructor", "--scope", "course", "--scope-id", MISSING],
            f"course {MISSING} was not found",
            id="no-course",
        ),
        pytest.param(
            [f"learner:organization:{MISSING}"], f"organization {MISSING} was not found", id="no-organization"
        ),
        pytest.param([f"instructor:course:{MISSING}", "--scope", "course"], "not both", id="scope-twice"),
    ],
)
def test_bad_role_arguments_are_one_line(args: list[str], message: str) -> None:
    create("bob@example.org")
    for command in ("grant-role", "revoke-role"):
        if command == "revoke-role" and "was not found" in message:
            continue  # revoking checks the user's grants first: "does not hold"
        fails("users", command, "bob@example.org", *args, message=message)
    assert grants_of("bob@example.org") == set()


# -- orgs --------------------------------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_orgs_create_list_and_add_member() -> None:
    created = ok("orgs", "create", "acme", "--name", "Acme [Corp]")
    acme = created.stdout.strip()
    assert "Created organization acme (Acme [Corp])" in created.stderr
    globex = create_org("globex", "Globex")

    table = ok("orgs", "list").stdout
    assert re.search(rf"{acme}\s*│\s*acme\s*│\s*Acme \[Corp\]\s*│\s*\d{{4}}-\d\d-\d\d", table)
    assert len(table_rows(table)) == 2
    listed = json.loads(ok("orgs", "list", "-o", "json").stdout)
    assert [(o["id"], o["slug"], o["name"]) for o in listed] == [
        (acme, "acme", "Acme [Corp]"),
        (globex, "globex", "Globex"),
    ]
    assert datetime.fromisoformat(listed[0]["created_at"]).tzinfo is not None

    ada = create("ada@example.org")
    assert "Added ada@example.org to acme" in ok("orgs", "add-member", "acme", "ada@example.org").stderr
    assert "Already a member" in ok("orgs", "add-member", acme, ada).stderr
    ok("orgs", "add-member", globex, "ADA@example.org")

    async def memberships(platform: Platform) -> set[str]:
        async with platform.container.adapters.unit_of_work() as uow:
            return {o.slug for o in await uow.organizations.organizations_of(uuid.UUID(ada))}

    assert on_platform(memberships) == {"acme", "globex"}

    fails("orgs", "create", "acme", "--name", "Again", message="the organization slug 'acme' is already taken")
    fails("orgs", "create", "Not A Slug", "--name", "X", message="slug must be 1 to 63 lowercase letters")
    fails("orgs", "create", "blank", "--name", "  ", message="name must be 1 to 200 characters")
    fails("orgs", "add-member", "nope", "ada@example.org", message="organization nope was not found")
    fails("orgs", "add-member", MISSING, "ada@example.org", message=f"organization {MISSING} was not found")
    fails("orgs", "add-member", "acme", "ghost@example.org", message="user ghost@example.org was not found")
    fails("orgs", "add-member", "acme", "ghost", message="'ghost' is neither a user id (UUID) nor an email address")
    assert [o["slug"] for o in json.loads(ok("orgs", "list", "-o", "json").stdout)] == ["acme", "globex"]


async def _stored_org(platform: Platform, slug: str) -> tuple[str, str]:
    async with platform.container.adapters.unit_of_work() as uow:
        organization = await uow.organizations.get_by_slug(slug)
        assert organization is not None
        return organization.name, organization.time_zone


@pytest.mark.usefixtures("migrated")
def test_orgs_have_a_time_zone_set_at_creation_and_updated() -> None:
    created = ok("orgs", "create", "paris", "--name", "Paris", "--time-zone", "Europe/Paris")
    assert "time zone Europe/Paris" in created.stderr
    create_org("plain", "Plain")
    assert on_platform(lambda p: _stored_org(p, "paris")) == ("Paris", "Europe/Paris")
    assert on_platform(lambda p: _stored_org(p, "plain")) == ("Plain", "UTC")
    listed = json.loads(ok("orgs", "list", "-o", "json").stdout)
    assert [(o["slug"], o["time_zone"]) for o in listed] == [("paris", "Europe/Paris"), ("plain", "UTC")]

    updated = ok("orgs", "update", "paris", "--time-zone", "America/Montreal")
    assert "Paris, time zone America/Montreal" in updated.stderr
    ok("orgs", "update", created.stdout.strip(), "--name", "Paris Campus")
    assert on_platform(lambda p: _stored_org(p, "paris")) == ("Paris Campus", "America/Montreal")
    ok("orgs", "update", "plain", "--name", "Plain Two", "--time-zone", "Asia/Tokyo")
    assert on_platform(lambda p: _stored_org(p, "plain")) == ("Plain Two", "Asia/Tokyo")

    zone = "time_zone must be an IANA time zone such as Europe/Paris or UTC"
    fails("orgs", "create", "mars", "--name", "Mars", "--time-zone", "Mars/Olympus", message=zone)
    fails("orgs", "update", "paris", "--time-zone", "Europe/Pariss", message=zone)
    fails("orgs", "update", "paris", message="nothing to change: give --name or --time-zone")
    fails("orgs", "update", "nope", "--name", "X", message="organization nope was not found")
    fails("orgs", "update", "paris", "--name", "  ", message="name must be 1 to 200 characters")
    assert on_platform(lambda p: _stored_org(p, "paris")) == ("Paris Campus", "America/Montreal")
    assert [o["slug"] for o in json.loads(ok("orgs", "list", "-o", "json").stdout)] == ["paris", "plain"]


@pytest.mark.usefixtures("migrated")
def test_orgs_list_walks_the_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orgs_module, "PAGE_SIZE", 2)
    assert "No organizations yet" in ok("orgs", "list").stderr
    slugs = [f"org-{n}" for n in range(5)]
    for slug in slugs:
        create_org(slug)
    limited = ok("orgs", "list", "--limit", "3", "-o", "json")
    assert [o["slug"] for o in json.loads(limited.stdout)] == slugs[:3]
    assert "more exist" in limited.stderr
    assert [o["slug"] for o in json.loads(ok("orgs", "list", "-o", "json").stdout)] == slugs


# -- keys --------------------------------------------------------------------------


def list_keys() -> list[dict[str, Any]]:
    keys = json.loads(ok("keys", "list", "-o", "json").stdout)
    for key in keys:  # public facts only, never key material
        assert set(key) == {"kid", "algorithm", "created_at", "retired_at", "verifies_until", "status"}
    return keys


@pytest.mark.usefixtures("migrated")
def test_rotate_keeps_old_tokens_verifying_and_list_shows_both_keys() -> None:
    assert list_keys() == []
    assert "No signing keys yet" in ok("keys", "list").stderr
    create("ada@example.org", "--password-stdin", input=PASSWORD)

    async def sign_in(platform: Platform) -> tuple[str, str]:
        issued = await platform.auth.login("ada@example.org", PASSWORD, client_ip="127.0.0.1")
        return issued.access_token, platform.container.identity.tokens().issue_access("service:test")

    old_token, old_service_token = on_platform(sign_in, keys=True)
    [first] = list_keys()
    assert first["status"] == "active"
    assert jwt.get_unverified_header(old_token)["kid"] == first["kid"]

    rotated = ok("keys", "rotate")
    new_kid = rotated.stdout.strip()
    assert new_kid != first["kid"]
    assert f"Rotated: the new key {new_kid} (EdDSA) signs from now on" in rotated.stderr
    until = re.search(rf"tokens signed by {re.escape(first['kid'])} verify until (\S+ \S+ UTC)", rotated.stderr)
    assert until is not None

    keys = list_keys()
    assert [(k["kid"], k["status"]) for k in keys] == [(new_kid, "active"), (first["kid"], "verifying")]
    assert keys[0]["retired_at"] is None
    assert keys[0]["verifies_until"] is None
    retired_until = datetime.fromisoformat(keys[1]["verifies_until"])
    assert retired_until.strftime("%Y-%m-%d %H:%M:%S UTC") == until.group(1)
    assert retired_until > datetime.now(UTC) + timedelta(minutes=1)
    table = ok("keys", "list").stdout
    assert re.search(rf"{re.escape(new_kid)}\s*│\s*EdDSA.*│ -\s*│\s*\(while active\)\s*│\s*active", table)
    assert re.search(rf"{re.escape(first['kid'])}\s*│\s*EdDSA.*verifying", table)

    async def after_rotation(platform: Platform) -> tuple[str, str, str]:
        tokens = platform.container.identity.tokens()
        user_claims = await tokens.verify_access_fresh(old_token)
        service_claims = tokens.verify_access(old_service_token)
        new_token = tokens.issue_access("service:test")
        return user_claims.subject, service_claims.subject, new_token

    user_subject, service_subject, new_token = on_platform(after_rotation, keys=True)
    assert user_subject == str(stored_user("ada@example.org").id)
    assert service_subject == "service:test"
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert login("ada@example.org", PASSWORD).access_token.count(".") == 2


async def issue_for_x(platform: Platform) -> str:
    token: str = platform.container.identity.tokens().issue_access("x")
    return token


@pytest.mark.usefixtures("migrated")
def test_a_process_started_before_the_rotation_follows_it() -> None:
    async def scenario(platform: Platform) -> tuple[str, str]:
        tokens = platform.container.identity.tokens()
        before = tokens.issue_access("service:before")
        # Another process rotates (the CLI, run in a thread: this loop is busy).
        rotated = await asyncio.to_thread(ok, "keys", "rotate")
        new_kid = rotated.stdout.strip()
        signed_elsewhere = await asyncio.to_thread(on_platform, issue_for_x, keys=True)
        # The old ring meets an unknown kid: it reloads once and accepts the new key's token.
        assert (await tokens.verify_access_fresh(signed_elsewhere)).subject == "x"
        assert tokens.verify_access(before).subject == "service:before"
        return new_kid, jwt.get_unverified_header(signed_elsewhere)["kid"]

    new_kid, signed_with = on_platform(scenario, keys=True)
    assert signed_with == new_kid


@pytest.mark.usefixtures("migrated")
def test_rotate_if_older_than_and_prune(sqlite_url: str) -> None:
    first = ok("keys", "rotate")
    assert "Created the first signing key" in first.stderr
    first_kid = first.stdout.strip()
    assert [(k["kid"], k["status"]) for k in list_keys()] == [(first_kid, "active")]

    not_due = ok("keys", "rotate", "--if-older-than", "1")
    assert not_due.stdout.strip() == first_kid
    assert f"Not rotated: the active key {first_kid} is 0 minutes old, younger than 1 day." in not_due.stderr
    assert len(list_keys()) == 1

    due = ok("keys", "rotate", "--if-older-than", "0")
    second_kid = due.stdout.strip()
    assert second_kid != first_kid
    ok("keys", "rotate")
    statuses = [k["status"] for k in list_keys()]
    assert statuses == ["active", "verifying", "verifying"]

    # Age the first key past its window, as if it had been retired a day ago.
    async def age(platform: Platform) -> None:
        async with platform.database.write() as conn:
            past = datetime.now(UTC) - timedelta(days=1)
            await conn.execute(
                update(signing_keys).where(signing_keys.c.kid == first_kid).values(retired_at=past, created_at=past)
            )
            await conn.commit()

    on_platform(age)
    assert [k["status"] for k in list_keys()] == ["active", "verifying", "expired"]
    assert re.search(rf"{re.escape(first_kid)}.*expired", ok("keys", "list").stdout)

    pruned = ok("keys", "rotate", "--prune", "--if-older-than", "30")
    assert f"Pruned 1 expired key: {first_kid}." in pruned.stderr
    assert "Not rotated" in pruned.stderr
    kept = list_keys()
    assert [k["status"] for k in kept] == ["active", "verifying"]
    assert first_kid not in {k["kid"] for k in kept}
    assert "Pruned 0 expired keys" in ok("keys", "rotate", "--prune").stderr
    assert invoke("keys", "rotate", "--if-older-than", "-1").exit_code == 2  # a usage error


@pytest.mark.usefixtures("migrated")
def test_keys_under_another_secret_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    ok("keys", "rotate")
    monkeypatch.setenv("ELEARNING_SECRET_KEY", "a-different-secret-of-enough-length-0123456789")
    for args in (["keys", "list"], ["keys", "rotate"]):
        fails(*args, message="the signing keys cannot be decrypted: ELEARNING_SECRET_KEY differs")


# -- an unmigrated database --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "a@example.org", "--name", "A"],
        ["users", "list"],
        ["users", "suspend", "a@example.org"],
        ["users", "grant-role", "a@example.org", "learner"],
        ["orgs", "create", "acme", "--name", "Acme"],
        ["orgs", "list"],
        ["orgs", "add-member", "acme", "a@example.org"],
        ["keys", "list"],
        ["keys", "rotate"],
    ],
)
def test_an_unmigrated_database_asks_for_db_upgrade(args: list[str]) -> None:
    fails(*args, message="has no schema yet; run `elearning db upgrade`")
    assert "none (empty schema)" in ok("db", "current").stdout  # nothing was created behind the admin's back


# -- PostgreSQL --------------------------------------------------------------------


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL database seen through an empty schema of its own (signing keys included)."""
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    libpq = _libpq(postgres_url)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_users_orgs_and_keys_on_postgres(empty_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEARNING_DATABASE_URL", empty_postgres_url)
    fails("users", "list", message="run `elearning db upgrade`")
    ok("db", "upgrade")

    org_id = create_org("acme")
    user_id = create("ada@example.org", "--password-stdin", "--role", "platform_admin", input=PASSWORD)
    fails("users", "create", "ADA@example.org", "--name", "Again", message="already exists")
    ok("orgs", "add-member", "acme", "ada@example.org")
    ok("users", "grant-role", user_id, "organization_admin", "--scope", "organization", "--scope-id", org_id)
    listed = json.loads(ok("users", "list", "--org", "acme", "-o", "json").stdout)
    assert [(u["id"], u["roles"]) for u in listed] == [
        (user_id, [f"organization_admin:organization:{org_id}", "platform_admin"])
    ]
    ok("users", "suspend", "ada@example.org")
    assert stored_user("ada@example.org").status is UserStatus.SUSPENDED
    ok("users", "reactivate", user_id)
    fails("orgs", "create", "acme", "--name", "Again", message="already taken")

    old_token = login("ada@example.org", PASSWORD).access_token
    [first] = list_keys()
    new_kid = ok("keys", "rotate").stdout.strip()
    assert [(k["kid"], k["status"]) for k in list_keys()] == [(new_kid, "active"), (first["kid"], "verifying")]
    claims = on_platform(lambda p: p.container.identity.tokens().verify_access_fresh(old_token), keys=True)
    assert claims.subject == user_id
