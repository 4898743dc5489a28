"""Work that must wait for the real commit of a transaction someone else owns.

A unit of work joined to an event handler's transaction (``SqlUnitOfWork.joining``)
does not commit: the dispatcher commits the handler's effects with the inbox
rows, once per batch. What the unit of work would have done right after its
own commit (wake the in-process transport, drop this process's cache entries)
must then wait for that commit, and must not happen at all if the batch rolls
back. The owner of the transaction opens ``collecting(conn)`` around it and
calls ``run(hooks)`` after committing; a joined unit of work ``defer``s its
hook to it.

The hooks are kept per ``AsyncConnection`` object (weakly), which lives for
one checkout, so nothing leaks into the next user of a pooled connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]

_COLLECTING: WeakKeyDictionary[AsyncConnection, list[Hook]] = WeakKeyDictionary()


@contextlib.contextmanager
def collecting(conn: AsyncConnection) -> Iterator[list[Hook]]:
    """While open, ``defer(conn, hook)`` adds to the yielded list; the caller runs it after its commit."""
    hooks: list[Hook] = []
    outer = _COLLECTING.get(conn)
    _COLLECTING[conn] = hooks
    try:
        yield hooks
    finally:
        if outer is None:
            _COLLECTING.pop(conn, None)
        else:
            _COLLECTING[conn] = outer


def defer(conn: AsyncConnection, hook: Hook) -> bool:
    """Run ``hook`` once the transaction on ``conn`` commits; False if its owner collects no hooks.

    A hook nobody collects is dropped: after-commit work is an optimisation
    (the outbox and its consumers make every change seen), never a duty.
    """
    hooks = _COLLECTING.get(conn)
    if hooks is None:
        return False
    hooks.append(hook)
    return True


async def run(hooks: list[Hook]) -> None:
    """After the commit: each hook once, in order; a failing hook is logged, never raised."""
    pending, hooks[:] = list(hooks), []
    for hook in pending:
        try:
            await hook()
        except Exception:
            log.exception("an after-commit hook failed; the committed events are in the outbox all the same")
