"""``elearning analytics``: a course's learners at risk (inactive, failing, behind pace), as staff see them at
``GET /api/v1/courses/{id}/analytics/at-risk``, for an operator (a table, or CSV and JSON for scripts); and
``rebuild``, which recomputes the aggregates the dashboards read from the stored statements. The dashboards'
report and key figures are in ``analytics_report``; one learner's statements exported (``export-statements``)
in ``statement_export``."""

from __future__ import annotations

from typing import Annotated

import typer

from elearning_cli import analytics_report, lrs_credentials, statement_export
from elearning_cli._common import (
    CliError,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    rebuild_progress,
    run,
)
from elearning_cli._output import Field, parse_output, render
from elearning_cli.enrollments import CourseArgument, resolve_course
from elearning_core.analytics.at_risk import DAYS_MAX, AtRiskLearner, RiskReason
from elearning_core.analytics.at_risk_service import AtRiskFilter, reasons_of
from elearning_core.shared.ports import SYSTEM
from elearning_core.shared.rebuild import RebuildReport

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS
app.add_typer(lrs_credentials.app, name="lrs-credentials")
app.command("report")(analytics_report.report)
app.command("dashboard")(analytics_report.dashboard)
app.command("export-statements")(statement_export.export_statements)

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "--output",
        "-o",
        metavar="table|json|csv",
        callback=parse_output,
        help="table (for people), json (an array of objects) or csv (a header row, then a row per learner).",
    ),
]


def _days(x: AtRiskLearner) -> int | None:
    return x.inactive.days if x.inactive else None


def _lost(x: AtRiskLearner) -> list[str]:
    return [item.title for item in x.failing.lost_items] if x.failing else []


def _grade(x: AtRiskLearner) -> str:
    failing = x.failing
    if failing is None or failing.grade_percent is None:
        return ""
    below = f" < {failing.passing_percent:g}" if failing.below_passing and failing.passing_percent is not None else ""
    return f"{failing.grade_percent:g}{below}"


def _pace(x: AtRiskLearner) -> str:
    pace = x.behind_pace
    if pace is None:
        return ""
    return f"{pace.required_completed} of {pace.expected_lessons} due ({pace.required_lessons} required)"


AT_RISK_FIELDS: list[Field[AtRiskLearner]] = [
    Field("user_id", lambda x: x.user_id),
    Field("email", lambda x: x.email, "Learner", whole=True),
    Field("display_name", lambda x: x.display_name, "Name"),
    Field("reasons", lambda x: [r.value for r in x.reasons], "Reasons", cell=lambda x: ", ".join(x.reasons)),
    Field("last_activity_at", lambda x: x.inactive.last_activity_at if x.inactive else None),
    Field(
        "inactive_days", _days, "Idle days", cell=lambda x: "" if _days(x) is None else str(_days(x)), justify="right"
    ),
    Field("grade_percent", lambda x: x.failing.grade_percent if x.failing else None),
    Field("passing_percent", lambda x: x.failing.passing_percent if x.failing else None),
    Field(None, _grade, "Grade"),
    Field("lost_items", _lost, "Quizzes lost", cell=lambda x: ", ".join(_lost(x))),
    Field("required_completed", lambda x: x.behind_pace.required_completed if x.behind_pace else None),
    Field("expected_lessons", lambda x: x.behind_pace.expected_lessons if x.behind_pace else None),
    Field("required_lessons", lambda x: x.behind_pace.required_lessons if x.behind_pace else None),
    Field(None, _pace, "Lessons done"),
    Field("pace_start", lambda x: x.behind_pace.start if x.behind_pace else None),
    Field("pace_started_at", lambda x: x.behind_pace.started_at if x.behind_pace else None),
]


def _check_days(value: int | None, option: str) -> None:
    if value is not None and not 1 <= value <= DAYS_MAX:
        raise CliError(f"{option} must be between 1 and {DAYS_MAX}", exit_code=2)


def _reason(value: str | None) -> RiskReason | None:
    if value is None:
        return None
    try:
        return RiskReason(value.strip().lower().replace("-", "_"))
    except ValueError:
        choices = ", ".join(r.value for r in RiskReason)
        raise CliError(f"unknown reason {value!r}: use one of {choices}", exit_code=2) from None


async def _at_risk(course: str, where: AtRiskFilter) -> tuple[list[AtRiskLearner], tuple[int, int]]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        service = platform.at_risk
        return await service.all_at_risk(SYSTEM, course_id, where), service.thresholds(where)


@app.command("at-risk")
@handle_errors
def at_risk(
    course: CourseArgument,
    inactive_days: Annotated[
        int | None,
        typer.Option(help="Inactive after this many days without activity (default: the setting, 14)."),
    ] = None,
    expected_days: Annotated[
        int | None,
        typer.Option(help="How many days the course is expected to take from each learner's start (default: 30)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only learners with this reason: inactive, failing or behind_pace.")
    ] = None,
    output: FormatOption = "table",
) -> None:
    """The course's learners at risk and why: inactive, failing (grade below the course's minimum, or a required
    quiz lost) or behind pace (fewer lessons completed than the share of the expected duration elapsed)."""
    _check_days(inactive_days, "--inactive-days")
    _check_days(expected_days, "--expected-days")
    where = AtRiskFilter(_reason(reason), inactive_days, expected_days)
    learners, (used_inactive, used_expected) = run(_at_risk(course, where))
    counts = reasons_of(learners)
    title = (
        f"{plural(len(learners), 'learner')} at risk (inactive after {used_inactive} days, "
        f"pace over {used_expected} days)"
    )
    render(learners, AT_RISK_FIELDS, output, title=title, empty="no learner at risk")
    if learners:
        info(", ".join(f"{reason.value}: {count}" for reason, count in counts.items()))


CHUNK_MAX = 100_000


async def _rebuild(chunk_size: int) -> RebuildReport:
    from elearning_adapters.sql.analytics import rebuild_aggregates

    settings = load_settings()
    async with open_platform(settings) as platform:
        with rebuild_progress("Rebuilding the analytics aggregates") as bar:
            return await rebuild_aggregates(
                platform.database, settings.analytics_time_zone, progress=bar, chunk_size=chunk_size
            )


@app.command("rebuild")
@handle_errors
def rebuild_command(
    chunk_size: Annotated[
        int, typer.Option(help=f"Statements per transaction (1 to {CHUNK_MAX:,}).", show_default=True)
    ] = 5000,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Empty the analytics aggregates and recount them from the stored statements, in stored order.

    The live projection waits while it runs (its statements are counted after), and the dashboards show
    partial figures until it ends. Interrupted, run it again: it starts over."""
    if not 1 <= chunk_size <= CHUNK_MAX:
        raise CliError(f"--chunk-size must be between 1 and {CHUNK_MAX}", exit_code=2)
    if not yes:
        typer.confirm(
            "Recount every analytics aggregate from the stored statements? (dashboards show partial figures "
            "until it ends)",
            abort=True,
            err=True,
        )
    report = run(_rebuild(chunk_size))
    info(
        f"rebuilt the analytics aggregates from {plural(report.facts, 'statement')} "
        f"in {plural(report.chunks, 'transaction')} ({report.seconds:.1f} s)"
    )
