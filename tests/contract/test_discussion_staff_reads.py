"""The discussion's SQL reads of who is a course's staff (the mention audience, the followers of a cohort
thread) agree with the role policy the service asks (``RolePolicy`` with ``STAFF_PERMISSION``), on SQLite and
PostgreSQL: staff roles on the course, on its organization and on the platform, the course's owner; not a
learner grant, not an admin of another organization, not a teaching assistant of another course."""

from __future__ import annotations

import uuid

from elearning_adapters.sql.discussion import SqlCourseMembers, SqlDiscussionQueries
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.auth.model import Grant, Role, RolePolicy, Scope, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.course.model import Course
from elearning_core.discussion.model import Post, Thread, ThreadKind
from elearning_core.discussion.service import FOLLOW, STAFF_PERMISSION
from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentSource
from elearning_core.identity.model import Organization, User
from tests.fakes import T0


async def _user(db: Database, name: str, *grants: Grant) -> User:
    user = User.register(
        email=f"{name}-{uuid.uuid4().hex[:8]}@example.org", display_name=name, at=T0, password_hash=None
    )
    for grant in grants:
        user.grant(grant, T0, by="test")
    async with SqlUnitOfWork(db) as uow:
        uow.users.add(user)
        await uow.commit()
    return user


async def test_the_staff_reads_agree_with_the_role_policy(db: Database) -> None:
    organization = Organization.create(slug=f"o{uuid.uuid4().hex[:8]}", name="Org", at=T0)
    elsewhere = Organization.create(slug=f"e{uuid.uuid4().hex[:8]}", name="Elsewhere", at=T0)
    async with SqlUnitOfWork(db) as uow:
        uow.organizations.add(organization)
        uow.organizations.add(elsewhere)
        await uow.commit()
    owner = await _user(db, "owner")
    course = Course.create(
        title="C", slug=f"c-{uuid.uuid4().hex[:8]}", at=T0, owner_id=owner.id, organization_id=organization.id
    )
    other_course = Course.create(title="D", slug=f"d-{uuid.uuid4().hex[:8]}", at=T0)
    async with SqlUnitOfWork(db) as uow:
        uow.courses.add(course)
        uow.courses.add(other_course)
        await uow.commit()
    on = Scope(ScopeKind.COURSE, course.id)
    org, other_org = Scope(ScopeKind.ORGANIZATION, organization.id), Scope(ScopeKind.ORGANIZATION, elsewhere.id)
    cast = {
        "owner": (owner, True),
        "course ta": (await _user(db, "ta", Grant(Role.TEACHING_ASSISTANT, on)), True),
        "org admin": (await _user(db, "oa", Grant(Role.ORGANIZATION_ADMIN, org)), True),
        "org ta": (await _user(db, "ot", Grant(Role.TEACHING_ASSISTANT, org)), True),
        "platform admin": (await _user(db, "pa", Grant(Role.PLATFORM_ADMIN)), True),
        # An instructor of an organization or of the platform creates courses, and is no one else's staff.
        "org instructor": (await _user(db, "oi", Grant(Role.INSTRUCTOR, org)), False),
        "platform instructor": (await _user(db, "pi", Grant(Role.INSTRUCTOR, Scope(ScopeKind.PLATFORM))), False),
        "other org admin": (await _user(db, "xa", Grant(Role.ORGANIZATION_ADMIN, other_org)), False),
        "other course ta": (
            await _user(db, "xt", Grant(Role.TEACHING_ASSISTANT, Scope(ScopeKind.COURSE, other_course.id))),
            False,
        ),
        "learner grant": (await _user(db, "lg", Grant(Role.LEARNER, on)), False),
    }
    members = SqlCourseMembers(db)
    standing = await members.standing(course.id, None)
    assert standing is not None
    ref, _ = standing
    audience = await members.audience(course.id, [user.id for user, _ in cast.values()])
    policy = RolePolicy()
    for name, (user, staff) in cast.items():
        decided = policy.authorize(
            user_principal(user.id, user.grants, None, email_verified=True), STAFF_PERMISSION, ref
        )
        assert decided.allowed == staff, (name, decided.reason)
        assert (user.id in audience and audience[user.id].staff) == staff, name

    # The followers of a cohort thread: a follower enrolled in another cohort is left out unless they are staff.
    cohort, other_cohort = (Cohort.create(course.id, name=n, capacity=None, starts_at=None, at=T0) for n in ("A", "B"))
    admin, learner = cast["org admin"][0], await _user(db, "learner")
    async with SqlUnitOfWork(db) as uow:
        await uow.cohorts.add(cohort)
        await uow.cohorts.add(other_cohort)
        for user_id in (admin.id, learner.id):
            uow.enrollments.add(
                Enrollment.enroll(course.id, user_id, cohort_id=other_cohort.id, source=EnrollmentSource.SELF, at=T0)
            )
        await uow.commit()
    thread_id = await _cohort_thread(db, course.id, cohort.id, [admin.id, learner.id])
    found = await SqlDiscussionQueries(db).followers(thread_id)
    assert found == [admin.id], (found, admin.id, learner.id)


async def _cohort_thread(
    db: Database, course_id: uuid.UUID, cohort_id: uuid.UUID, followers: list[uuid.UUID]
) -> uuid.UUID:
    thread = Thread(uuid.uuid4(), course_id, ThreadKind.DISCUSSION, "T", None, False, T0, T0, None, cohort_id)
    async with SqlUnitOfWork(db) as uow:
        await uow.discussion.add_thread(thread, Post(thread.id, thread.id, None, 0, None, False, "b", T0))
        for user_id in followers:
            await uow.discussion.subscribe(thread.id, user_id, FOLLOW)
        await uow.commit()
    return thread.id
