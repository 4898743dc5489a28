"""``elearning users``: create accounts, list them, suspend and reactivate them, change their email, grant and
revoke roles.

A user is named by id or by email on every command. A role is written
``ROLE[:SCOPE:ID]``: ``platform_admin``, ``instructor`` (on the platform),
``instructor:course:<uuid>``, ``organization_admin:organization:<uuid>``; the
same form the tables print, so what ``list`` shows can be pasted back.

Passwords never travel as arguments (shell history, ``ps``): ``--password-stdin``
reads one line from standard input.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from elearning_cli._common import (
    CliError,
    collect,
    handle_errors,
    info,
    load_settings,
    open_platform,
    parse_uuid,
    resolve_organization,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_core.auth.model import Grant, ScopeKind
from elearning_core.identity.commands import CreateUser, RoleGrantSpec
from elearning_core.identity.model import User, UserStatus, make_grant
from elearning_core.identity.ports import UserListFilter
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.pagination import MAX_PAGE_SIZE
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_adapters.container import Platform
    from elearning_core.identity.service import IdentityService

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

PAGE_SIZE = MAX_PAGE_SIZE
"""Users fetched per listing page while walking the pages."""

UserArgument = Annotated[str, typer.Argument(help="The user's id or email address.", metavar="USER")]
ROLE_FORMAT = "ROLE[:SCOPE:ID], e.g. platform_admin, instructor:course:<uuid>, organization_admin:organization:<uuid>"


# -- roles --------------------------------------------------------------------------


def parse_role(text: str) -> Grant:
    """``ROLE[:SCOPE[:ID]]`` as a grant, checked by the domain's rules (role names, where each may be granted)."""
    role, _, rest = text.strip().partition(":")
    scope, _, scope_id = rest.partition(":")
    if ":" in scope_id:
        raise CliError(f"invalid role {text!r}: expected {ROLE_FORMAT}")
    return checked_grant(text, role, scope or ScopeKind.PLATFORM.value, scope_id or None)


def checked_grant(label: str, role: str, scope: str, scope_id: str | None) -> Grant:
    parsed_id = parse_uuid(scope_id, f"invalid role {label!r}: the {scope} id") if scope_id else None
    try:
        return make_grant(role, scope, parsed_id)
    except ValidationFailed as exc:
        problem = f"{exc.errors[0].field}: {exc.errors[0].message}" if exc.errors else exc.detail
        raise CliError(f"invalid role {label!r}: {problem}") from None


def role_text(grant: Grant) -> str:
    """The ``ROLE[:SCOPE:ID]`` form of a grant (what ``--role`` and ``grant-role`` read)."""
    if grant.scope.id is None:
        return grant.role.value
    return f"{grant.role.value}:{grant.scope.kind.value}:{grant.scope.id}"


def sorted_roles(user: User) -> list[str]:
    return sorted(role_text(g) for g in user.grants)


def _spec(grant: Grant) -> RoleGrantSpec:
    return RoleGrantSpec(role=grant.role.value, scope=grant.scope.kind.value, scope_id=grant.scope.id)


async def _check_scopes(platform: Platform, grants: list[Grant]) -> None:
    """Every course and organization the grants name exists (NotFound names the first that does not)."""
    for grant in grants:
        await platform.identity.resource(grant.scope.kind.value, grant.scope.id)


# -- create -------------------------------------------------------------------------


def read_password() -> str:
    """One line of standard input (a hidden, confirmed prompt when it is a terminal)."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("--password-stdin: standard input holds no password (expected one line)")
    return password


async def _create(cmd: CreateUser, grants: list[Grant]) -> User:
    async with open_platform(load_settings()) as platform:
        # Checked before the account exists, so a mistyped --role leaves nothing half done.
        await _check_scopes(platform, grants)
        user = await platform.identity.create_user(SYSTEM, cmd)
        for grant in grants:
            user, _ = await platform.identity.grant_role(SYSTEM, user.id, _spec(grant))
        return user


@app.command("create")
@handle_errors
def create_user(
    email: Annotated[str, typer.Argument(help="The sign-in email address.", metavar="EMAIL")],
    name: Annotated[str, typer.Option("--name", "-n", help="The display name.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from one line of standard input. Without it the account has no password "
            "(it signs in through OIDC or after a password reset).",
        ),
    ] = False,
    locale: Annotated[str, typer.Option(help="BCP 47 language tag, e.g. en or pt-BR.")] = "en",
    time_zone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Paris.")] = "UTC",
    roles: Annotated[
        list[str] | None,
        typer.Option("--role", help=f"Grant this role (repeatable): {ROLE_FORMAT}.", metavar="ROLE"),
    ] = None,
) -> None:
    """Create an account with a verified email and print its id.

    The password is never an argument: pipe it with --password-stdin, e.g. `pass show ada | elearning users create ada@example.org --name Ada --password-stdin`.
    """
    grants = [parse_role(text) for text in roles or []]
    password = read_password() if password_stdin else None
    cmd = CreateUser(email=email, display_name=name, password=password, locale=locale, time_zone=time_zone)
    user = run(_create(cmd, grants))
    typer.echo(str(user.id))
    granted = f"; roles: {', '.join(sorted_roles(user))}" if user.grants else ""
    login = "with a password" if password else "without a password"
    info(f"Created {user.email} ({user.display_name}), email verified, {login}{granted}.")


# -- list ---------------------------------------------------------------------------


async def collect_users(service: IdentityService, where: UserListFilter, limit: int) -> tuple[list[User], bool]:
    """Follow the listing's cursors until ``limit`` users; also say whether more match."""
    return await collect(
        lambda cursor, size: service.list_users(SYSTEM, where, cursor=cursor, limit=size), limit, PAGE_SIZE
    )


async def _list(status: UserStatus | None, search: str | None, org: str | None, limit: int) -> tuple[list[User], bool]:
    async with open_platform(load_settings()) as platform:
        organization_id = (await resolve_organization(platform, org)).id if org else None
        where = UserListFilter(status=status, text=search or None, organization_id=organization_id)
        return await collect_users(platform.identity, where, limit)


_STATUS_STYLE = {UserStatus.ACTIVE: "green", UserStatus.SUSPENDED: "yellow", UserStatus.DELETED: "dim"}

USER_FIELDS: list[Field[User]] = [
    Field("id", lambda u: u.id, "Id", whole=True),
    Field("email", lambda u: u.email, "Email", whole=True, style=lambda _: "bold"),
    Field("name", lambda u: u.display_name, "Name"),
    Field("status", lambda u: u.status, "Status", style=lambda u: _STATUS_STYLE[u.status]),
    Field("email_verified", lambda u: u.email_verified, "Verified"),
    Field("has_password", lambda u: u.password_hash is not None),
    Field("locale", lambda u: u.locale),
    Field("time_zone", lambda u: u.time_zone),
    Field("roles", sorted_roles, "Roles", whole=True),
    Field("created_at", lambda u: u.created_at),
    Field("suspended_reason", lambda u: u.suspended_reason or None),
]


@app.command("list")
@handle_errors
def list_users(
    status: Annotated[UserStatus | None, typer.Option("--status", "-s", help="Only accounts in this state.")] = None,
    search: Annotated[
        str | None, typer.Option(help="Only accounts whose email or name contains this text (any case).")
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Only members of this organization (id or slug).", metavar="ORG")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many accounts (oldest first).")] = 50,
    output: FormatOption = "table",
) -> None:
    """List accounts, oldest first, with their roles."""
    users, more = run(_list(status, search, org, limit))
    render(users, USER_FIELDS, output, title=f"Users: {len(users)}{'+' if more else ''}", empty="No accounts match.")
    if more:
        info(f"Showing the first {len(users)} accounts; more match (raise --limit to see them).")


# -- suspend, reactivate ------------------------------------------------------------


async def _set_status(ref: str, *, suspended: bool, reason: str) -> tuple[User, bool]:
    """The user after the change, and whether anything changed."""
    async with open_platform(load_settings()) as platform:
        user = await resolve_user(platform, ref)
        target = UserStatus.SUSPENDED if suspended else UserStatus.ACTIVE
        before = user.status
        user = await platform.identity.set_status(SYSTEM, user.id, suspended=suspended, reason=reason)
        return user, before is not target


@app.command("suspend")
@handle_errors
def suspend_user(
    user: UserArgument,
    reason: Annotated[str, typer.Option(help="Why; kept with the account.")] = "",
) -> None:
    """Suspend an account: it cannot sign in, and every session it has ends now."""
    account, changed = run(_set_status(user, suspended=True, reason=reason))
    if changed:
        info(f"Suspended {account.email} ({account.id}); every session of the account has ended.")
    else:
        info(f"{account.email} ({account.id}) was already suspended; nothing changed.")


@app.command("reactivate")
@handle_errors
def reactivate_user(user: UserArgument) -> None:
    """Lift a suspension: the account can sign in again."""
    account, changed = run(_set_status(user, suspended=False, reason=""))
    if changed:
        info(f"Reactivated {account.email} ({account.id}).")
    else:
        info(f"{account.email} ({account.id}) is not suspended; nothing changed.")


# -- set-email ----------------------------------------------------------------------


async def _set_email(reference: str, email: str) -> tuple[User, str]:
    async with open_platform(load_settings()) as platform:
        user = await resolve_user(platform, reference)
        before = user.email
        changed = await platform.identity.set_email(SYSTEM, user.id, email)
        return changed, before


@app.command("set-email")
@handle_errors
def set_email(
    user: UserArgument,
    email: Annotated[str, typer.Argument(help="The new sign-in address.", metavar="EMAIL")],
) -> None:
    """Move an account to another email address at once, verified (for a user who lost the old mailbox).

    The old address gets a notice; sessions and the password are kept. A user who still reads their
    mailbox changes it themselves (POST /api/v1/users/me/email), confirming through a mailed link.
    """
    account, before = run(_set_email(user, email))
    if before == account.email:
        info(f"{account.email} ({account.id}) already has this address; nothing changed.")
    else:
        info(f"Changed the email of {account.id} from {before} to {account.email} (verified); {before} was told.")


# -- grant-role, revoke-role --------------------------------------------------------


RoleArgument = Annotated[
    str, typer.Argument(help=f"The role: a name, or {ROLE_FORMAT} (then no --scope).", metavar="ROLE")
]
ScopeOption = Annotated[
    str | None,
    typer.Option("--scope", help="Where the role applies: platform (default), organization or course."),
]
ScopeIdOption = Annotated[
    str | None,
    typer.Option("--scope-id", help="The organization's or course's id (for those scopes).", metavar="UUID"),
]


def grant_from_arguments(role: str, scope: str | None, scope_id: str | None) -> Grant:
    if ":" in role:
        if scope is not None or scope_id is not None:
            raise CliError("give the scope either in ROLE (role:scope:id) or with --scope/--scope-id, not both")
        return parse_role(role)
    # Named in messages the way the user wrote it, in the ROLE[:SCOPE:ID] form.
    label = ":".join(
        part for part in (role, scope or (ScopeKind.PLATFORM.value if scope_id else None), scope_id) if part
    )
    return checked_grant(label, role, scope or ScopeKind.PLATFORM.value, scope_id)


async def _grant(ref: str, grant: Grant) -> tuple[User, bool]:
    async with open_platform(load_settings()) as platform:
        user = await resolve_user(platform, ref)
        return await platform.identity.grant_role(SYSTEM, user.id, _spec(grant))


async def _revoke(ref: str, grant: Grant) -> User:
    async with open_platform(load_settings()) as platform:
        user = await resolve_user(platform, ref)
        if grant not in user.grants:
            raise CliError(f"{user.email} does not hold {grant}; nothing to revoke")
        return await platform.identity.revoke_role(SYSTEM, user.id, _spec(grant))


@app.command("grant-role")
@handle_errors
def grant_role(
    user: UserArgument, role: RoleArgument, scope: ScopeOption = None, scope_id: ScopeIdOption = None
) -> None:
    """Grant a role to an account (no change if it already holds it)."""
    grant = grant_from_arguments(role, scope, scope_id)
    account, changed = run(_grant(user, grant))
    if changed:
        info(f"Granted {grant} to {account.email}.")
    else:
        info(f"Already held: {account.email} already has {grant}; nothing changed.")


@app.command("revoke-role")
@handle_errors
def revoke_role(
    user: UserArgument, role: RoleArgument, scope: ScopeOption = None, scope_id: ScopeIdOption = None
) -> None:
    """Take a role away from an account (the same arguments as grant-role)."""
    grant = grant_from_arguments(role, scope, scope_id)
    account = run(_revoke(user, grant))
    remaining = sorted_roles(account)
    left = f"; roles left: {', '.join(remaining)}" if remaining else f"; {account.email} holds no role now"
    info(f"Revoked {grant} from {account.email}{left}.")
