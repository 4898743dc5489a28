"""Kafka adapters: publishing outbox rows (and, later, consuming topics).

The names are resolved on first use (PEP 562), so importing ``elearning_adapters.kafka.headers`` (the CLI's
dead-letter commands do) does not import the producer and, with it, confluent-kafka and SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elearning_adapters.kafka.producer import KafkaEventPublisher, PublishFailed, envelope_for

__all__ = ["KafkaEventPublisher", "PublishFailed", "envelope_for"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'elearning_adapters.kafka' has no attribute {name!r}")
    value = getattr(importlib.import_module("elearning_adapters.kafka.producer"), name)
    globals()[name] = value
    return value
