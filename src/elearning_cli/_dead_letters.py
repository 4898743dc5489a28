"""Dead letters of the embedded default (no Kafka): the ``dead_letters`` table instead of ``<topic>.dlq``.

``elearning events dlq list`` and ``replay`` use this when
``ELEARNING_KAFKA_BOOTSTRAP_SERVERS`` is not set. A replay flags the rows;
the in-process transport of the running ``elearning serve`` dispatches them
again and deletes each one its handler now accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from elearning_cli._common import CliError, info, open_platform, plural, run
from elearning_cli._kafka import truncate
from elearning_cli._output import Field, OutputFormat, render

if TYPE_CHECKING:
    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.dead_letters import DeadLetter

ERROR_WIDTH = 60


def _topic_filter(topic: str) -> str | None:
    return None if topic == "all" else topic.removesuffix(".dlq")


async def _load(settings: Settings, topic: str | None) -> list[DeadLetter]:
    from elearning_adapters.sql.dead_letters import DeadLetterStore

    async with open_platform(settings) as platform:
        return await DeadLetterStore(platform.database).all(topic=topic)


DEAD_LETTER_FIELDS: list[Field[DeadLetter]] = [
    Field("id", lambda d: str(d.id), "Id", whole=True),
    Field("topic", lambda d: d.topic, "Topic", whole=True),
    Field("consumer", lambda d: d.consumer, "Consumer", whole=True),
    Field("event_type", lambda d: d.event_type, "Event type", whole=True, cell=lambda d: d.event_type or "?"),
    Field("event_id", lambda d: d.event_id, "Event id", whole=True, cell=lambda d: str(d.event_id or "?")),
    Field("attempts", lambda d: d.attempts, "Attempts", justify="right"),
    Field("created_at", lambda d: d.created_at, "At"),
    Field(
        "replay_requested_at",
        lambda d: d.replay_requested_at,
        "Replay",
        cell=lambda d: "requested" if d.replay_requested_at else "",
    ),
    Field("error", lambda d: d.error, "Error", cell=lambda d: truncate(d.error, ERROR_WIDTH)),
    Field("key", lambda d: d.message_key),
    Field("message", lambda d: d.message),
]


def list_dead_letters(settings: Settings, topic: str, limit: int, output: str) -> None:
    rows = run(_load(settings, _topic_filter(topic)))
    shown = rows[-limit:]
    empty = "No dead letters (in-process transport; Kafka is not configured)."
    render(shown, DEAD_LETTER_FIELDS, output, title="Dead letters (in-process transport)", empty=empty)
    if shown and OutputFormat(output) is OutputFormat.TABLE:
        info(f"Showing {len(shown)} of {plural(len(rows), 'dead letter')}; -o json prints them whole.")


async def _request_replay(settings: Settings, topic: str | None, ids: Sequence[int] | None) -> int:
    from elearning_adapters.sql.dead_letters import DeadLetterStore

    async with open_platform(settings) as platform:
        store = DeadLetterStore(platform.database)
        present = {d.id for d in await store.all(topic=topic)}
        if ids is not None:
            missing = sorted(set(ids) - present)
            if missing:
                raise CliError(f"no dead letter with id {', '.join(map(str, missing))} in {topic or 'any topic'}")
            chosen = sorted(set(ids))
        else:
            chosen = sorted(present)
        return await store.request_replay(chosen) if chosen else 0


def replay_dead_letters(settings: Settings, topic: str, ids: Sequence[int] | None) -> None:
    count = run(_request_replay(settings, _topic_filter(topic), ids))
    if not count:
        info("No dead letters to replay.")
        return
    info(
        f"Flagged {plural(count, 'dead letter')} for replay: the running `elearning serve` dispatches them again "
        "and removes each one that its consumer now handles."
    )
