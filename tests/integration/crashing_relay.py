"""A relay process that dies by SIGKILL after the broker acknowledged a batch, before the rows are marked.

Run by ``test_relay_crash.py`` as ``python crashing_relay.py DATABASE_URL BOOTSTRAP MARKER``. It is the
real ``OutboxRelay`` with the real ``KafkaEventPublisher``; only the publisher is wrapped: once
``publish()`` returned (every message of the batch acknowledged, ``acks=all``), the batch's event ids
are written to MARKER and the process kills itself, so the relay never reaches ``mark_published()``.
The hook lives here, in test code, never in ``src/``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_workers.relay import OutboxRelay


class KillAfterPublish:
    """The real publisher, then ``kill -9`` of this very process: delivered, never marked."""

    def __init__(self, inner: KafkaEventPublisher, marker: Path) -> None:
        self._inner = inner
        self._marker = marker

    async def publish(self, records: Sequence[OutboxRecord]) -> None:
        await self._inner.publish(records)
        self._marker.write_text(json.dumps([str(r.event_id) for r in records]))
        os.kill(os.getpid(), signal.SIGKILL)


async def main(database_url: str, bootstrap_servers: str, marker: Path) -> None:
    publisher = KillAfterPublish(KafkaEventPublisher(bootstrap_servers, delivery_timeout=5.0), marker)
    relay = OutboxRelay(Database(database_url), publisher, batch_size=1000, idle_sleep=0.05, max_backoff=0.5)
    # Never returns: failed rounds are retried, and the first acknowledged batch kills the process.
    await relay.run(asyncio.Event())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    url, bootstrap, marker_path = sys.argv[1:4]
    asyncio.run(main(url, bootstrap, Path(marker_path)))
