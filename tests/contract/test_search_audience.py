"""``SqlSearchAudience`` on SQLite and PostgreSQL: a caller's enrollments (active or completed) and cohorts,
and as staff courses the ones they own and those of the organizations the service names (where the caller
holds a staff grant); nothing of another organization's, nothing for an anonymous caller."""

from __future__ import annotations

import uuid

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search import SqlSearchAudience
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.auth.service import user_principal
from elearning_core.course.model import Course
from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentSource
from elearning_core.identity.model import Organization, User
from elearning_core.search.model import Viewer
from elearning_core.shared.ports import ANONYMOUS
from tests.fakes import T0


async def test_the_audience_reads_enrollments_owned_courses_and_the_organizations_courses(db: Database) -> None:
    user = User.register(email="ann@example.org", display_name="Ann", at=T0, password_hash=None)
    ours, theirs = (Organization.create(slug=f"o{n}-{uuid.uuid4().hex[:6]}", name="O", at=T0) for n in (1, 2))

    def course(name: str, **more: object) -> Course:
        return Course.create(title=name, slug=f"{name}-{uuid.uuid4().hex[:6]}", at=T0, **more)  # type: ignore[arg-type]

    owned, in_ours, in_theirs, enrolled = (
        course("owned", owner_id=user.id),
        course("ours", organization_id=ours.id),
        course("theirs", organization_id=theirs.id),
        course("enrolled"),
    )
    cohort = Cohort.create(enrolled.id, name="A", capacity=None, starts_at=None, at=T0)
    async with SqlUnitOfWork(db) as uow:
        uow.users.add(user)
        for organization in (ours, theirs):
            uow.organizations.add(organization)
        await uow.commit()
    async with SqlUnitOfWork(db) as uow:
        for each in (owned, in_ours, in_theirs, enrolled):
            uow.courses.add(each)
        await uow.commit()
    async with SqlUnitOfWork(db) as uow:
        await uow.cohorts.add(cohort)
        uow.enrollments.add(
            Enrollment.enroll(enrolled.id, user.id, cohort_id=cohort.id, source=EnrollmentSource.SELF, at=T0)
        )
        await uow.commit()
    audience, principal = SqlSearchAudience(db), user_principal(user.id, (), None)
    assert await audience.viewer(principal) == Viewer(
        enrolled=frozenset({enrolled.id}), cohorts=frozenset({cohort.id}), staff=frozenset({owned.id})
    )
    with_ours = await audience.viewer(principal, [ours.id])
    assert with_ours.staff == {owned.id, in_ours.id}
    assert await audience.viewer(ANONYMOUS, [ours.id]) == Viewer()
