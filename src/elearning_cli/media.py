"""``elearning media``: the object store's settings that live in the store itself, and moving media into it.

``migrate --to s3`` copies the local media directory into the S3 store (``elearning_cli.media_migrate``).

``cors`` sets the bucket's CORS rule a browser player needs to fetch presigned media (GET and HEAD with
``Range`` from the given origins), or shows the origins it allows. Only for ``ELEARNING_STORAGE_BACKEND=s3``:
the local store has no bucket (the API serves local media, under ``ELEARNING_CORS_ORIGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from elearning_cli._common import CliError, handle_errors, info, load_settings, run, stdout_console
from elearning_cli.media_migrate import migrate

if TYPE_CHECKING:
    from elearning_adapters.storage.s3 import S3ObjectStore

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS
app.command("migrate")(migrate)


def _s3_store() -> S3ObjectStore:
    from elearning_adapters.container import build_container
    from elearning_adapters.storage.s3 import S3ObjectStore

    settings = load_settings()
    store = build_container(settings).adapters.object_store()
    if not isinstance(store, S3ObjectStore):
        raise CliError(
            "the object store is the local directory (ELEARNING_STORAGE_BACKEND=local): it has no bucket CORS; "
            "the API serves local media under ELEARNING_CORS_ORIGINS"
        )
    return store


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if value == "*":
        return value
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise CliError(f"not an origin (scheme://host[:port]): {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


async def _cors(origins: list[str] | None, clear: bool, max_age: int) -> list[str]:
    store = _s3_store()
    try:
        if clear:
            await store.set_cors([], max_age)
        elif origins:
            await store.set_cors(origins, max_age)
        return await store.cors_origins()
    finally:
        await store.aclose()


@app.command("cors")
@handle_errors
def cors(
    origin: Annotated[
        list[str] | None,
        typer.Option("--origin", help="A browser origin allowed to read media (repeat it); replaces the rule."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the bucket's CORS rule.")] = False,
    max_age: Annotated[
        int, typer.Option("--max-age", min=0, max=86_400, help="Seconds a browser may cache the preflight answer.")
    ] = 3600,
) -> None:
    """Set (or show, without options) the bucket CORS a browser player needs for presigned media URLs."""
    if clear and origin:
        raise CliError("--clear and --origin exclude each other")
    origins = [_origin(o) for o in origin or []]
    allowed = run(_cors(origins, clear, max_age))
    if origins or clear:
        info(f"bucket CORS {'removed' if clear else 'set'}")
    stdout_console().print("\n".join(allowed) if allowed else "no origin may read the bucket from a browser")
