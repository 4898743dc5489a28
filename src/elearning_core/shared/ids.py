"""Typed identifiers.

Ids are UUIDv7 (time-ordered), so new rows land at the end of B-tree indexes
instead of scattering across them, and ids sort roughly by creation time.
Each aggregate gets its own ``NewType`` so mypy catches a lesson id passed
where a course id is expected.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import NewType

CourseId = NewType("CourseId", uuid.UUID)
SectionId = NewType("SectionId", uuid.UUID)
LessonId = NewType("LessonId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_uuid() -> uuid.UUID:
    """Return a UUIDv7 (RFC 9562): 48-bit unix millis, then a 12-bit counter and random bits.

    The counter keeps ids generated within the same millisecond monotonic in
    this process.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)


def parse_uuid(value: str, *, field: str = "id") -> uuid.UUID:
    """Parse a UUID from untrusted text, raising a ValidationFailed naming the field."""
    from elearning_core.shared.errors import FieldError, ValidationFailed

    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValidationFailed(f"{field} is not a valid UUID", [FieldError(field, "must be a UUID")]) from None
