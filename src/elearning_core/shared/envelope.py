"""The wire envelope: how a domain event travels between processes.

The envelope carries what every consumer needs before it knows the event's
class (id for idempotency, type for routing, origin for tracing); the payload
is the event itself, exactly as the outbox stored it. Decoding never raises
anything but ``UndecodableEvent``, so a consumer can dead-letter what it
cannot read instead of crashing on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from elearning_core.shared.events import DomainEvent, event_class

CONTENT_TYPE = "application/json"


class UndecodableEvent(Exception):
    """A message that cannot be turned into a known domain event (dead-letter it, never retry it)."""

    def __init__(self, reason: str, *, event_type: str | None = None) -> None:
        super().__init__(reason if event_type is None else f"{event_type}: {reason}")
        self.reason = reason
        self.event_type = event_type


def schema_version_of(type_name: str) -> int:
    """The ``N`` of a versioned type name ``<module>.<name>.vN``."""
    head, sep, version = type_name.rpartition(".v")
    if not head or not sep or not version.isdigit():
        raise ValueError(f"event type {type_name!r} has no '.v<N>' version suffix")
    return int(version)


class EventEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    type: str = Field(min_length=1)
    occurred_at: datetime
    aggregate_id: uuid.UUID
    producer: str = Field(min_length=1, description="The service that published the event")
    schema_version: int = Field(ge=1)
    correlation_id: str | None = None
    payload: dict[str, Any]

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    def event(self) -> DomainEvent:
        """The domain event inside, as its registered class.

        Raises ``UndecodableEvent`` for an unknown type, a payload its class
        refuses, or a payload that contradicts the envelope.
        """
        cls = event_class(self.type)
        if cls is None:
            raise UndecodableEvent("unknown event type", event_type=self.type)
        try:
            event = cls.model_validate(self.payload)
        except ValidationError as exc:
            raise UndecodableEvent(f"invalid payload: {_short(exc)}", event_type=self.type) from None
        if event.event_id != self.event_id or event.aggregate_id != self.aggregate_id:
            raise UndecodableEvent("payload ids do not match the envelope", event_type=self.type)
        return event


def to_envelope(event: DomainEvent, producer: str, correlation_id: str | None = None) -> EventEnvelope:
    return EventEnvelope(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        aggregate_id=event.aggregate_id,
        producer=producer,
        schema_version=event.schema_version(),
        correlation_id=correlation_id,
        payload=event.payload(),
    )


def decode(data: bytes | str) -> EventEnvelope:
    """Parse an envelope from JSON; raises ``UndecodableEvent`` on anything malformed."""
    try:
        envelope = EventEnvelope.model_validate_json(data)
    except ValidationError as exc:
        raise UndecodableEvent(f"invalid envelope: {_short(exc)}") from None
    try:
        version = schema_version_of(envelope.type)
    except ValueError as exc:
        raise UndecodableEvent(str(exc), event_type=envelope.type) from None
    if version != envelope.schema_version:
        raise UndecodableEvent(
            f"schema_version {envelope.schema_version} contradicts the type name", event_type=envelope.type
        )
    return envelope


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors(include_url=False)
    )[:500]
