"""Whether a learner could enroll in a course now, asked of the enrollment and entitlement modules through
their own ports: the same rules their self-enrollment applies (``EnrollmentPolicy``), not a copy of them.
The entitlement check is asked of paid courses only (a free course's verdict is always access)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from elearning_core.enrollment.model import EnrollmentRefused
from elearning_core.enrollment.ports import PrerequisiteChecker
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.recommendation.ports import CourseRules, Enrollability


class EnrollmentRules(Enrollability):
    """Published, open to self-enrollment, inside its window, a seat free, the prerequisites completed, and
    for a paid course access (a purchase, a subscription, a seat): a course failing any is never offered."""

    def __init__(self, rules: CourseRules, prerequisites: PrerequisiteChecker, access: AccessCheck | None) -> None:
        self._rules, self._prerequisites, self._access = rules, prerequisites, access

    async def enrollable(
        self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID], at: datetime
    ) -> dict[uuid.UUID, str]:
        if not course_ids:
            return {}
        open_now = {}
        rules = await self._rules.rules(course_ids, at)
        for course_id, rule in rules.items():
            try:
                rule.policy.check_self_enrollment(at)
                rule.policy.check_seat(rule.seats_taken)
            except EnrollmentRefused:
                continue
            open_now[course_id] = rule.policy
        required = {r for policy in open_now.values() for r in policy.prerequisites}
        completed = await self._prerequisites.completed(user_id, required) if required else set()
        kept = {}
        for course_id, policy in open_now.items():
            try:
                policy.check_prerequisites(completed)
            except EnrollmentRefused:
                continue
            if self._access is not None and rules[course_id].paid:
                verdict = await self._access.verdict(user_id, course_id, enrolled_at=None)
                if verdict.refusal is not None:
                    continue
            kept[course_id] = rules[course_id].title
        return kept
