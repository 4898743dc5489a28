"""What a commit does at once in its own process, before any consumer sees its events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from elearning_adapters.events.inprocess import InProcessEventTransport
from elearning_core.shared.events import DomainEvent

CommitListener = Callable[[Sequence[DomainEvent]], Awaitable[None]]
"""Called with a committed transaction's events in the committing process (e.g. drop local cache entries)."""


class AfterCommit:
    """Wakes the in-process transport and calls the listeners the module wirings declare."""

    def __init__(self, transport: InProcessEventTransport | None, listeners: Sequence[CommitListener] = ()) -> None:
        self._transport = transport
        self._listeners = tuple(listeners)

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        if self._transport is not None:
            self._transport.wake()
        for listener in self._listeners:
            await listener(events)
