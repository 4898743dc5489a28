"""The certificate use cases on the fakes: issue once, wait for availability, reissue on a name
change, staff-only awards and revocation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from elearning_core.auth.model import RolePolicy
from elearning_core.certificate.commands import AwardSettings
from elearning_core.certificate.model import SubjectKind
from elearning_core.certificate.service import NAME_CHANGED, CertificateConfig, CertificateService, PrintablePage
from elearning_core.course.model import Course
from elearning_core.entitlement.model import Refusal, Source, Track, Verdict
from elearning_core.entitlement.ports import ASK, AccessCheck, Ask
from elearning_core.shared.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from tests.certificate_fakes import CertificateStore, FakeCertificateUnitOfWork, FakeNames, FakeTitles
from tests.fakes import ADMIN, CURSOR_SECRET, T0, FakeStore, InMemoryResourceDirectory, SettableClock

COURSE = SubjectKind.COURSE


class NoVerifier:
    async def verify(self, token: str) -> dict[str, object]:
        return {"jwt": token}

    async def jwks(self) -> dict[str, object]:
        return {"keys": []}

    async def jwk(self, kid: str) -> dict[str, object] | None:
        return None


class TextPrinter:
    def html(self, page: PrintablePage) -> str:
        return page.body_html

    def pdf(self, page: PrintablePage) -> bytes:
        return page.body_html.encode()


class World:
    def __init__(self) -> None:
        self.store = CertificateStore()
        self.platform = FakeStore()
        course = Course.create(title="Intro", slug="intro", at=T0)
        self.platform.courses[course.id] = course
        self.course_id = course.id
        self.learner = uuid.uuid4()
        self.names = FakeNames({self.learner: "Ada"})
        self.titles = FakeTitles({(COURSE, course.id): "Intro"})
        self.clock = SettableClock(T0)
        self.service = CertificateService(
            lambda: FakeCertificateUnitOfWork(self.store),
            self.names,
            self.titles,
            NoVerifier(),
            TextPrinter(),
            InMemoryResourceDirectory(self.platform),
            self.clock,
            RolePolicy(),
            CursorCodec(CURSOR_SECRET),
            CertificateConfig("https://learn.example"),
        )

    async def award(self, **settings: object) -> None:
        await self.service.set_award(ADMIN, COURSE, self.course_id, AwardSettings(enabled=True, **settings))  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    return World()


async def test_a_completion_issues_once_even_when_delivered_again(world: World) -> None:
    await world.award()
    first = await world.service.record_completion(world.learner, COURSE, world.course_id)
    again = await world.service.record_completion(world.learner, COURSE, world.course_id)
    assert first is not None
    assert again is not None
    assert again.id == first.id
    assert len(world.store.credentials) == 1
    assert [e.type for e in world.store.outbox] == ["certificate.issued.v1"]
    assert first.jwt == f"fake.https://learn.example/api/v1/credentials/{first.id}.sig"


async def test_no_award_no_certificate_and_an_unknown_title_is_a_conflict(world: World) -> None:
    assert await world.service.record_completion(world.learner, COURSE, world.course_id) is None
    await world.award()
    world.titles.titles.clear()
    with pytest.raises(Conflict, match="no readable title"):
        await world.service.record_completion(world.learner, COURSE, world.course_id)
    assert world.store.credentials == {}


async def test_a_completion_before_availability_waits_then_is_issued(world: World) -> None:
    await world.award(available_from=T0 + timedelta(days=2))
    assert await world.service.record_completion(world.learner, COURSE, world.course_id) is None
    assert await world.service.issue_due() == 0
    world.clock.set(T0 + timedelta(days=2))
    assert await world.service.issue_due() == 1
    assert await world.service.issue_due() == 0
    (credential,) = world.store.credentials.values()
    assert credential.issued_at == T0 + timedelta(days=2)


async def test_a_name_change_revokes_and_links_a_new_credential(world: World) -> None:
    await world.award(valid_days=10)
    old = await world.service.record_completion(world.learner, COURSE, world.course_id)
    assert old is not None
    assert await world.service.record_profile_update(world.learner, ["bio"]) == []
    world.names.names[world.learner] = "Ada L."
    (new,) = await world.service.record_profile_update(world.learner, ["display_name"])
    assert (new.replaces, new.learner_name, new.valid_until) == (old.id, "Ada L.", old.valid_until)
    stored_old = world.store.credentials[old.id]
    assert stored_old.revoked_reason == NAME_CHANGED
    assert await world.service.record_profile_update(world.learner, ["display_name"]) == []  # same name: nothing


async def test_only_staff_set_awards_and_revoke(world: World) -> None:
    learner = Principal(subject=str(world.learner), user_id=world.learner)
    with pytest.raises(PermissionDenied):
        await world.service.set_award(learner, COURSE, world.course_id, AwardSettings(enabled=True))
    with pytest.raises(NotFound):
        await world.service.set_award(ADMIN, COURSE, uuid.uuid4(), AwardSettings(enabled=True))
    with pytest.raises(ValidationFailed):
        await world.service.set_award(ADMIN, COURSE, world.course_id, AwardSettings(template="$nope"))
    await world.award()
    issued = await world.service.record_completion(world.learner, COURSE, world.course_id)
    assert issued is not None
    with pytest.raises(PermissionDenied):
        await world.service.revoke(learner, issued.id, "mine")
    revoked = await world.service.revoke(ADMIN, issued.id, "error")
    assert revoked.revoked_reason == "error"
    page = await world.service.mine(learner)
    assert [c.id for c in page.items] == [issued.id]


async def test_a_joined_service_works_in_the_unit_of_work_it_is_given(world: World) -> None:
    """What the subscription does: the same use case in a unit of work joined to the handler's transaction."""
    await world.award()
    handler_uow = FakeCertificateUnitOfWork(world.store)
    issued = await world.service.joined(lambda: handler_uow).record_completion(world.learner, COURSE, world.course_id)
    assert issued is not None
    assert handler_uow.committed
    assert [c.id for c in world.store.credentials.values()] == [issued.id]
    # The original service keeps its own factory: it finds the credential the joined one issued.
    again = await world.service.record_completion(world.learner, COURSE, world.course_id)
    assert again is not None
    assert again.id == issued.id


class FixedAccess(AccessCheck):
    """The entitlement check answering one verdict (the check itself is tested in tests/unit/entitlement)."""

    def __init__(self, verdict: Verdict) -> None:
        self.answer = verdict

    async def verdict(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID, *, enrolled_at: datetime | Ask | None = ASK
    ) -> Verdict:
        return self.answer

    async def enrolled_verdict(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[datetime | None, Verdict]:
        return T0, self.answer


@pytest.mark.parametrize(
    "verdict",
    [Verdict(Source.AUDIT, Track.AUDIT), Verdict(None, None, refusal=Refusal.REFUNDED)],
    ids=["audit-track", "refunded"],
)
async def test_a_course_certificate_needs_the_full_track(world: World, verdict: Verdict) -> None:
    access = FixedAccess(verdict)
    world.service = CertificateService(
        lambda: FakeCertificateUnitOfWork(world.store),
        world.names,
        world.titles,
        NoVerifier(),
        TextPrinter(),
        InMemoryResourceDirectory(world.platform),
        world.clock,
        RolePolicy(),
        CursorCodec(CURSOR_SECRET),
        CertificateConfig("https://learn.example"),
        access=access,
    )
    await world.award()
    assert await world.service.record_completion(world.learner, COURSE, world.course_id) is None
    assert world.store.credentials == {}
    assert await world.service.issue_due() == 0  # not kept pending either
    access.answer = Verdict(Source.PURCHASED, Track.FULL)  # bought the full track: the next completion issues
    assert await world.service.record_completion(world.learner, COURSE, world.course_id) is not None
    assert len(world.store.credentials) == 1
