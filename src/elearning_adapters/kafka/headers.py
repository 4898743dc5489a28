"""Kafka header names and topic naming: the wire contract shared by producers, consumers and the CLI."""

EVENT_TYPE = "event-type"
EVENT_ID = "event-id"

DLQ_SUFFIX = ".dlq"
DLQ_ERROR = "dlq-error"
DLQ_ATTEMPTS = "dlq-attempts"
DLQ_ORIGINAL_TOPIC = "dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "dlq-original-offset"
DLQ_CONSUMER = "dlq-consumer"
REPLAYED_FROM = "replayed-from"
