"""What the course module needs from outside: its repository, its unit of work view, a Markdown renderer."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Protocol

from elearning_core.course.model import Course, CourseVersion
from elearning_core.shared.ports import UnitOfWork


class CourseRepository(Protocol):
    async def get(self, course_id: uuid.UUID) -> Course | None:
        """Load a course with its whole outline, or None."""
        ...

    async def get_by_slug(self, slug: str) -> Course | None: ...

    async def slug_taken(self, slug: str, *, excluding: uuid.UUID | None = None) -> bool: ...

    async def slugs_starting_with(self, prefix: str) -> set[str]:
        """The stored and staged slugs that begin with ``prefix`` (to pick a free ``base-N``; one query)."""
        ...

    async def taken(self, slugs: Collection[str], ids: Collection[uuid.UUID]) -> tuple[set[str], set[uuid.UUID]]:
        """Which of these slugs and course ids stored courses already use (one query, for bulk imports)."""
        ...

    def add(self, course: Course) -> None:
        """Stage a new course; it is written when the unit of work commits."""
        ...

    def remove(self, course: Course) -> None:
        """Stage a loaded course for deletion at commit."""
        ...

    async def get_version(self, course_id: uuid.UUID, number: int) -> CourseVersion | None:
        """A stored published version (the versions a course publishes are written at commit)."""
        ...


class MarkdownRenderer(Protocol):
    def render(self, markdown: str) -> str:
        """CommonMark to HTML that is safe to embed in a page: sanitised, whatever the input."""
        ...


class CourseUnitOfWork(UnitOfWork, Protocol):
    courses: CourseRepository
