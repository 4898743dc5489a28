"""``elearning orgs``: create, update and list organizations, and add accounts to them.

An organization is named by id or slug, a user by id or email. Listing an
organization's members is ``elearning users list --org ORG``; making someone
its administrator is ``elearning users grant-role USER organization_admin:organization:<id>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from elearning_cli._common import (
    CliError,
    collect,
    handle_errors,
    info,
    load_settings,
    open_platform,
    resolve_organization,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_core.identity.commands import CreateOrganization, UpdateOrganization
from elearning_core.identity.model import Organization, User
from elearning_core.shared.pagination import MAX_PAGE_SIZE
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_core.identity.service import IdentityService

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

PAGE_SIZE = MAX_PAGE_SIZE
"""Organizations fetched per listing page while walking the pages."""

TIME_ZONE_HELP = "IANA time zone (e.g. Europe/Paris) in which the organization's reports count days."


# -- create -------------------------------------------------------------------------


async def _create(cmd: CreateOrganization) -> Organization:
    async with open_platform(load_settings()) as platform:
        return await platform.identity.create_organization(SYSTEM, cmd)


@app.command("create")
@handle_errors
def create_organization(
    slug: Annotated[
        str, typer.Argument(help="Lowercase letters, digits and inner hyphens, at most 63.", metavar="SLUG")
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="The organization's display name.")],
    time_zone: Annotated[str, typer.Option("--time-zone", help=TIME_ZONE_HELP, metavar="TZ")] = "UTC",
) -> None:
    """Create an organization and print its id."""
    organization = run(_create(CreateOrganization(slug=slug, name=name, time_zone=time_zone)))
    typer.echo(str(organization.id))
    info(f"Created organization {organization.slug} ({organization.name}), time zone {organization.time_zone}.")


# -- update -------------------------------------------------------------------------


async def _update(org: str, cmd: UpdateOrganization) -> Organization:
    async with open_platform(load_settings()) as platform:
        organization = await resolve_organization(platform, org)
        return await platform.identity.update_organization(SYSTEM, organization.id, cmd)


@app.command("update")
@handle_errors
def update_organization(
    org: Annotated[str, typer.Argument(help="The organization's id or slug.", metavar="ORG")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="A new display name.")] = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone", help=TIME_ZONE_HELP, metavar="TZ")] = None,
) -> None:
    """Rename an organization or change its time zone (what is not given is kept)."""
    if name is None and time_zone is None:
        raise CliError("nothing to change: give --name or --time-zone (or both)")
    organization = run(_update(org, UpdateOrganization(name=name, time_zone=time_zone)))
    info(f"Organization {organization.slug}: {organization.name}, time zone {organization.time_zone}.")


# -- list ---------------------------------------------------------------------------


async def collect_organizations(service: IdentityService, limit: int) -> tuple[list[Organization], bool]:
    """Follow the listing's cursors until ``limit`` organizations; also say whether more exist."""
    return await collect(
        lambda cursor, size: service.list_organizations(SYSTEM, cursor=cursor, limit=size), limit, PAGE_SIZE
    )


async def _list(limit: int) -> tuple[list[Organization], bool]:
    async with open_platform(load_settings()) as platform:
        return await collect_organizations(platform.identity, limit)


ORGANIZATION_FIELDS: list[Field[Organization]] = [
    Field("id", lambda o: o.id, "Id", whole=True),
    Field("slug", lambda o: o.slug, "Slug", whole=True, style=lambda _: "bold"),
    Field("name", lambda o: o.name, "Name"),
    Field("created_at", lambda o: o.created_at, "Created"),
    Field("time_zone", lambda o: o.time_zone, "Time zone", whole=True),
]


@app.command("list")
@handle_errors
def list_organizations(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many organizations (oldest first).")] = 100,
    output: FormatOption = "table",
) -> None:
    """List organizations, oldest first."""
    organizations, more = run(_list(limit))
    title = f"Organizations: {len(organizations)}{'+' if more else ''}"
    render(organizations, ORGANIZATION_FIELDS, output, title=title, empty="No organizations yet.")
    if more:
        info(f"Showing the first {len(organizations)} organizations; more exist (raise --limit to see them).")


# -- members ------------------------------------------------------------------------


async def _add_member(org: str, user: str) -> tuple[Organization, User, bool]:
    async with open_platform(load_settings()) as platform:
        organization = await resolve_organization(platform, org)
        account = await resolve_user(platform, user)
        added = await platform.identity.add_member(SYSTEM, organization.id, account.id)
        return organization, account, added


@app.command("add-member")
@handle_errors
def add_member(
    org: Annotated[str, typer.Argument(help="The organization's id or slug.", metavar="ORG")],
    user: Annotated[str, typer.Argument(help="The user's id or email address.", metavar="USER")],
) -> None:
    """Add an account to an organization (no change if it already is a member)."""
    organization, account, added = run(_add_member(org, user))
    if added:
        info(f"Added {account.email} to {organization.slug}.")
    else:
        info(f"Already a member: {account.email} already belongs to {organization.slug}; nothing changed.")
