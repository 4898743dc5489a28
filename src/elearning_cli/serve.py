"""``elearning serve``: check the database, then run the HTTP API under uvicorn.

The API is started by import string, so this runtime never imports
``elearning_http`` (runtimes do not import each other); ``server_app()``
reads the same ``ELEARNING_*`` environment this process checked.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from elearning_cli._common import (
    UPGRADE_HINT,
    CliError,
    database_label,
    handle_errors,
    info,
    load_settings,
    open_platform,
    run,
    stdout_console,
    warn,
)

if TYPE_CHECKING:
    from elearning_adapters.settings import Settings

APP_FACTORY = "elearning_http.app:server_app"
ADMIN_TOKEN_ENV = "ELEARNING_ADMIN_TOKEN"
WORKERS_ENV = "ELEARNING_WORKERS"
HOST_ENV = "ELEARNING_HOST"
PORT_ENV = "ELEARNING_PORT"


async def preflight(settings: Settings) -> str:
    """Make sure the database is ready for the API, and say what was done.

    On the embedded default (SQLite) pending migrations are applied, so a
    first ``elearning serve`` just works. A server database (PostgreSQL) is
    never migrated implicitly: several servers may start at once and schema
    changes deserve a deliberate step, so an outdated one is refused.
    """
    from elearning_adapters.sql import migrate

    label = database_label(settings)
    if settings.is_memory:
        raise CliError(
            "an in-memory database lives inside one process and cannot be migrated from here; "
            "unset ELEARNING_DATABASE_URL (SQLite file) or use PostgreSQL"
        )
    async with open_platform(settings, require_schema=False) as platform:
        current, head = await migrate.current_revision(platform.database), migrate.head_revision()
        if current == head:
            return f"database {label} is at revision {head} (up to date)"
        if settings.is_sqlite:
            await migrate.upgrade(platform.database)
            return f"database {label} migrated from revision {current or 'none'} to {head}"
    if current is None:
        raise CliError(f"the database {label} has no schema yet; {UPGRADE_HINT} before `elearning serve`")
    raise CliError(
        f"the database {label} is at revision {current}, this version needs {head}; "
        f"{UPGRADE_HINT} before `elearning serve`"
    )


def events_summary(settings: Settings) -> str:
    """One line on how events travel and what the catalog cache is, for the operator starting the server."""
    cache = {
        "redis": "Redis (invalidated by course events)",
        "memory": "in this process (invalidated by course events)",
        "none": "off",
    }[settings.resolved_cache]
    if settings.events_relayed_in_serve:
        events = "relayed in-process from the outbox (no Kafka configured)"
    elif settings.events_in_process:
        events = "relayed from the outbox by `elearning worker events` (ELEARNING_EVENTS_RELAY=worker)"
    else:
        events = (
            f"published to Kafka at {settings.kafka_bootstrap_servers} by `elearning worker relay`, "
            "handled by `elearning worker consume`"
        )
    return f"events: {events}; catalog cache: {cache}"


def ensure_admin_token() -> str | None:
    """Generate an admin token when none is configured; it is put in the environment the server inherits."""
    if os.environ.get(ADMIN_TOKEN_ENV):
        return None
    token = secrets.token_urlsafe(32)
    os.environ[ADMIN_TOKEN_ENV] = token
    return token


def docs_url(host: str, port: int) -> str:
    from elearning_adapters.settings import reachable_host

    return f"http://{reachable_host(host)}:{port}/schema"


@handle_errors
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on. Default: ELEARNING_HOST or 127.0.0.1.", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on. Default: ELEARNING_PORT or 8000.", show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes. Default: ELEARNING_WORKERS or 1.", show_default=False),
    ] = None,
) -> None:
    """Run the HTTP API. Migrates the embedded SQLite database first; refuses an outdated PostgreSQL one."""
    settings = load_settings()
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    workers = settings.workers if workers is None else workers
    info(run(preflight(settings)))
    token = ensure_admin_token()
    console = stdout_console()
    if token is not None:
        console.print("[bold]Admin token[/bold] (generated for this run; it changes on every start):", soft_wrap=True)
        console.print(Text(token, style="bold green"), soft_wrap=True)
        console.print(
            Text(f"Send it as `Authorization: Bearer <token>`. Set {ADMIN_TOKEN_ENV} to keep a fixed one."),
            soft_wrap=True,
        )
    console.print(Text(f"API docs: {docs_url(host, port)}"), soft_wrap=True)
    if workers > 1 and settings.is_sqlite:
        warn("several workers share one SQLite file; writes are serialised. Use PostgreSQL for real load")
    # The server processes read their settings from the environment: make them see the worker count
    # (the catalog cache is process-local only when one process serves), and the host and port served,
    # which name the public base URL (mail links, the token issuer, the OIDC callback) unless it is set.
    os.environ[WORKERS_ENV] = str(workers)
    os.environ[HOST_ENV] = host
    os.environ[PORT_ENV] = str(port)
    info(events_summary(settings.model_copy(update={"workers": workers})))

    from elearning_cli import _server

    limits = _server.ServerLimits(
        header_timeout=settings.header_timeout_seconds,
        body_min_rate=settings.body_min_rate_bytes,
        body_rate_window=settings.body_rate_window_seconds,
        max_header_bytes=settings.max_header_bytes,
        max_connections=settings.max_connections,
        shutdown_grace=settings.shutdown_grace_seconds,
    )
    # Forwarded headers are believed only from the proxies the operator named (uvicorn would otherwise
    # believe X-Forwarded-For from 127.0.0.1); the app resolves the client the same way (client_ip.py).
    proxies = settings.trusted_proxies
    _server.run_server(
        APP_FACTORY,
        limits=limits,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )
