"""Every table of every module on one MetaData: what Alembic compares the migrations with."""

from elearning_adapters.sql import (
    assessment,
    billing,
    certificate,
    course,
    dead_letters,
    enrollment,
    entitlement,
    idempotency,
    identity,
    inbox,
    learning_path,
    outbox,
    payment,
    progress,
    scheduling,
    signing_keys,
    video,
)
from elearning_adapters.sql.engine import metadata

__all__ = [
    "assessment",
    "billing",
    "certificate",
    "course",
    "dead_letters",
    "enrollment",
    "entitlement",
    "idempotency",
    "identity",
    "inbox",
    "learning_path",
    "metadata",
    "outbox",
    "payment",
    "progress",
    "scheduling",
    "signing_keys",
    "video",
]
