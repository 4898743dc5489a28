"""Hypothesis: a statement's id (and content) is a function of its event, so a redelivered batch of
events writes nothing twice to the statement store."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.analytics.mapping import StatementMapper, statement_id
from elearning_core.analytics.vocabulary import PlatformIris
from elearning_core.progress.events import VideoWatched
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.events import DomainEvent
from tests.analytics_fakes import InMemoryStatementStore
from tests.fakes import T0
from tests.unit.analytics.events import every_event

MAPPER = StatementMapper(PlatformIris("https://learn.example.org"))
TEMPLATES = list(every_event().values())

seconds = st.floats(min_value=0, max_value=10_000, allow_nan=False, allow_infinity=False)


@st.composite
def heartbeats(draw: st.DrawFn) -> VideoWatched:
    start = draw(seconds)
    return VideoWatched(
        event_id=draw(st.uuids()),
        occurred_at=T0 + timedelta(seconds=draw(st.integers(0, 10**6))),
        aggregate_id=draw(st.uuids()),
        course_id=draw(st.uuids()),
        user_id=draw(st.uuids()),
        lesson_id=draw(st.uuids()),
        video_id=draw(st.uuids()),
        start_seconds=start,
        end_seconds=start + draw(st.floats(min_value=0, max_value=3600)),
        position_seconds=draw(seconds),
        state=draw(st.sampled_from(["playing", "paused", "seeking", "ended"])),
        playback_rate=draw(st.sampled_from([0.5, 1.0, 1.25, 2.0])),
        player_session_id=draw(st.text(min_size=1, max_size=20)),
        duration_seconds=draw(st.none() | st.floats(min_value=1, max_value=20_000)),
        watched_seconds=draw(st.none() | seconds),
    )


@st.composite
def any_event(draw: st.DrawFn) -> DomainEvent:
    """Any mapped event type with a fresh event id (and any heartbeat)."""
    if draw(st.booleans()):
        return draw(heartbeats())
    template = draw(st.sampled_from(TEMPLATES))
    return template.model_copy(update={"event_id": draw(st.uuids())})


@settings(max_examples=200, deadline=None)
@given(event=any_event(), registration=st.none() | st.uuids())
def test_statements_are_a_function_of_the_event(event: DomainEvent, registration: uuid.UUID | None) -> None:
    first = MAPPER.map(event, registration)
    # The same event rebuilt from its wire payload (a redelivery) maps to equal statements.
    again = MAPPER.map(type(event).model_validate(event.payload()), registration)
    assert first == again
    assert [s.id for s in first] == [statement_id(event.event_id, i) for i in range(len(first))]
    assert len({s.id for s in first}) == len(first)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(any_event(), min_size=1, max_size=12), redelivered=st.data())
async def test_a_redelivered_batch_writes_nothing_twice(events: list[DomainEvent], redelivered: st.DataObject) -> None:
    store = InMemoryStatementStore(FixedClock(T0))
    statements = [s for e in events for s in MAPPER.map(e)]
    assert sorted(await store.append(statements)) == sorted({s.id for s in statements})
    stored = dict(store.rows)
    again = redelivered.draw(st.lists(st.sampled_from(events), min_size=1))
    assert await store.append([s for e in again for s in MAPPER.map(e)]) == []
    assert store.rows.keys() == stored.keys()
