"""``python -m elearning_workers forward-statements``: the statement forwarder in a loop, until SIGTERM.

The scheduled job ``analytics.forward-statements`` forwards once per period; this worker follows the store
closely instead: a few batches, each checkpointed, then again at once while there is more, or after
``--idle-sleep`` once caught up. A failed run (the destination away past the retry budget, a database
error) is logged and tried again after a doubling wait up to ``--max-backoff``. SIGTERM lets the run in hand
finish (its batches are checkpointed) and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from elearning_adapters.analytics.forwarder import forward_once
from elearning_adapters.container import Container, close_adapters
from elearning_adapters.settings import Settings

BATCHES_PER_RUN = 10

log = logging.getLogger("elearning_workers.forwarder")


class ForwardingNotConfigured(Exception):
    pass


def forwarding_configured(settings: Settings) -> None:
    if settings.analytics_forward_to == "none":
        raise ForwardingNotConfigured(
            "no forwarding destination: set ELEARNING_ANALYTICS_FORWARD_TO=lrs (with ELEARNING_ANALYTICS_FORWARD_ENDPOINT) "
            "or kafka (with ELEARNING_ANALYTICS_FORWARD_TOPIC)"
        )


async def run_forwarder(container: Container, stop: asyncio.Event, *, idle_sleep: float, max_backoff: float) -> int:
    """Forward until ``stop`` is set; returns how many statements went."""
    forwarder = container.analytics.forwarder()
    assert forwarder is not None  # forwarding_configured
    clock = container.adapters.clock()
    total = failures = 0
    try:
        while not stop.is_set():
            try:
                report = await forward_once(forwarder, clock, max_batches=BATCHES_PER_RUN)
            except Exception as exc:  # logged and retried: the worker outlives an LRS or a database away
                failures += 1
                wait = min(max_backoff, idle_sleep * 2**failures)
                log.warning("statement forwarding failed (try %d, again in %.1f s): %s", failures, wait, exc)
            else:
                failures = 0
                total += report.forwarded
                wait = 0.0 if report.batches == BATCHES_PER_RUN else idle_sleep
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
    finally:
        log.info("statement forwarder to %s: %d statement(s) forwarded", forwarder.destination, total)
        await close_adapters(container)
    return total
