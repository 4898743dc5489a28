"""The platform's domain events as xAPI statements.

``StatementMapper.map(event, registration)`` is a pure function: the same event (and the same
enrollment id) always gives the same statements, and statement ``i`` of an event has the id
``statement_id(event_id, i)`` (a UUIDv5), so a redelivered or replayed event stores nothing twice.
The enrollment id (the xAPI ``registration``) is the one thing an event may not carry: the projection
reads it from the enrollment module's table for ``registration_key(event)`` (an enrollment keeps its id for
good, so the read does not make the mapping drift).

The table of what maps to what is in docs/modules/analytics.md; the video heartbeats follow the xAPI
video profile (played / paused / seeked / completed with its result extensions where the heartbeat
carries them).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import elearning_core.assessment.events as assessment
import elearning_core.certificate.events as certificate
import elearning_core.checkout.events as checkout
import elearning_core.discussion.events as discussion
import elearning_core.enrollment.events as enrollment
import elearning_core.identity.events as identity
import elearning_core.progress.events as progress
from elearning_core.analytics import vocabulary as v
from elearning_core.analytics._responses import response_text
from elearning_core.analytics._video import video_drafts
from elearning_core.analytics.model import (
    Account,
    Activity,
    ActivityDefinition,
    Agent,
    Context,
    ContextActivities,
    Result,
    Score,
    Statement,
    Verb,
)
from elearning_core.analytics.ports import RegistrationKey
from elearning_core.shared.events import DomainEvent

_CACHED = 20_000
STATEMENT_NAMESPACE = uuid.UUID("5d1f3c3e-7a0b-5b8e-9c61-0a4f2e6d8b21")


def statement_id(event_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of statement ``index`` of the event ``event_id``: the same on every delivery."""
    return uuid.uuid5(STATEMENT_NAMESPACE, f"{event_id}/{index}")


def registration_key(event: DomainEvent) -> RegistrationKey | None:
    """The (course, learner) whose enrollment id the event's statements carry as ``registration``;
    None when the event is not about a learner in a course (or carries its enrollment id itself)."""
    if isinstance(event, enrollment.Enrolled):
        return None
    if isinstance(event, discussion.ThreadCreated | discussion.ReplyPosted):
        return (event.course_id, event.author_id)
    if isinstance(event, certificate.CertificateIssued):
        return (event.subject_id, event.user_id) if event.subject_kind == "course" else None
    course_id, user_id = getattr(event, "course_id", None), getattr(event, "user_id", None)
    if isinstance(course_id, uuid.UUID) and isinstance(user_id, uuid.UUID):
        return (course_id, user_id)
    return None


Build = Callable[[Any, uuid.UUID | None], list["_Draft"]]


class _Draft:
    """A statement before its id and timestamp: what each event type's builder returns."""

    __slots__ = ("actor", "context", "object", "result", "verb")

    def __init__(
        self,
        actor: uuid.UUID,
        verb: v.VerbTerm,
        obj: Activity,
        result: Result | None = None,
        context: Context | None = None,
    ) -> None:
        self.actor, self.verb, self.object, self.result, self.context = actor, verb, obj, result, context


class StatementMapper:
    """Maps every event type in ``types`` to its statements, naming things with ``iris``."""

    def __init__(self, iris: v.PlatformIris) -> None:
        self.iris = iris
        # The same learners, courses, lessons and videos come back batch after batch: their (frozen) parts
        # are built once (a bounded cache: validating a model is most of a statement's mapping cost).
        self._agents = functools.lru_cache(maxsize=_CACHED)(self._agent)
        self._activities = functools.lru_cache(maxsize=_CACHED)(self._activity)
        self._authority = Agent(account=Account(home_page=iris.home_page, name="platform"))
        self._builders: dict[str, Build] = {
            identity.UserRegistered.type: self._registered,
            enrollment.Enrolled.type: self._enrolled,
            progress.LessonViewed.type: self._lesson_viewed,
            progress.LessonCompleted.type: self._lesson_completed,
            progress.CourseCompleted.type: self._course_completed,
            progress.VideoWatched.type: self._video,
            assessment.AttemptStarted.type: self._attempted,
            assessment.AttemptSubmitted.type: self._submitted,
            assessment.AttemptGraded.type: self._graded,
            assessment.AttemptRegraded.type: self._graded,
            discussion.ThreadCreated.type: self._commented,
            discussion.ReplyPosted.type: self._commented,
            certificate.CertificateIssued.type: self._earned,
            checkout.OrderPaid.type: self._purchased,
        }

    @property
    def types(self) -> list[str]:
        """The event types that become statements."""
        return sorted(self._builders)

    def map(self, event: DomainEvent, registration: uuid.UUID | None = None) -> list[Statement]:
        """The statements of ``event``; ``registration`` is the enrollment id of ``registration_key(event)``."""
        build = self._builders.get(event.type)
        if build is None:
            return []
        drafts = build(event, registration)
        return [
            Statement(
                id=statement_id(event.event_id, index),
                actor=self.agent(draft.actor),
                verb=Verb.of(draft.verb),
                object=draft.object,
                result=draft.result,
                context=draft.context,
                timestamp=event.occurred_at,
                authority=self._authority,
            )
            for index, draft in enumerate(drafts)
        ]

    def map_many(
        self, events: Sequence[DomainEvent], registrations: dict[RegistrationKey, uuid.UUID]
    ) -> list[Statement]:
        out: list[Statement] = []
        for event in events:
            key = registration_key(event)
            out.extend(self.map(event, registrations.get(key) if key is not None else None))
        return out

    # -- naming -------------------------------------------------------------------------------

    def agent(self, user_id: uuid.UUID) -> Agent:
        return self._agents(user_id)

    def _agent(self, user_id: uuid.UUID) -> Agent:
        return Agent(account=Account(home_page=self.iris.home_page, name=str(user_id)))

    def activity(self, kind: str, ident: object, type_iri: str, **definition: Any) -> Activity:
        if not definition:
            return self._activities(kind, ident, type_iri)
        return self._activity(kind, ident, type_iri, **definition)

    def _activity(self, kind: str, ident: object, type_iri: str, **definition: Any) -> Activity:
        return Activity(id=self.iris.activity(kind, ident), definition=ActivityDefinition(type=type_iri, **definition))

    def course(self, course_id: uuid.UUID) -> Activity:
        return self.activity("course", course_id, v.COURSE_TYPE)

    def lesson(self, lesson_id: uuid.UUID) -> Activity:
        return self.activity("lesson", lesson_id, v.LESSON_TYPE)

    def quiz(self, quiz_id: uuid.UUID) -> Activity:
        return self.activity("quiz", quiz_id, v.ASSESSMENT_TYPE)

    def context(
        self,
        registration: uuid.UUID | None,
        *,
        parent: Activity | None = None,
        grouping: Activity | None = None,
        category: Activity | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> Context:
        activities = ContextActivities(
            parent=[parent] if parent else None,
            grouping=[grouping] if grouping else None,
            category=[category] if category else None,
        )
        has_activities = parent is not None or grouping is not None or category is not None
        return Context(
            registration=registration,
            context_activities=activities if has_activities else None,
            platform="elearning-platform",
            extensions={k: x for k, x in (extensions or {}).items() if x is not None} or None,
        )

    def _ext(self, name: str) -> str:
        return self.iris.extension(name)

    # -- builders, one per event type ----------------------------------------------------------

    def _registered(self, e: identity.UserRegistered, _r: uuid.UUID | None) -> list[_Draft]:
        platform = Activity(
            id=self.iris.home_page, definition=ActivityDefinition(type="http://id.tincanapi.com/activitytype/lms")
        )
        context = self.context(None, extensions={self._ext("source"): e.source})
        return [_Draft(e.aggregate_id, v.REGISTERED, platform, context=context)]

    def _enrolled(self, e: enrollment.Enrolled, _r: uuid.UUID | None) -> list[_Draft]:
        extensions = {self._ext("source"): e.source, self._ext("cohort"): str(e.cohort_id) if e.cohort_id else None}
        context = self.context(e.aggregate_id, extensions=extensions)
        return [_Draft(e.user_id, v.REGISTERED, self.course(e.course_id), context=context)]

    def _lesson_viewed(self, e: progress.LessonViewed, r: uuid.UUID | None) -> list[_Draft]:
        context = self.context(r, parent=self.course(e.course_id), grouping=self.course(e.course_id))
        return [_Draft(e.user_id, v.EXPERIENCED, self.lesson(e.lesson_id), context=context)]

    def _lesson_completed(self, e: progress.LessonCompleted, r: uuid.UUID | None) -> list[_Draft]:
        context = self.context(
            r,
            parent=self.course(e.course_id),
            grouping=self.course(e.course_id),
            extensions={self._ext("kind"): e.kind},
        )
        return [_Draft(e.user_id, v.COMPLETED, self.lesson(e.lesson_id), Result(completion=True), context)]

    def _course_completed(self, e: progress.CourseCompleted, r: uuid.UUID | None) -> list[_Draft]:
        score = None if e.grade_percent is None else Score(scaled=_scaled(e.grade_percent))
        result = Result(completion=True, score=score)
        extensions = {self._ext("source"): e.source, self._ext("version"): e.version_number}
        context = self.context(r, grouping=self.course(e.course_id), extensions=extensions)
        return [_Draft(e.user_id, v.COMPLETED, self.course(e.course_id), result, context)]

    def _video(self, e: progress.VideoWatched, r: uuid.UUID | None) -> list[_Draft]:
        return [_Draft(*parts) for parts in video_drafts(self, e, r)]

    def _quiz_context(self, e: Any, r: uuid.UUID | None, **extensions: Any) -> Context:
        named = {self._ext("attempt"): e.number, **{self._ext(k.replace("_", "-")): x for k, x in extensions.items()}}
        return self.context(r, grouping=self.course(e.course_id), extensions=named)

    def _attempted(self, e: assessment.AttemptStarted, r: uuid.UUID | None) -> list[_Draft]:
        return [_Draft(e.user_id, v.ATTEMPTED, self.quiz(e.quiz_id), context=self._quiz_context(e, r))]

    def _submitted(self, e: assessment.AttemptSubmitted, r: uuid.UUID | None) -> list[_Draft]:
        context = self._quiz_context(e, r, reason=e.reason, late_seconds=e.late_seconds)
        result = Result(completion=True, extensions={self._ext("needs-grading"): e.needs_grading})
        drafts = [_Draft(e.user_id, v.SUBMITTED, self.quiz(e.quiz_id), result, context)]
        for item in e.items:
            question = self.activity(
                "question",
                item.question_id,
                v.QUESTION_TYPE,
                interaction_type=v.INTERACTION_TYPES.get(item.kind, "other"),
                extensions={self._ext("question-version"): item.version},
            )
            scored = item.score is not None
            answer = Result(
                response=response_text(item.kind, item.response),
                completion=item.answered,
                success=(item.score >= item.points) if item.score is not None and item.points > 0 else None,
                score=Score(raw=item.score, min=0, max=item.points, scaled=_ratio(item.score, item.points))
                if scored
                else None,
                extensions=None if scored else {self._ext("needs-grading"): True},
            )
            item_context = self.context(
                r,
                parent=self.quiz(e.quiz_id),
                grouping=self.course(e.course_id),
                extensions={self._ext("attempt"): e.number},
            )
            drafts.append(_Draft(e.user_id, v.ANSWERED, question, answer, item_context))
        return drafts

    def _graded(self, e: assessment.AttemptGraded | assessment.AttemptRegraded, r: uuid.UUID | None) -> list[_Draft]:
        verb = v.SCORED if e.passed is None else v.PASSED if e.passed else v.FAILED
        if isinstance(e, assessment.AttemptGraded):
            score = Score(scaled=_scaled(e.percent), raw=e.score, min=0, max=e.max_score)
            context = self._quiz_context(e, r)
        else:
            score = Score(scaled=_scaled(e.percent))
            context = self._quiz_context(e, r, regrade=e.reason)
        result = Result(score=score, success=e.passed, completion=True)
        return [_Draft(e.user_id, verb, self.quiz(e.quiz_id), result, context)]

    def _commented(self, e: discussion.ThreadCreated | discussion.ReplyPosted, r: uuid.UUID | None) -> list[_Draft]:
        thread = self.activity("thread", e.thread_id, "http://id.tincanapi.com/activitytype/discussion")
        lesson = getattr(e, "lesson_id", None)
        extensions = {
            self._ext("post"): str(e.post_id) if isinstance(e, discussion.ReplyPosted) else str(e.thread_id),
            self._ext("anonymous"): e.anonymous,
        }
        context = self.context(
            r,
            parent=self.lesson(lesson) if lesson else self.course(e.course_id),
            grouping=self.course(e.course_id),
            extensions=extensions,
        )
        return [_Draft(e.author_id, v.COMMENTED, thread, context=context)]

    def _earned(self, e: certificate.CertificateIssued, r: uuid.UUID | None) -> list[_Draft]:
        credential = self.activity("certificate", e.aggregate_id, self.iris.activity_type("certificate"))
        subject = (
            self.course(e.subject_id)
            if e.subject_kind == "course"
            else self.activity("path", e.subject_id, self.iris.activity_type("learning-path"))
        )
        extensions = {self._ext("replaces"): str(e.replaces) if e.replaces else None}
        context = self.context(r, grouping=subject, extensions=extensions)
        return [_Draft(e.user_id, v.EARNED, credential, context=context)]

    def _purchased(self, e: checkout.OrderPaid, _r: uuid.UUID | None) -> list[_Draft]:
        order = self.activity("order", e.aggregate_id, self.iris.activity_type("order"))
        result = Result(extensions={self._ext("amount"): {"currency": e.currency, "total_minor": e.total}})
        return [_Draft(e.customer_id, v.PURCHASED, order, result, self.context(None))]


def _scaled(percent: float) -> float:
    return round(min(100.0, max(0.0, percent)) / 100, 6)


def _ratio(score: float | None, points: float) -> float | None:
    if score is None or points <= 0:
        return None
    return round(min(1.0, max(0.0, score / points)), 6)
