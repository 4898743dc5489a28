"""The entitlement check as a use case: who is asking (staff or a learner), then ``decide``."""

from __future__ import annotations

import uuid

from elearning_core.auth.model import Permission
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.entitlement.model import Verdict, decide
from elearning_core.entitlement.ports import EnrolledSince, Grants, Offers
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ports import Policy, Principal

STAFF_PERMISSION = Permission.COURSE_VIEW_UNPUBLISHED
"""Who counts as the course's staff here: those who may see its drafts (content gating's rule too)."""


class EntitlementService:
    def __init__(
        self,
        offers: Offers,
        grants: Grants,
        enrollments: EnrolledSince,
        resources: ResourceDirectory,
        policy: Policy,
        clock: Clock,
    ) -> None:
        self._offers, self._grants, self._enrollments = offers, grants, enrollments
        self._resources, self._policy, self._clock = resources, policy, clock

    async def check(self, actor: Principal, course_id: uuid.UUID) -> Verdict:
        """May ``actor`` access the course now, and why: the one answer every content route asks."""
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        if self._policy.authorize(actor, STAFF_PERMISSION, ref).allowed:
            return decide(None, (), self._clock.now(), staff=True)
        offer = await self._offers.offer(course_id)
        if offer is None or not offer.paid or actor.user_id is None:
            # Anonymous callers of a paid course are refused like anyone without a grant.
            return decide(offer, (), self._clock.now())
        user_id = actor.user_id
        grants = await self._grants.grants(user_id, course_id)
        enrolled_at = await self._enrollments.enrolled_since(user_id, course_id)
        return decide(offer, grants, self._clock.now(), enrolled_at=enrolled_at)
