"""``elearning keys``: the token signing keys every process shares through the database.

One key is active (it signs); keys retired by a rotation keep verifying the
tokens they signed until those have expired (the ring's retention: access
token lifetime + leeway + reload period), then they are expired and ``--prune``
deletes them. Only public facts are ever shown: kid, algorithm, times, status.

Rotation goes through ``SharedKeyRing.rotate`` (the store, in one serialised
transaction), never ``KeyRing.rotate``: a key made in this process alone would
vanish at the next reload.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from elearning_cli._common import (
    CliError,
    format_time,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    run,
)
from elearning_cli._output import Field, FormatOption, render

if TYPE_CHECKING:
    from elearning_adapters.container import Platform
    from elearning_adapters.security.tokens import SigningKey

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

ACTIVE, VERIFYING, EXPIRED = "active", "verifying", "expired"


@dataclass(frozen=True, slots=True)
class KeyView:
    """What may be shown of a key: never its private part."""

    kid: str
    algorithm: str
    created_at: datetime
    retired_at: datetime | None
    verifies_until: datetime | None
    status: str


def key_views(keys: list[SigningKey], retention: timedelta, now: datetime) -> list[KeyView]:
    """The keys newest first, each with its status as the processes' rings see it."""
    active_algorithm = next((k.algorithm for k in keys if k.retired_at is None), None)
    views = []
    for key in keys:
        until = key.verifies_until(retention)
        if key.retired_at is None:
            status = ACTIVE
        elif key.algorithm != active_algorithm:
            status = EXPIRED  # a ring verifies one algorithm: switching ends the old one's tokens at once
            until = key.retired_at
        else:
            status = VERIFYING if until is not None and now < until else EXPIRED
        views.append(KeyView(key.kid, key.algorithm, key.created_at, key.retired_at, until, status))
    return sorted(views, key=lambda v: (v.created_at, v.kid), reverse=True)


@contextlib.asynccontextmanager
async def _key_store_errors() -> AsyncIterator[None]:
    """The key store's own errors (such as a changed ELEARNING_SECRET_KEY) as one-line messages."""
    from elearning_adapters.security.keystore import KeyStoreError

    try:
        yield
    except KeyStoreError as exc:
        raise CliError(str(exc)) from None


async def _stored_views(platform: Platform) -> list[KeyView]:
    """Every stored key, read from the store itself: this creates no key and shows keys of any algorithm."""
    from elearning_adapters.sql.signing_keys import SqlSigningKeyStore

    store = SqlSigningKeyStore(platform.database, platform.settings.resolved_secret())
    retention = platform.container.identity.key_ring().retention
    return key_views(await store.load(), retention, _clock_now(platform))


def _clock_now(platform: Platform) -> datetime:
    now: datetime = platform.container.adapters.clock().now()
    return now


# -- list ---------------------------------------------------------------------------


async def _list() -> list[KeyView]:
    async with open_platform(load_settings()) as platform, _key_store_errors():
        return await _stored_views(platform)


_STATUS_STYLE = {ACTIVE: "green", VERIFYING: "yellow", EXPIRED: "dim"}


def _when(at: datetime | None) -> str:
    return format_time(at) if at else "-"


KEY_FIELDS: list[Field[KeyView]] = [
    Field("kid", lambda v: v.kid, "Kid", whole=True, style=lambda _: "bold"),
    Field("algorithm", lambda v: v.algorithm, "Algorithm"),
    Field("created_at", lambda v: v.created_at, "Created"),
    Field("retired_at", lambda v: v.retired_at, "Retired"),
    Field(
        "verifies_until",
        lambda v: v.verifies_until,
        "Verifies until",
        cell=lambda v: "(while active)" if v.status == ACTIVE else _when(v.verifies_until),
    ),
    Field("status", lambda v: v.status, "Status", style=lambda v: _STATUS_STYLE[v.status]),
]


@app.command("list")
@handle_errors
def list_keys(output: FormatOption = "table") -> None:
    """List the signing keys, newest first: the active one, retired ones still verifying, expired ones."""
    views = run(_list())
    empty = "No signing keys yet: the first is made when the platform starts, or by `elearning keys rotate`."
    render(views, KEY_FIELDS, output, title=f"Signing keys: {len(views)}", empty=empty)


# -- rotate -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    active: KeyView
    previous: KeyView | None
    """The key active before the command; None when the command made the very first key."""
    active_age: timedelta
    reload_period: timedelta
    pruned: list[str] | None

    @property
    def rotated(self) -> bool:
        return self.previous is not None and self.previous.kid != self.active.kid


async def _rotate(older_than: timedelta | None, prune: bool) -> Rotation:
    async with open_platform(load_settings()) as platform, _key_store_errors():
        first = not await _stored_views(platform)
        await platform.start_keys()  # on a new database this makes the first key: no need to rotate it
        keys = platform.container.identity.key_ring()
        before = keys.ring.active.kid
        after = keys.ring.active if first else await keys.rotate(older_than=older_than)
        pruned = await keys.prune() if prune else None
        # The previous key as stored: the ring drops the keys of an algorithm it switched away from.
        views = {v.kid: v for v in await _stored_views(platform)}
        return Rotation(
            active=views[after.kid],
            previous=None if first else views[before],
            active_age=_clock_now(platform) - after.created_at,
            reload_period=keys.reload_period,
            pruned=pruned,
        )


def _days(days: float) -> str:
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def _age(age: timedelta) -> str:
    days = age.total_seconds() / 86400
    return _days(round(days, 1)) if days >= 0.1 else plural(int(age.total_seconds() // 60), "minute")


@app.command("rotate")
@handle_errors
def rotate_keys(
    if_older_than: Annotated[
        float | None,
        typer.Option(
            "--if-older-than",
            min=0,
            help="Rotate only if the active key is at least this many days old (for a scheduled job).",
            metavar="DAYS",
        ),
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Also delete the expired keys.")] = False,
) -> None:
    """Make a new signing key active and print its kid; the old key verifies its tokens until they expire.

    Every server process signs with the new key within ELEARNING_SIGNING_KEY_RELOAD_SECONDS.
    """
    older_than = timedelta(days=if_older_than) if if_older_than is not None else None
    done = run(_rotate(older_than, prune))
    typer.echo(done.active.kid)
    previous = done.previous
    if previous is None:
        info(f"Created the first signing key {done.active.kid} ({done.active.algorithm}); nothing to rotate yet.")
    elif done.rotated:
        if previous.status == EXPIRED:
            ends = f"stop verifying now (the algorithm changed from {previous.algorithm} to {done.active.algorithm})"
        else:
            ends = f"verify until {_when(previous.verifies_until)}"
        info(
            f"Rotated: the new key {done.active.kid} ({done.active.algorithm}) signs from now on; tokens signed "
            f"by {previous.kid} {ends}. Other processes switch within {int(done.reload_period.total_seconds())}s."
        )
    else:
        info(
            f"Not rotated: the active key {done.active.kid} is {_age(done.active_age)} old, "
            f"younger than {_days(if_older_than or 0)}."
        )
    if done.pruned is not None:
        if done.pruned:
            info(f"Pruned {plural(len(done.pruned), 'expired key')}: {', '.join(done.pruned)}.")
        else:
            info("Pruned 0 expired keys: none has passed its verification window.")
