"""The entitlement decision: the access matrix of issue 15 (free, audit, paid, subscribed, lapsed, refunded,
grandfathered and organization-seat learners, and staff), and its invariants under any grants and clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.entitlement.model import (
    GRANT_SOURCES,
    CourseOffer,
    Grant,
    GrantStatus,
    Refusal,
    Source,
    Track,
    Verdict,
    decide,
)

COURSE = uuid.UUID(int=1)
ANN = uuid.UUID(int=10)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=100)
PAID_SINCE = T0 + timedelta(days=50)
PAID = CourseOffer(COURSE, paid=True, paid_since=PAID_SINCE)
PAID_WITH_AUDIT = CourseOffer(COURSE, paid=True, audit_track=True, paid_since=PAID_SINCE)


def grant(
    source: Source, status: GrantStatus = GrantStatus.ACTIVE, *, days: int | None = None, start: int = -10
) -> Grant:
    """A grant that started ``-start`` days before NOW and ends ``days`` after NOW (None: never)."""
    ends = None if days is None else NOW + timedelta(days=days)
    return Grant(ANN, COURSE, source, status, NOW + timedelta(days=start), ends, reference="ref")


MATRIX: list[tuple[str, CourseOffer | None, list[Grant], dict[str, object], Verdict]] = [
    ("free: no offer recorded", None, [], {}, Verdict(Source.FREE, Track.FULL)),
    ("free: an offer that is not paid", CourseOffer(COURSE), [], {}, Verdict(Source.FREE, Track.FULL)),
    ("staff of a paid course", PAID, [], {"staff": True}, Verdict(Source.STAFF, Track.FULL)),
    ("paid, nothing bought", PAID, [], {}, Verdict(None, None, refusal=Refusal.PAYMENT_REQUIRED)),
    ("paid, audit track offered", PAID_WITH_AUDIT, [], {}, Verdict(Source.AUDIT, Track.AUDIT)),
    ("purchased", PAID, [grant(Source.PURCHASED)], {}, Verdict(Source.PURCHASED, Track.FULL)),
    (
        "subscribed: until the paid period ends",
        PAID,
        [grant(Source.SUBSCRIPTION, days=20)],
        {},
        Verdict(Source.SUBSCRIPTION, Track.FULL, until=NOW + timedelta(days=20)),
    ),
    (
        "lapsed: a renewal failed (past due)",
        PAID,
        [grant(Source.SUBSCRIPTION, GrantStatus.PAST_DUE, days=20)],
        {},
        Verdict(None, None, refusal=Refusal.SUBSCRIPTION_PAST_DUE),
    ),
    (
        "lapsed, with the audit track: audit only",
        PAID_WITH_AUDIT,
        [grant(Source.SUBSCRIPTION, GrantStatus.PAST_DUE, days=20)],
        {},
        Verdict(Source.AUDIT, Track.AUDIT),
    ),
    (
        "canceled subscription",
        PAID,
        [grant(Source.SUBSCRIPTION, GrantStatus.CANCELED, days=-1)],
        {},
        Verdict(None, None, refusal=Refusal.SUBSCRIPTION_CANCELED),
    ),
    (
        "subscription period over (not renewed)",
        PAID,
        [grant(Source.SUBSCRIPTION, days=0)],
        {},
        Verdict(None, None, refusal=Refusal.EXPIRED),
    ),
    (
        "refunded purchase",
        PAID,
        [grant(Source.PURCHASED, GrantStatus.REFUNDED)],
        {},
        Verdict(None, None, refusal=Refusal.REFUNDED),
    ),
    (
        "grandfathered: enrolled before the course became paid",
        PAID,
        [],
        {"enrolled_at": PAID_SINCE - timedelta(seconds=1)},
        Verdict(Source.GRANDFATHERED, Track.FULL),
    ),
    (
        "enrolled once it was paid: not grandfathered",
        PAID,
        [],
        {"enrolled_at": PAID_SINCE},
        Verdict(None, None, refusal=Refusal.PAYMENT_REQUIRED),
    ),
    (
        "organization seat",
        PAID,
        [grant(Source.ORGANIZATION_SEAT, days=365)],
        {},
        Verdict(Source.ORGANIZATION_SEAT, Track.FULL, until=NOW + timedelta(days=365)),
    ),
    (
        "organization seat taken back",
        PAID,
        [grant(Source.ORGANIZATION_SEAT, GrantStatus.REVOKED, days=365)],
        {},
        Verdict(None, None, refusal=Refusal.SEAT_REVOKED),
    ),
    (
        "a seat that starts next week: not yet",
        PAID,
        [grant(Source.ORGANIZATION_SEAT, start=7, days=30)],
        {},
        Verdict(None, None, refusal=Refusal.PAYMENT_REQUIRED),
    ),
    (
        "a refunded purchase and a live subscription: the subscription",
        PAID,
        [grant(Source.PURCHASED, GrantStatus.REFUNDED), grant(Source.SUBSCRIPTION, days=3)],
        {},
        Verdict(Source.SUBSCRIPTION, Track.FULL, until=NOW + timedelta(days=3)),
    ),
    (
        "a subscription and a purchase: the purchase (it never ends)",
        PAID,
        [grant(Source.SUBSCRIPTION, days=3), grant(Source.PURCHASED)],
        {},
        Verdict(Source.PURCHASED, Track.FULL),
    ),
    (
        "another course's purchase does not count",
        PAID,
        [Grant(ANN, uuid.UUID(int=2), Source.PURCHASED, GrantStatus.ACTIVE, T0)],
        {},
        Verdict(None, None, refusal=Refusal.PAYMENT_REQUIRED),
    ),
]


@pytest.mark.parametrize(("offer", "grants", "who", "expected"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX])
def test_the_access_matrix(
    offer: CourseOffer | None, grants: list[Grant], who: dict[str, object], expected: Verdict
) -> None:
    verdict = decide(offer, grants, NOW, **who)  # type: ignore[arg-type]
    assert verdict == expected
    assert verdict.allowed is (expected.refusal is None)
    assert verdict.graded_work is (expected.track is Track.FULL)


moments = st.integers(min_value=-400, max_value=400).map(lambda d: T0 + timedelta(days=d))
grants_ = st.lists(
    st.builds(
        Grant,
        user_id=st.just(ANN),
        course_id=st.sampled_from([COURSE, uuid.UUID(int=2)]),
        source=st.sampled_from(sorted(GRANT_SOURCES)),
        status=st.sampled_from(list(GrantStatus)),
        starts_at=moments,
        ends_at=st.none() | moments,
    ),
    max_size=6,
)
offers = st.none() | st.builds(
    CourseOffer,
    course_id=st.just(COURSE),
    paid=st.booleans(),
    audit_track=st.booleans(),
    paid_since=st.none() | moments,
)


@given(offers, grants_, moments, st.none() | moments)
def test_access_never_outlives_a_grant_and_a_refusal_always_says_why(
    offer: CourseOffer | None, grants: list[Grant], now: datetime, enrolled_at: datetime | None
) -> None:
    verdict = decide(offer, grants, now, enrolled_at=enrolled_at)
    assert verdict.allowed is (verdict.refusal is None)
    if verdict.allowed:
        assert verdict.source is not None
        assert verdict.track is not None
    if verdict.source in GRANT_SOURCES:
        assert verdict.until is None or now < verdict.until
        assert any(g.in_force(now) and g.source is verdict.source and g.course_id == COURSE for g in grants)
    if verdict.until is not None:  # the same grants a moment after the end no longer give that access
        assert decide(offer, grants, verdict.until, enrolled_at=enrolled_at).until != verdict.until


@given(offers, grants_, moments)
def test_staff_and_free_courses_are_always_open_and_a_live_grant_always_opens_the_full_course(
    offer: CourseOffer | None, grants: list[Grant], now: datetime
) -> None:
    assert decide(offer, grants, now, staff=True) == Verdict(Source.STAFF, Track.FULL)
    if offer is None or not offer.paid:
        assert decide(offer, grants, now).source is Source.FREE
    live = Grant(ANN, COURSE, Source.PURCHASED, GrantStatus.ACTIVE, now)
    after = decide(offer, [*grants, live], now)
    assert after.allowed
    assert after.track is Track.FULL  # even where the audit track was all the learner had


def test_a_grant_of_every_course_opens_any_paid_course_and_its_lapse_names_the_reason() -> None:
    every = Grant(ANN, None, Source.SUBSCRIPTION, GrantStatus.ACTIVE, T0, NOW + timedelta(days=3), reference="sub")
    other = CourseOffer(uuid.UUID(int=2), paid=True, paid_since=PAID_SINCE)
    for offer in (PAID, other):
        assert decide(offer, [every], NOW) == Verdict(Source.SUBSCRIPTION, Track.FULL, until=every.ends_at)
    past_due = every.with_status(GrantStatus.PAST_DUE, every.ends_at)
    assert decide(other, [past_due], NOW).refusal is Refusal.SUBSCRIPTION_PAST_DUE
    # A grant for one course never opens another.
    assert decide(other, [grant(Source.PURCHASED)], NOW).refusal is Refusal.PAYMENT_REQUIRED
