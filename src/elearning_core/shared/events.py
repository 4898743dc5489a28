"""Domain events: immutable facts that something happened.

Every event class has a versioned type name (``course.published.v1``). The
class is the wire contract: a breaking change is a new class with a new
version, never an edit. Subclasses register themselves by type name, so a
consumer can turn a stored or received payload back into its class.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from elearning_core.shared.ids import new_uuid

_REGISTRY: dict[str, type[DomainEvent]] = {}


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str] = ""

    event_id: uuid.UUID = Field(default_factory=new_uuid)
    occurred_at: datetime
    aggregate_id: uuid.UUID

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        type_name = cls.__dict__.get("type", "")
        if not type_name:
            return
        parts = type_name.split(".")
        if len(parts) < 3 or not parts[-1].startswith("v") or not parts[-1][1:].isdigit():
            raise TypeError(f"event type {type_name!r} must look like '<module>.<name>.v<N>'")
        existing = _REGISTRY.get(type_name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"event type {type_name!r} is already registered by {existing!r}")
        _REGISTRY[type_name] = cls

    @classmethod
    def module(cls) -> str:
        """The module that owns the event, taken from its type name (``course``)."""
        return cls.type.split(".", 1)[0]

    @classmethod
    def schema_version(cls) -> int:
        return int(cls.type.rsplit(".v", 1)[1])

    def payload(self) -> dict[str, Any]:
        """The event as JSON-ready data (the outbox and the wire carry this)."""
        return self.model_dump(mode="json")


class RecordsEvents:
    """An aggregate's recorded events, as the unit of work reads them (a mixin; the class declares ``_events``)."""

    _events: list[DomainEvent]

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events


class EventLog(RecordsEvents):
    """Events recorded by a store that is not an aggregate (an entitlement grant, a plan): the unit of work
    collects them at commit like an aggregate's."""

    def __init__(self) -> None:
        self._events = []

    def append(self, event: DomainEvent) -> None:
        self._events.append(event)


def event_class(type_name: str) -> type[DomainEvent] | None:
    """Look up a registered event class by its versioned type name."""
    return _REGISTRY.get(type_name)


def registered_event_types() -> list[str]:
    return sorted(_REGISTRY)
