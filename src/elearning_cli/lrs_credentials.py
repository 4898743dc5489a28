"""``elearning analytics lrs-credentials``: the learning record store's client credentials.

A credential is a key and a secret for HTTP Basic on ``/xapi/statements``, scoped to one organization,
with the scopes ``statements/write``, ``statements/read`` or ``all``. ``create`` prints the secret once
(only its digest is stored); ``list`` shows keys, never secrets; ``revoke`` stops a key at once.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from elearning_cli._common import handle_errors, info, load_settings, open_platform, resolve_organization, run
from elearning_cli._output import Field, FormatOption, render, render_record
from elearning_core.analytics.lrs_credentials import CreatedCredential, LrsCredential, LrsScope, parse_scopes
from elearning_core.shared.ports import SYSTEM

app = typer.Typer(no_args_is_help=True, help="The learning record store's credentials (HTTP Basic on /xapi).")
"""``elearning analytics lrs-credentials`` (added to the group by ``elearning_cli.analytics``)."""

SCOPES = ", ".join(s.value for s in LrsScope)


def _state(c: LrsCredential) -> str:
    return "revoked" if c.revoked_at is not None else "active"


CREDENTIAL_FIELDS: list[Field[LrsCredential]] = [
    Field("key", lambda c: c.key, "Key", whole=True, style=lambda _: "bold"),
    Field("organization_id", lambda c: c.organization_id, "Organization", whole=True),
    Field("scopes", lambda c: sorted(s.value for s in c.scopes), "Scopes", cell=lambda c: " ".join(sorted(c.scopes))),
    Field("label", lambda c: c.label, "Label"),
    Field("state", _state, "State"),
    Field("created_at", lambda c: c.created_at, "Created"),
    Field("revoked_at", lambda c: c.revoked_at, "Revoked"),
]
CREATED_FIELDS: list[Field[CreatedCredential]] = [
    Field("key", lambda c: c.credential.key, "Key", whole=True),
    Field("secret", lambda c: c.secret, "Secret (shown once)", whole=True),
    Field("organization_id", lambda c: c.credential.organization_id, "Organization", whole=True),
    Field("scopes", lambda c: sorted(s.value for s in c.credential.scopes), "Scopes"),
]


async def _create(org: str, scopes: list[str], label: str) -> CreatedCredential:
    wanted = parse_scopes(scopes)
    async with open_platform(load_settings()) as platform:
        organization = await resolve_organization(platform, org)
        return await platform.lrs_credentials.create(SYSTEM, organization.id, wanted, label)


@app.command("create")
@handle_errors
def create(
    org: Annotated[str, typer.Argument(help="The organization's id or slug.", metavar="ORG")],
    scope: Annotated[list[str], typer.Option("--scope", "-s", help=f"Repeatable: {SCOPES}.", show_default=False)],
    label: Annotated[str, typer.Option("--label", "-l", help="Who uses it (a tool's name).")] = "",
    output: FormatOption = "table",
) -> None:
    """Create a credential for ORG and print its key and secret (the secret is shown only now)."""
    created = run(_create(org, scope, label))
    render_record(created, CREATED_FIELDS, output, title="LRS credential")
    info("Keep the secret now: only its digest is stored. Clients send HTTP Basic key:secret to /xapi/statements.")


async def _list(org: str | None) -> list[LrsCredential]:
    async with open_platform(load_settings()) as platform:
        organization_id: uuid.UUID | None = None
        if org is not None:
            organization_id = (await resolve_organization(platform, org)).id
        return await platform.lrs_credentials.list(SYSTEM, organization_id)


@app.command("list")
@handle_errors
def list_credentials(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization's (id or slug).")] = None,
    output: FormatOption = "table",
) -> None:
    """List credentials, newest first, revoked ones included (never their secrets)."""
    credentials = run(_list(org))
    render(
        credentials,
        CREDENTIAL_FIELDS,
        output,
        title=f"LRS credentials: {len(credentials)}",
        empty="No LRS credentials.",
    )


async def _revoke(key: str) -> LrsCredential:
    async with open_platform(load_settings()) as platform:
        return await platform.lrs_credentials.revoke(SYSTEM, key)


@app.command("revoke")
@handle_errors
def revoke(key: Annotated[str, typer.Argument(help="The credential's key (lrs-...).", metavar="KEY")]) -> None:
    """Revoke a credential: its requests are refused (401) from now on."""
    credential = run(_revoke(key))
    info(f"Revoked {credential.key} of organization {credential.organization_id}.")
