"""Conditional release: what a section or lesson requires before a learner may open it.

The requirements are part of the course (authored, versioned, published with it);
whether a learner meets them is a read of the learner's progress, through the
narrow port below, which the progress module answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LearnerFacts:
    """What conditional release needs to know about one learner in one course."""

    completed_lesson_ids: frozenset[uuid.UUID] = frozenset()
    best_quiz_percent: Mapping[uuid.UUID, float] = field(default_factory=dict)
    """The best graded percent per assessment (quiz) id, over the learner's graded attempts."""
    passed_quiz_ids: frozenset[uuid.UUID] = frozenset()
    """Assessments the learner passed (a graded attempt with ``passed`` true)."""


NO_FACTS = LearnerFacts()


class LearnerFactsReader(Protocol):
    """A narrow read of the progress module."""

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts: ...
