"""``elearning search``: rebuild the index online, query it as an admin (or as nobody), and the report
of the most frequent and zero-result queries.

``reindex`` rewrites every document of the kinds asked from the source tables (a chunk of courses per
transaction, the bar moves per chunk), then drops the documents of those kinds it did not write;
searches keep answering meanwhile, from the old row until the new one commits.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from elearning_cli._common import CliError, handle_errors, info, load_settings, open_platform, rebuild_progress, run
from elearning_cli._output import Field, FormatOption, render
from elearning_core.search.model import DocumentKind, Hit, QueryCount, QueryReport, TotalRelation
from elearning_core.search.service import SearchRequest
from elearning_core.shared.ports import ANONYMOUS, SYSTEM

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

KINDS = ", ".join(k.value for k in DocumentKind)
KindOption = Annotated[list[str] | None, typer.Option("--kind", help=f"Only these kinds (repeatable): {KINDS}.")]

HIT_FIELDS: list[Field[Hit]] = [
    Field("kind", lambda h: h.kind.value, "Kind"),
    Field("id", lambda h: str(h.id), "Id", whole=True),
    Field("title", lambda h: h.title, "Title"),
    Field("url", lambda h: h.url, "Where", whole=True),
]
COUNT_FIELDS: list[Field[dict[str, Any]]] = [
    Field("list", lambda r: r["list"], "List"),
    Field("query", lambda r: r["query"], "Query"),
    Field("count", lambda r: r["count"], "Searches"),
    Field("zero_results", lambda r: r["zero_results"], "Zero results"),
]


def _kinds(values: list[str] | None) -> list[DocumentKind]:
    try:
        return [DocumentKind(v) for v in values] if values else list(DocumentKind)
    except ValueError:
        raise CliError(f"unknown kind in {', '.join(values or [])}: one of {KINDS}") from None


async def _reindex(kinds: list[DocumentKind]) -> dict[str, int]:
    from elearning_adapters.search.projection import reindex

    async with open_platform(load_settings()) as platform:
        with rebuild_progress("Reindexing search") as bar:
            return await reindex(platform.database, platform.container.search.index(), kinds, progress=bar)


@app.command("reindex")
@handle_errors
def reindex_command(kind: KindOption = None) -> None:
    """Rebuild the search index from the courses and threads, online (searches keep answering)."""
    counts = run(_reindex(_kinds(kind)))
    info("indexed " + ", ".join(f"{n} {k}(s)" for k, n in counts.items()))


async def _query(q: str, kinds: list[DocumentKind], anonymous: bool, limit: int) -> tuple[list[Hit], str, str | None]:
    async with open_platform(load_settings()) as platform:
        request = SearchRequest(q=q, kinds=frozenset(k.value for k in kinds), limit=limit)
        page = await platform.search.search(ANONYMOUS if anonymous else SYSTEM, request)
        result = page.result
        total = f"{result.total}+" if result.total_relation is TotalRelation.GTE else str(result.total)
        return result.hits, total, result.did_you_mean


@app.command("query")
@handle_errors
def query(
    q: Annotated[str, typer.Argument(help='What to search for: words, "a phrase", -excluded.')],
    kind: KindOption = None,
    anonymous: Annotated[
        bool, typer.Option(help="Search as a visitor who is signed out (public documents only).")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many results (1 to 100).")] = 20,
    output: FormatOption = "table",
) -> None:
    """Search as an admin (everything) or as a visitor, best first."""
    hits, total, corrected = run(_query(q, _kinds(kind), anonymous, limit))
    title = f"{total} result(s)" + (f" for {corrected!r} (did you mean)" if corrected else "")
    render(hits, HIT_FIELDS, output, title=title, empty="no results")


def _rows(report: QueryReport) -> list[dict[str, Any]]:
    def row(name: str, c: QueryCount) -> dict[str, Any]:
        return {"list": name, "query": c.text, "count": c.count, "zero_results": c.zero_results}

    return [row("most frequent", c) for c in report.most_frequent] + [
        row("zero results", c) for c in report.zero_results
    ]


async def _report(days: int, limit: int) -> QueryReport:
    async with open_platform(load_settings()) as platform:
        return await platform.search.report(SYSTEM, days=days, limit=limit)


@app.command("report")
@handle_errors
def report(
    days: Annotated[int, typer.Option(help="Over the last this many days (1 to 366).")] = 30,
    limit: Annotated[int, typer.Option(help="At most this many queries per list (1 to 100).")] = 20,
    output: FormatOption = "table",
) -> None:
    """The most frequent searches and those that found nothing (first pages only, words folded)."""
    rows = _rows(run(_report(days, limit)))
    render(rows, COUNT_FIELDS, output, title=f"searches of the last {days} day(s)", empty="no searches")
