"""A discussion service over the in-memory doubles, with a course, staff, learners in cohorts and an outsider."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from elearning_adapters.content.markdown import SanitizingMarkdownRenderer
from elearning_core.auth.model import Grant, Role, RolePolicy, Scope, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.discussion.ports import Author, Membership
from elearning_core.discussion.service import DiscussionService
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from tests.discussion_fakes import (
    DiscussionData,
    FakeAuthors,
    FakeCourseMembers,
    InMemoryDiscussionQueries,
    InMemoryDiscussionUnitOfWork,
)
from tests.fakes import T0, FakeRateLimiter, SettableClock

COURSE = uuid.UUID(int=100)
LESSON = uuid.UUID(int=200)
COHORT_A, COHORT_B = uuid.UUID(int=301), uuid.UUID(int=302)


@dataclass
class World:
    data: DiscussionData
    clock: SettableClock
    limiter: FakeRateLimiter
    service: DiscussionService
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def who(self, name: str) -> Principal:
        user_id = self.users[name]
        grants: tuple[Grant, ...] = ()
        if name == "ta":
            grants = (Grant(Role.TEACHING_ASSISTANT, Scope(ScopeKind.COURSE, COURSE)),)
        return user_principal(user_id, grants, None, email_verified=True)

    def types(self) -> list[str]:
        return [e.type for e in self.data.outbox]


def world(*, posts_per_minute: int = 100, auto_hide_flags: int = 2) -> World:
    data = DiscussionData()
    data.courses.add(COURSE)
    data.lessons[(COURSE, LESSON)] = "Loops"
    clock = SettableClock(T0)
    limiter = FakeRateLimiter(clock.seconds)
    service = DiscussionService(
        lambda: InMemoryDiscussionUnitOfWork(data),
        InMemoryDiscussionQueries(data),
        FakeCourseMembers(data),
        FakeAuthors(data),
        SanitizingMarkdownRenderer(),
        limiter,
        RolePolicy(),
        clock,
        CursorCodec(b"k" * 32),
        posts_per_window=posts_per_minute,
        window_seconds=60,
        auto_hide_flags=auto_hide_flags,
    )
    w = World(data, clock, limiter, service)
    data.cohorts |= {(COURSE, COHORT_A), (COURSE, COHORT_B)}
    for index, (name, membership) in enumerate(
        [
            ("ta", Membership(staff=True, enrolled=False)),
            ("ann", Membership(staff=False, enrolled=True, cohort_id=COHORT_A)),
            ("bob", Membership(staff=False, enrolled=True, cohort_id=COHORT_A)),
            ("cid", Membership(staff=False, enrolled=True, cohort_id=COHORT_B)),
            ("out", None),
        ],
        start=1,
    ):
        user_id = uuid.UUID(int=index)
        w.users[name] = user_id
        data.users[user_id] = Author(name.title(), deleted=False)
        if membership is not None:
            data.members[(COURSE, user_id)] = membership
    return w
