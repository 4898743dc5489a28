"""What every module's wiring may declare to the platform, and how the assembly gathers it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from dependency_injector import containers, providers

from elearning_adapters.events import CommitListener, Subscription
from elearning_core.scheduling.model import Job

Closer = Callable[[], Awaitable[None]]


class ModuleWiring(containers.DeclarativeContainer):
    """Base of a module's wiring: a sub-container with its adapters and services.

    A wiring declares ``shared = providers.DependenciesContainer()`` and
    ``settings = providers.Dependency(instance_of=Settings)`` (the assembly
    passes the shared adapters and the settings), its adapters and services,
    and, where it has any, overrides these three lists (a ``Singleton``
    returning a list, so each is built once), which the assembly gathers from
    every module: a new module adds nothing to a central list (see
    docs/composition-root.md).
    """

    subscriptions: providers.Provider[list[Subscription]] = providers.List()
    """``Subscription``s: the module's event consumers (in-process transport and Kafka workers)."""
    commit_listeners: providers.Provider[list[CommitListener]] = providers.List()
    """``CommitListener``s: called in the committing process with a transaction's events."""
    closers: providers.Provider[list[Closer]] = providers.List()
    """Zero-argument coroutine functions that release the module's clients at shutdown."""
    jobs: providers.Provider[list[Job]] = providers.List()
    """``Job``s: the module's scheduled work (docs/scheduling.md), run by the one scheduler."""


def module_wirings(container: Any) -> list[Any]:
    """The module wirings an assembled container holds, in declaration order."""
    wirings = []
    for provider in container.providers.values():
        if isinstance(provider, providers.Container):
            sub = provider()
            parent = getattr(sub, "declarative_parent", None)
            if isinstance(parent, type) and issubclass(parent, ModuleWiring):
                wirings.append(sub)
    return wirings


def gather_subscriptions(container: Any) -> list[Subscription]:
    return [s for wiring in module_wirings(container) for s in wiring.subscriptions()]


def gather_commit_listeners(container: Any) -> list[CommitListener]:
    return [c for wiring in module_wirings(container) for c in wiring.commit_listeners()]


def gather_closers(container: Any) -> list[Closer]:
    return [c for wiring in module_wirings(container) for c in wiring.closers()]


def gather_jobs(container: Any) -> list[Job]:
    return [j for wiring in module_wirings(container) for j in wiring.jobs()]
