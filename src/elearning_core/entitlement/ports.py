"""What the entitlement check reads: how a course is sold, a user's grants, and since when they follow it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from elearning_core.entitlement.model import CourseOffer, Grant


class Offers(Protocol):
    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        """How the course is sold; None when nothing was recorded (a free course)."""
        ...


class Grants(Protocol):
    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        """Every grant of the user for the course, whatever its status (a lapsed one names the refusal)."""
        ...


class EnrolledSince(Protocol):
    """The enrollment module's narrow read (grandfathering counts from the enrollment's start)."""

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None: ...
