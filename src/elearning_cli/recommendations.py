"""``elearning recommendations``: train the read model (what the scheduled job does), evaluate the
recommenders offline against the popularity baseline, and show a learner's "next for you" list."""

from __future__ import annotations

from typing import Annotated

import typer

from elearning_cli._common import (
    CliError,
    handle_errors,
    info,
    load_settings,
    open_platform,
    progress,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import UserArgument
from elearning_core.recommendation.evaluation import Report, Score
from elearning_core.recommendation.service import LISTED, TRAIN_STAGES, Suggestion, Trained

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS


def score_fields(baseline: float) -> list[Field[Score]]:
    """The evaluation's columns; ``baseline``: the popularity recommender's hit rate."""
    return [
        Field("recommender", lambda s: s.recommender, "Recommender"),
        Field("hit_rate_at_10", lambda s: round(s.hit_rate, 4), "Hit rate@10", justify="right"),
        Field("ndcg_at_10", lambda s: round(s.ndcg, 4), "NDCG@10", justify="right"),
        Field(
            "vs_popularity",
            lambda s: round(s.hit_rate / baseline, 2) if baseline else None,
            "x popularity",
            justify="right",
        ),
        Field("cases", lambda s: s.cases, "Cases", justify="right"),
    ]


SHOW_FIELDS: list[Field[Suggestion]] = [
    Field("rank", lambda s: s.rank + 1, "#", justify="right"),
    Field("course_id", lambda s: s.course_id, "Course", whole=True),
    Field("title", lambda s: s.title, "Title"),
    Field("reason", lambda s: s.reason.value, "Reason"),
    Field("score", lambda s: s.score, "Score", justify="right"),
    Field("explanation", lambda s: s.explanation, "Why"),
]


async def _train() -> Trained:
    async with open_platform(load_settings()) as platform:
        with progress("Training recommendations", len(TRAIN_STAGES)) as update:
            done: list[str] = []

            def stage(name: str) -> None:
                done.append(name)
                update(completed=len(done), description=f"Training recommendations ({name})")

            return await platform.recommendations.train(stage)


@app.command("train")
@handle_errors
def train() -> None:
    """Train the recommenders on every enrollment and replace the read model (the job
    ``recommendations.train`` does the same on its schedule)."""
    trained = run(_train())
    info(
        f"trained on {trained.interactions} enrollment(s) in {trained.courses} published course(s) "
        f"in {trained.seconds:.1f} s"
    )


async def _evaluate(train_share: float) -> Report:
    async with open_platform(load_settings()) as platform:
        with progress("Evaluating", None) as update:

            def report(done: int, total: int) -> None:
                update(completed=done, total=total)

            return await platform.recommendations.evaluate(train_share, report)


@app.command("evaluate")
@handle_errors
def evaluate(
    train_share: Annotated[
        float, typer.Option(help="The share of enrollments (oldest first) trained on; the rest is the test.")
    ] = 0.8,
    output: FormatOption = "table",
) -> None:
    """Split the enrollments by time, train on the past, and report hit rate@10 and NDCG@10 of each
    recommender against the popularity baseline (each learner's next course after the cut)."""
    if not 0 < train_share < 1:
        raise CliError("--train-share must be between 0 and 1 (exclusive)")
    report = run(_evaluate(train_share))
    fields = score_fields(report.of("popularity").hit_rate)
    title = f"trained on {report.train_interactions} enrollment(s) before {report.cut.isoformat()}"
    render(report.scores, fields, output, title=title, empty="no learner to evaluate")


async def _show(user: str, limit: int) -> tuple[list[Suggestion], str]:
    async with open_platform(load_settings()) as platform:
        learner = await resolve_user(platform, user)
        return await platform.recommendations.for_user(learner.id, limit), learner.email


@app.command("show")
@handle_errors
def show(
    user: UserArgument,
    limit: Annotated[int, typer.Option(help=f"At most this many (1 to {LISTED}).")] = 10,
    output: FormatOption = "table",
) -> None:
    """A learner's "next for you" list, as ``GET /api/v1/me/recommendations`` gives it, with why."""
    if not 1 <= limit <= LISTED:
        raise CliError(f"--limit must be between 1 and {LISTED}")
    items, email = run(_show(user, limit))
    render(items, SHOW_FIELDS, output, title=f"next for {email}", empty="nothing to recommend yet")
