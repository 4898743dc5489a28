"""Kafka adapters: publishing outbox rows (and, later, consuming topics)."""

from elearning_adapters.kafka.producer import KafkaEventPublisher, PublishFailed, envelope_for

__all__ = ["KafkaEventPublisher", "PublishFailed", "envelope_for"]
