"""Conditional release: what a section or lesson requires before a learner may open it.

The requirements are part of the course (authored, versioned, published with it);
whether a learner meets them is a read of the learner's progress, through the
narrow port below, which the progress module answers.

Three kinds (Moodle's "restrict access", Canvas's module prerequisites):

- ``previous``: on a lesson, the lesson before it in outline order (across sections) completed;
  on a section, every lesson of the section before it completed;
- ``lesson``: a named lesson of the course completed;
- ``quiz``: an assessment passed, with at least ``min_percent`` as the best graded percent
  when one is given.

A lesson's own requirements and its section's all apply. ``evaluate`` is pure and
monotone: more facts (more completed lessons, better scores, more passed quizzes) never
lock a lesson that was open.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from elearning_core.shared.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from elearning_core.course.queries import CourseOutline, LessonView, SectionView

REQUIREMENTS_MAX = 20
"""Requirements on one section or lesson."""


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


class NoFactsReader(LearnerFactsReader):
    """The reader of a course service built without one (library callers): nobody has done anything yet.

    With it, a lesson behind a requirement stays locked for every learner (staff and previews are
    never locked). The platform wires the progress module's reader in
    ``elearning_adapters/container/_course.py``; tests pass a reader that returns chosen facts.
    """

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts:
        return NO_FACTS


class RequirementKind(StrEnum):
    PREVIOUS = "previous"
    LESSON = "lesson"
    QUIZ = "quiz"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on a section or lesson (one flat value, so read models and caches stay simple).

    ``lesson_id`` for ``lesson``; ``assessment_id`` and the optional ``min_percent`` for ``quiz``;
    neither for ``previous``.
    """

    kind: RequirementKind
    lesson_id: uuid.UUID | None = None
    assessment_id: uuid.UUID | None = None
    min_percent: float | None = None

    @classmethod
    def checked(
        cls,
        kind: RequirementKind | str,
        *,
        lesson_id: uuid.UUID | None = None,
        assessment_id: uuid.UUID | None = None,
        min_percent: float | None = None,
        field_prefix: str = "requirements.0",
    ) -> Requirement:
        """The value's own rules (the course's, such as "the lesson exists", are ``check_requirements``)."""
        try:
            kind = RequirementKind(kind)
        except ValueError:
            raise _invalid(
                f"{field_prefix}.kind", f"must be one of {', '.join(k.value for k in RequirementKind)}"
            ) from None
        wanted = {
            RequirementKind.PREVIOUS: set(),
            RequirementKind.LESSON: {"lesson_id"},
            RequirementKind.QUIZ: {"assessment_id", "min_percent"},
        }[kind]
        given = {"lesson_id": lesson_id, "assessment_id": assessment_id, "min_percent": min_percent}
        for name, value in given.items():
            if value is not None and name not in wanted:
                raise _invalid(f"{field_prefix}.{name}", f"does not apply to a {kind.value!r} requirement")
        if kind is RequirementKind.LESSON and lesson_id is None:
            raise _invalid(f"{field_prefix}.lesson_id", "is required for a 'lesson' requirement")
        if kind is RequirementKind.QUIZ:
            if assessment_id is None:
                raise _invalid(f"{field_prefix}.assessment_id", "is required for a 'quiz' requirement")
            if min_percent is not None and not 0 <= min_percent <= 100:
                raise _invalid(f"{field_prefix}.min_percent", "must be 0 to 100")
        return cls(kind, lesson_id, assessment_id, float(min_percent) if min_percent is not None else None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value}
        if self.lesson_id is not None:
            data["lesson_id"] = str(self.lesson_id)
        if self.assessment_id is not None:
            data["assessment_id"] = str(self.assessment_id)
        if self.min_percent is not None:
            data["min_percent"] = self.min_percent
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Requirement:
        return cls(
            kind=RequirementKind(data["kind"]),
            lesson_id=_uuid(data.get("lesson_id")),
            assessment_id=_uuid(data.get("assessment_id")),
            min_percent=data.get("min_percent"),
        )


def requirements_to_json(requirements: Iterable[Requirement]) -> list[dict[str, Any]] | None:
    """The stored form (None when there are none, so rows and snapshots of plain courses stay as they were)."""
    return [r.to_json() for r in requirements] or None


def requirements_from_json(raw: Sequence[Mapping[str, Any]] | None) -> tuple[Requirement, ...]:
    return tuple(Requirement.from_json(r) for r in raw or ())


def check_requirement_list(requirements: Sequence[Requirement], field_name: str = "requirements") -> None:
    if len(requirements) > REQUIREMENTS_MAX:
        raise _invalid(field_name, f"at most {REQUIREMENTS_MAX} requirements")
    if len(set(requirements)) != len(requirements):
        raise _invalid(field_name, "must not repeat a requirement")


# -- the course-wide rules: references and cycles -------------------------------------------


@dataclass(frozen=True, slots=True)
class OutlineItem:
    """What the course-wide checks and the evaluator need of one section (the draft's or a view's)."""

    section_id: uuid.UUID
    title: str
    requirements: tuple[Requirement, ...]
    lessons: tuple[tuple[uuid.UUID, str, uuid.UUID | None, tuple[Requirement, ...]], ...]
    """Per lesson: id, title, the assessment it shows (if any), its requirements."""


def requirement_problems(items: Sequence[OutlineItem], *, strict: bool = True) -> list[FieldError]:
    """What is wrong with the requirements of a whole outline (empty: nothing).

    Checked: a named lesson exists in the course and is not the lesson (or in the section) that
    requires it; ``previous`` is not set on the course's first lesson or first section (``strict``
    only: when an edit makes a lesson first, its ``previous`` is harmless, met by nothing before it,
    and publishing does not refuse it); a quiz is
    an assessment one of the course's lessons shows (the cheap check: no read of the assessment
    module); and nothing waits on itself through any chain of requirements (a cycle would lock
    its lessons for ever). A requirement on a quiz depends on every lesson showing it.
    """
    problems: list[FieldError] = []
    lesson_ids = {lesson[0] for item in items for lesson in item.lessons}
    shown_by: dict[uuid.UUID, list[uuid.UUID]] = {}
    for item in items:
        for lesson_id, _, assessment_id, _ in item.lessons:
            if assessment_id is not None:
                shown_by.setdefault(assessment_id, []).append(lesson_id)
    first_lesson = next((lesson[0] for item in items for lesson in item.lessons), None)
    for s, item in enumerate(items):
        where = f"sections.{s}.requirements"
        for r, req in enumerate(item.requirements):
            problems += _reference_problems(req, f"{where}.{r}", lesson_ids, shown_by)
            if strict and req.kind is RequirementKind.PREVIOUS and s == 0:
                problems.append(FieldError(f"{where}.{r}", "the first section has no previous section"))
            if req.kind is RequirementKind.LESSON and any(lesson[0] == req.lesson_id for lesson in item.lessons):
                problems.append(FieldError(f"{where}.{r}.lesson_id", "names a lesson of this very section"))
        for j, (lesson_id, _, _, requirements) in enumerate(item.lessons):
            lesson_where = f"sections.{s}.lessons.{j}.requirements"
            for r, req in enumerate(requirements):
                problems += _reference_problems(req, f"{lesson_where}.{r}", lesson_ids, shown_by)
                if strict and req.kind is RequirementKind.PREVIOUS and lesson_id == first_lesson:
                    problems.append(FieldError(f"{lesson_where}.{r}", "the course's first lesson has no previous one"))
                if req.kind is RequirementKind.LESSON and req.lesson_id == lesson_id:
                    problems.append(FieldError(f"{lesson_where}.{r}.lesson_id", "a lesson cannot require itself"))
    if problems:
        return problems
    cycle = _cycle(items, shown_by)
    if cycle is not None:
        titles = {lesson[0]: lesson[1] for item in items for lesson in item.lessons}
        names = " -> ".join(repr(titles[i]) for i in cycle)
        problems.append(FieldError("requirements", f"requirements wait on each other in a cycle: {names}"))
    return problems


def _reference_problems(
    req: Requirement, where: str, lesson_ids: set[uuid.UUID], shown_by: Mapping[uuid.UUID, list[uuid.UUID]]
) -> list[FieldError]:
    if req.kind is RequirementKind.LESSON and req.lesson_id not in lesson_ids:
        return [FieldError(f"{where}.lesson_id", "is not a lesson of this course")]
    if req.kind is RequirementKind.QUIZ and req.assessment_id not in shown_by:
        return [FieldError(f"{where}.assessment_id", "is not an assessment shown by a lesson of this course")]
    return []


def _dependencies(
    items: Sequence[OutlineItem], shown_by: Mapping[uuid.UUID, list[uuid.UUID]]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Per lesson, the lessons whose completion (or quiz) opening it may wait on."""
    deps: dict[uuid.UUID, set[uuid.UUID]] = {}
    previous_lesson: uuid.UUID | None = None
    previous_section: tuple[uuid.UUID, ...] = ()
    for item in items:
        section_lessons = tuple(lesson[0] for lesson in item.lessons)
        for lesson_id, _, _, requirements in item.lessons:
            needed: set[uuid.UUID] = set()
            for on_section, req in [(True, r) for r in item.requirements] + [(False, r) for r in requirements]:
                if req.kind is RequirementKind.LESSON and req.lesson_id is not None:
                    needed.add(req.lesson_id)
                elif req.kind is RequirementKind.QUIZ and req.assessment_id is not None:
                    needed.update(shown_by.get(req.assessment_id, ()))
                elif on_section:
                    needed.update(previous_section)  # the section's ``previous``
                elif previous_lesson is not None:
                    needed.add(previous_lesson)  # a lesson's own ``previous``
            deps[lesson_id] = needed
            previous_lesson = lesson_id
        previous_section = section_lessons
    return deps


def _cycle(items: Sequence[OutlineItem], shown_by: Mapping[uuid.UUID, list[uuid.UUID]]) -> list[uuid.UUID] | None:
    """One cycle of the dependency graph, as lesson ids (first repeated at the end), or None."""
    deps = _dependencies(items, shown_by)
    state: dict[uuid.UUID, int] = {}  # 1: on the path, 2: done
    for start in deps:
        if start in state:
            continue
        path: list[uuid.UUID] = [start]
        stack: list[list[uuid.UUID]] = [sorted(deps[start])]
        state[start] = 1
        while stack:  # iterative DFS: bounded by the lessons (at most LESSONS_MAX) and their edges
            if not stack[-1]:
                state[path.pop()] = 2
                stack.pop()
                continue
            nxt = stack[-1].pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and nxt in deps:
                state[nxt] = 1
                path.append(nxt)
                stack.append(sorted(deps[nxt]))
    return None


# -- the evaluator --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnmetRequirement:
    """Why a lesson is locked: one requirement the learner does not meet yet, with what it names.

    ``on`` says where the requirement is set (``section`` or ``lesson``). ``previous`` and
    ``lesson`` name the lesson to complete (``lesson_id``, ``title``), or for a section's
    ``previous`` the section to finish (``section_id``, ``title``, and ``lesson_ids`` of its
    lessons not completed yet); ``quiz`` names the assessment, the score wanted and the
    learner's best so far (``title`` is the title of the lesson that shows the quiz).
    """

    kind: RequirementKind
    on: str
    title: str
    lesson_id: uuid.UUID | None = None
    section_id: uuid.UUID | None = None
    lesson_ids: list[uuid.UUID] | None = None
    assessment_id: uuid.UUID | None = None
    min_percent: float | None = None
    best_percent: float | None = None
    passed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value, "on": self.on, "title": self.title}
        for name in ("lesson_id", "section_id", "assessment_id"):
            value = getattr(self, name)
            if value is not None:
                data[name] = str(value)
        if self.lesson_ids is not None:
            data["lesson_ids"] = [str(i) for i in self.lesson_ids]
        if self.kind is RequirementKind.QUIZ:
            data.update(min_percent=self.min_percent, best_percent=self.best_percent, passed=self.passed)
        return data


def has_requirements(outline: CourseOutline) -> bool:
    """Whether any section or lesson of the outline requires anything (most courses: no, and no read is made).

    Plain loops: asked on every enrolled learner's read, and nested generators cost twice as much.
    """
    for section in outline.sections:
        if section.requirements:
            return True
        for lesson in section.lessons:
            if lesson.requirements:
                return True
    return False


def evaluate(
    outline: CourseOutline, facts: LearnerFacts, *, staff: bool = False
) -> dict[uuid.UUID, tuple[UnmetRequirement, ...]]:
    """For every lesson of the outline, the requirements the learner does not meet (empty: open).

    Staff are never locked. Release dates, previews and enrollment are gating's (``gating.decide``).
    """
    unmet: dict[uuid.UUID, tuple[UnmetRequirement, ...]] = {}
    titles = {lesson.id: lesson.title for section in outline.sections for lesson in section.lessons}
    quiz_titles = {
        lesson.assessment_id: lesson.title
        for section in reversed(outline.sections)
        for lesson in reversed(section.lessons)
        if lesson.assessment_id is not None
    }
    previous_lesson: LessonView | None = None
    previous_section: SectionView | None = None
    for section in outline.sections:
        section_reasons: list[UnmetRequirement] = []
        if not staff:
            for req in section.requirements:
                section_reasons += _unmet(req, "section", facts, titles, quiz_titles, None, previous_section)
        for lesson in section.lessons:
            reasons = list(section_reasons)
            if not staff:
                for req in lesson.requirements:
                    reasons += _unmet(req, "lesson", facts, titles, quiz_titles, previous_lesson, None)
            unmet[lesson.id] = tuple(reasons)
            previous_lesson = lesson
        previous_section = section
    return unmet


def _unmet(
    req: Requirement,
    on: str,
    facts: LearnerFacts,
    titles: Mapping[uuid.UUID, str],
    quiz_titles: Mapping[uuid.UUID, str],
    previous_lesson: LessonView | None,
    previous_section: SectionView | None,
) -> list[UnmetRequirement]:
    done = facts.completed_lesson_ids
    if req.kind is RequirementKind.LESSON:
        assert req.lesson_id is not None
        if req.lesson_id in done:
            return []
        # A lesson removed since publishing cannot be: the draft prunes what names it. Unknown: untitled.
        return [UnmetRequirement(req.kind, on, titles.get(req.lesson_id, ""), lesson_id=req.lesson_id)]
    if req.kind is RequirementKind.QUIZ:
        assert req.assessment_id is not None
        best = facts.best_quiz_percent.get(req.assessment_id)
        passed = req.assessment_id in facts.passed_quiz_ids
        if passed and (req.min_percent is None or (best is not None and best >= req.min_percent)):
            return []
        return [
            UnmetRequirement(
                req.kind,
                on,
                quiz_titles.get(req.assessment_id, ""),
                assessment_id=req.assessment_id,
                min_percent=req.min_percent,
                best_percent=best,
                passed=passed,
            )
        ]
    if on == "lesson":
        if previous_lesson is None or previous_lesson.id in done:
            return []  # the first lesson has nothing before it (a reorder may have made it first)
        return [UnmetRequirement(req.kind, on, previous_lesson.title, lesson_id=previous_lesson.id)]
    if previous_section is None:
        return []
    missing = [lesson.id for lesson in previous_section.lessons if lesson.id not in done]
    if not missing:
        return []
    return [UnmetRequirement(req.kind, on, previous_section.title, section_id=previous_section.id, lesson_ids=missing)]


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field_name} {message}", [FieldError(field_name, message)])
