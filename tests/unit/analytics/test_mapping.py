"""The event -> statement mapping: every mapped event type, checked against the table in
docs/modules/analytics.md and validated by an independent xAPI model library (ralph's pydantic models)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ralph.models.xapi.base.statements import BaseXapiStatement
from ralph.models.xapi.video.statements import VideoCompleted, VideoPaused, VideoPlayed, VideoSeeked

from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.mapping import StatementMapper, registration_key, statement_id
from elearning_core.analytics.model import Statement
from elearning_core.identity.events import EmailVerified
from elearning_core.shared.events import DomainEvent
from tests.fakes import T0
from tests.unit.analytics.events import (
    ANN,
    COURSE,
    ENROLLMENT,
    LESSON,
    QUESTION,
    QUIZ,
    THREAD,
    VIDEO,
    every_event,
    heartbeat,
    submitted,
)

HOME = "https://learn.example.org"
MAPPER = StatementMapper(v.PlatformIris(HOME + "/"))
REGISTRATION = uuid.UUID(int=99)


def act(kind: str, ident: uuid.UUID) -> str:
    return f"{HOME}/xapi/activities/{kind}/{ident}"


# name -> the verbs of its statements, in order, and the object of the first one.
EXPECTED: dict[str, tuple[list[v.VerbTerm], str]] = {
    "registered": ([v.REGISTERED], HOME),
    "enrolled": ([v.REGISTERED], act("course", COURSE)),
    "lesson-viewed": ([v.EXPERIENCED], act("lesson", LESSON)),
    "lesson-completed": ([v.COMPLETED], act("lesson", LESSON)),
    "course-completed": ([v.COMPLETED], act("course", COURSE)),
    "played": ([v.PLAYED], act("video", VIDEO)),
    "paused": ([v.PAUSED], act("video", VIDEO)),
    "seeked": ([v.PLAYED, v.SEEKED], act("video", VIDEO)),
    "ended": ([v.COMPLETED], act("video", VIDEO)),
    "attempted": ([v.ATTEMPTED], act("quiz", QUIZ)),
    "submitted": ([v.SUBMITTED, v.ANSWERED, v.ANSWERED, v.ANSWERED], act("quiz", QUIZ)),
    "passed": ([v.PASSED], act("quiz", QUIZ)),
    "failed": ([v.FAILED], act("quiz", QUIZ)),
    "scored": ([v.SCORED], act("quiz", QUIZ)),
    "regraded": ([v.PASSED], act("quiz", QUIZ)),
    "thread": ([v.COMMENTED], act("thread", THREAD)),
    "reply": ([v.COMMENTED], act("thread", THREAD)),
    "certificate": ([v.EARNED], act("certificate", uuid.UUID(int=40))),
    "purchased": ([v.PURCHASED], act("order", uuid.UUID(int=50))),
}
VIDEO_MODELS: dict[str, Any] = {
    v.PLAYED.id: VideoPlayed,
    v.PAUSED.id: VideoPaused,
    v.SEEKED.id: VideoSeeked,
    v.COMPLETED.id: VideoCompleted,
}


def mapped(event: DomainEvent) -> list[Statement]:
    key = registration_key(event)
    return MAPPER.map(event, REGISTRATION if key is not None else None)


def test_every_mapped_type_has_a_case_here() -> None:
    assert {e.type for e in every_event().values()} == set(MAPPER.types)
    assert set(EXPECTED) == set(every_event())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_maps_to_its_verbs_and_object(name: str) -> None:
    event = every_event()[name]
    statements = mapped(event)
    verbs, first_object = EXPECTED[name]
    assert [s.verb.id for s in statements] == [verb.id for verb in verbs]
    assert statements[0].object.id == first_object
    for index, statement in enumerate(statements):
        assert statement.id == statement_id(event.event_id, index)
        assert statement.timestamp == T0
        assert statement.version == "1.0.3"
        assert statement.actor.account is not None
        assert statement.actor.account.home_page == HOME
        assert statement.actor.account.name == str(ANN)
        assert statement.actor.mbox is None  # never an email: pseudonymising rewrites the account name only


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_statement_is_valid_xapi_by_ralph(name: str) -> None:
    for statement in mapped(every_event()[name]):
        data = statement.as_json()
        BaseXapiStatement.model_validate(data)
        if statement.object.id.startswith(f"{HOME}/xapi/activities/video/"):
            VIDEO_MODELS[statement.verb.id].model_validate(data)


def test_registration_is_the_enrollment_and_the_context_names_lesson_and_course() -> None:
    enrolled = MAPPER.map(every_event()["enrolled"])[0]
    assert enrolled.context is not None
    assert enrolled.context.registration == ENROLLMENT
    played = mapped(heartbeat("playing"))[0]
    assert played.context is not None
    assert played.context.registration == REGISTRATION
    activities = played.context.context_activities
    assert activities is not None
    assert activities.parent
    assert activities.grouping
    assert activities.category
    assert [a.id for a in activities.parent] == [act("lesson", LESSON)]
    assert [a.id for a in activities.grouping] == [act("course", COURSE)]
    assert [a.id for a in activities.category] == [v.VIDEO_PROFILE]
    assert registration_key(every_event()["enrolled"]) is None
    assert registration_key(every_event()["purchased"]) is None
    assert registration_key(heartbeat("paused")) == (COURSE, ANN)


def test_video_result_extensions_follow_the_profile() -> None:
    played = mapped(heartbeat("playing"))[0].as_json()["result"]["extensions"]
    assert played == {v.VIDEO_TIME: 10.0, v.VIDEO_PLAYED_SEGMENTS: "10.0[.]20.0"}
    paused = mapped(heartbeat("paused", position=21.0))[0].as_json()["result"]["extensions"]
    assert paused[v.VIDEO_TIME] == 21.0
    assert paused[v.VIDEO_PROGRESS] == 0.5
    seeked = mapped(heartbeat("seeking", position=90.0))[1].as_json()["result"]["extensions"]
    assert seeked == {v.VIDEO_TIME_FROM: 20.0, v.VIDEO_TIME_TO: 90.0}
    ended = mapped(heartbeat("ended", 100.0, 120.0, 120.0))[0].as_json()
    assert ended["result"]["completion"] is True
    assert ended["result"]["extensions"][v.VIDEO_PROGRESS] == 0.5
    context = ended["context"]["extensions"]
    assert context[v.VIDEO_LENGTH] == 120.0
    assert context[v.VIDEO_SPEED] == "1.5x"
    assert uuid.UUID(context[v.VIDEO_SESSION_ID])  # the player's session as a UUID (v5 of its string)
    # A seek with nothing watched before it is one statement.
    assert [s.verb.id for s in mapped(heartbeat("seeking", 20.0, 20.0, 5.0))] == [v.SEEKED.id]


def test_an_older_heartbeat_without_length_or_watched_seconds_has_no_progress() -> None:
    event = heartbeat("paused").model_copy(update={"duration_seconds": None, "watched_seconds": None})
    data = mapped(event)[0].as_json()
    assert v.VIDEO_PROGRESS not in data["result"]["extensions"]
    assert v.VIDEO_LENGTH not in data["context"]["extensions"]


def test_answers_per_item_carry_response_score_and_interaction_type() -> None:
    _, choice, essay, unanswered = (s.as_json() for s in mapped(submitted()))
    assert choice["object"]["id"] == act("question", QUESTION)
    assert choice["object"]["definition"]["interactionType"] == "choice"
    assert choice["result"]["response"] == "a[,]c"
    assert choice["result"]["score"] == {"raw": 1.0, "min": 0.0, "max": 2.0, "scaled": 0.5}
    assert choice["result"]["success"] is False
    assert choice["context"]["contextActivities"]["parent"][0]["id"] == act("quiz", QUIZ)
    assert essay["object"]["definition"]["interactionType"] == "long-fill-in"
    assert "response" not in essay["result"]
    assert "score" not in essay["result"]
    assert essay["result"]["extensions"] == {f"{HOME}/xapi/extensions/needs-grading": True}
    assert unanswered["result"]["completion"] is False


def test_graded_attempts_carry_the_scaled_score() -> None:
    passed = mapped(every_event()["passed"])[0].as_json()["result"]
    assert passed == {
        "score": {"scaled": 0.8, "raw": 8.0, "min": 0.0, "max": 10.0},
        "success": True,
        "completion": True,
    }
    scored = mapped(every_event()["scored"])[0].as_json()["result"]
    assert "success" not in scored


def test_anonymous_posts_keep_their_author_as_actor_and_say_so() -> None:
    reply = mapped(every_event()["reply"])[0].as_json()
    assert reply["actor"]["account"]["name"] == str(ANN)
    assert reply["context"]["extensions"][f"{HOME}/xapi/extensions/anonymous"] is True


def test_an_unmapped_event_makes_no_statement() -> None:
    assert MAPPER.map(EmailVerified(occurred_at=T0, aggregate_id=ANN)) == []


def test_the_registered_statement_carries_no_email() -> None:
    assert "ann@example.org" not in str(mapped(every_event()["registered"])[0].as_json())
