"""Dead letters of the embedded default (no Kafka): the ``dead_letters`` table instead of ``<topic>.dlq``.

``elearning events dlq list`` and ``replay`` use this when
``ELEARNING_KAFKA_BOOTSTRAP_SERVERS`` is not set. A replay flags the rows;
the in-process transport of the running ``elearning serve`` dispatches them
again and deletes each one its handler now accepts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from elearning_cli._common import CliError, format_time, info, open_platform, plural, run, stdout_console
from elearning_cli._kafka import truncate

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


def list_dead_letters(settings: Settings, topic: str, limit: int, as_json: bool) -> None:
    rows = run(_load(settings, _topic_filter(topic)))
    shown = rows[-limit:]
    if as_json:
        stdout_console().print_json(
            json.dumps(
                [
                    {
                        "id": d.id,
                        "consumer": d.consumer,
                        "topic": d.topic,
                        "key": d.message_key,
                        "event_id": str(d.event_id) if d.event_id else None,
                        "event_type": d.event_type,
                        "attempts": d.attempts,
                        "error": d.error,
                        "created_at": d.created_at.isoformat(),
                        "replay_requested_at": d.replay_requested_at.isoformat() if d.replay_requested_at else None,
                        "message": d.message,
                    }
                    for d in shown
                ]
            )
        )
        return
    if not shown:
        info("No dead letters (in-process transport; Kafka is not configured).")
        return
    table = Table(title="Dead letters (in-process transport)", title_justify="left")
    for column in ("Id", "Topic", "Consumer", "Event type", "Event id", "Attempts", "At", "Replay"):
        table.add_column(column, overflow="fold")
    table.add_column("Error", overflow="fold", max_width=ERROR_WIDTH + 2)
    for d in shown:
        table.add_row(
            str(d.id),
            Text(d.topic),
            Text(d.consumer),
            Text(d.event_type or "?"),
            Text(str(d.event_id) if d.event_id else "?"),
            str(d.attempts),
            format_time(d.created_at),
            "requested" if d.replay_requested_at else "",
            Text(truncate(d.error, ERROR_WIDTH)),
        )
    stdout_console().print(table)
    info(f"Showing {len(shown)} of {plural(len(rows), 'dead letter')}; --json prints them whole.")


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
