"""The search core without I/O: query parsing, who may read what, the service's checks, pages,
synonyms (admins only) and the query report, on the in-memory doubles."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from elearning_core.auth.model import Grant, Role, Scope
from elearning_core.search.model import (
    PUBLIC,
    Alternative,
    DocumentKind,
    SearchDocument,
    Viewer,
    Visibility,
    cohort_members,
    course_members,
    course_staff,
    highlight_html,
    parse_query,
)
from elearning_core.search.service import SearchRequest, SearchService
from elearning_core.shared.errors import NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import ANONYMOUS, SYSTEM, Principal
from tests.fakes import T0, SettableClock
from tests.search_fakes import FakeSearchAudience, InMemoryQueryLog, InMemorySearchIndex, InMemorySynonyms

COURSE, COHORT = uuid.uuid4(), uuid.uuid4()


def test_a_query_parses_into_groups_phrases_exclusions_and_a_prefix() -> None:
    terms = parse_query('Café "Machine Learning" -draft py', {"cafe": ("coffee shop",)})
    assert terms.groups == (
        (Alternative(("cafe",)), Alternative(("coffee", "shop"))),
        (Alternative(("machine", "learning")),),
        (Alternative(("py",), prefix=True),),
    )
    assert terms.excluded == ("draft",)
    assert parse_query("python ").groups == ((Alternative(("python",)),),)  # a finished word
    assert parse_query("<script>&& ").groups == ((Alternative(("script",)),),)
    assert parse_query("").empty
    assert len(parse_query(" ".join(f"w{i}" for i in range(50))).groups) == 12


def test_visibility_follows_the_course_and_cohort_rules() -> None:
    learner = Visibility.of(Viewer(enrolled=frozenset({COURSE}), cohorts=frozenset({COHORT})))
    staff = Visibility.of(Viewer(staff=frozenset({COURSE})))
    other_cohort = frozenset({cohort_members(uuid.uuid4()), course_staff(COURSE)})
    assert learner.allows({course_members(COURSE)})
    assert learner.allows({cohort_members(COHORT)})
    assert not learner.allows(other_cohort)
    assert staff.allows(other_cohort)
    assert staff.allows({course_members(COURSE)})
    assert not Visibility().allows({course_members(COURSE)})
    assert Visibility.of(Viewer(admin=True)).allows({"anything"})


def test_highlights_escape_before_marking() -> None:
    assert highlight_html('<b>"x"</b> \ue000cafe\ue001') == "&lt;b&gt;&quot;x&quot;&lt;/b&gt; <mark>cafe</mark>"


def _doc(title: str, access: frozenset[str] = frozenset({PUBLIC}), age: int = 0) -> SearchDocument:
    return SearchDocument(DocumentKind.LESSON, uuid.uuid4(), COURSE, title, "", "/x", T0 - timedelta(days=age), access)


@pytest.fixture
def parts() -> tuple[SearchService, InMemorySearchIndex, FakeSearchAudience, InMemoryQueryLog]:
    index, audience, log = InMemorySearchIndex(), FakeSearchAudience(), InMemoryQueryLog()
    service = SearchService(index, audience, InMemorySynonyms(), log, SettableClock(T0), CursorCodec(b"s" * 32))
    return service, index, audience, log


async def test_the_caller_sees_what_their_enrollments_and_grants_open(parts: tuple) -> None:  # type: ignore[type-arg]
    service, index, audience, _ = parts
    await index.upsert([_doc("Open algebra"), _doc("Gated algebra", frozenset({course_members(COURSE)}))])
    learner_id, staff_id = uuid.uuid4(), uuid.uuid4()
    audience.viewers[learner_id] = Viewer(enrolled=frozenset({COURSE}))
    learner = Principal(subject=str(learner_id), user_id=learner_id)
    staff = Principal(subject=str(staff_id), user_id=staff_id, grants=(Grant(Role.INSTRUCTOR, Scope.course(COURSE)),))
    request = SearchRequest(q="algebra")
    assert (await service.search(ANONYMOUS, request)).result.total == 1
    assert (await service.search(learner, request)).result.total == 2
    assert (await service.search(staff, request)).result.total == 2
    assert (await service.search(SYSTEM, request)).result.total == 2


async def test_staff_grants_on_the_organization_open_its_courses_drafts(parts: tuple) -> None:  # type: ignore[type-arg]
    """The role policy's staff: an organization's admin and teaching assistant for its courses; its instructor
    creates courses there and is not staff of the others'."""
    service, index, audience, _ = parts
    organization, elsewhere = uuid.uuid4(), uuid.uuid4()
    audience.organizations = {organization: {COURSE}, elsewhere: {uuid.uuid4()}}
    await index.upsert([_doc("Draft algebra", frozenset({course_staff(COURSE)}))])
    request = SearchRequest(q="algebra")
    on = Scope.organization(organization)
    for grant, sees in (
        (Grant(Role.ORGANIZATION_ADMIN, on), 1),
        (Grant(Role.TEACHING_ASSISTANT, on), 1),
        (Grant(Role.INSTRUCTOR, on), 0),
        (Grant(Role.ORGANIZATION_ADMIN, Scope.organization(elsewhere)), 0),
        (Grant(Role.LEARNER, on), 0),
    ):
        user_id = uuid.uuid4()
        actor = Principal(subject=str(user_id), user_id=user_id, grants=(grant,))
        assert (await service.search(actor, request)).result.total == sees, grant


async def test_pages_are_bound_to_their_query(parts: tuple) -> None:  # type: ignore[type-arg]
    service, index, _, log = parts
    await index.upsert([_doc(f"Topic {i}", age=i) for i in range(5)])
    first = await service.search(ANONYMOUS, SearchRequest(q="topic", limit=2))
    second = await service.search(ANONYMOUS, SearchRequest(q="topic", limit=2, cursor=first.next_cursor))
    third = await service.search(ANONYMOUS, SearchRequest(q="topic", limit=2, cursor=second.next_cursor))
    titles = [h.title for p in (first, second, third) for h in p.result.hits]
    assert sorted(titles) == [f"Topic {i}" for i in range(5)]
    assert third.next_cursor is None
    with pytest.raises(ValidationFailed):
        await service.search(ANONYMOUS, SearchRequest(q="other", cursor=first.next_cursor))
    assert [e[0] for e in log.entries] == ["topic"]  # only first pages are logged


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (SearchRequest(kinds=frozenset({"video"})), "kind"),
        (SearchRequest(sort="random"), "sort"),
        (SearchRequest(facets=("colour",)), "facets"),
        (SearchRequest(filters={"free": frozenset({"maybe"})}), "free"),
        (SearchRequest(filters={"kind": frozenset({"course"})}), "kind"),
        (SearchRequest(q="x" * 201), "q"),
        (SearchRequest(limit=0), "limit"),
    ],
)
async def test_bad_input_names_its_field(parts: tuple, request_: SearchRequest, field: str) -> None:  # type: ignore[type-arg]
    service = parts[0]
    with pytest.raises(ValidationFailed) as failure:
        await service.search(ANONYMOUS, request_)
    assert [e.field for e in failure.value.errors] == [field]


async def test_synonyms_and_the_report_are_for_admins(parts: tuple) -> None:  # type: ignore[type-arg]
    service, index, _, _ = parts
    user = Principal(subject="u", user_id=uuid.uuid4())
    with pytest.raises(PermissionDenied):
        await service.put_synonyms(user, "js", ["javascript"])
    with pytest.raises(PermissionDenied):
        await service.report(user)
    assert await service.put_synonyms(SYSTEM, "JS", ["JavaScript", "js", "ECMA script"]) == (
        "js",
        ("javascript", "ecma script"),
    )
    with pytest.raises(ValidationFailed):
        await service.put_synonyms(SYSTEM, "two words", ["x"])
    with pytest.raises(ValidationFailed):
        await service.put_synonyms(SYSTEM, "js", [])
    await index.upsert([_doc("JavaScript basics"), _doc("Ecma script history")])
    assert (await service.search(ANONYMOUS, SearchRequest(q="js "))).result.total == 2
    await service.search(ANONYMOUS, SearchRequest(q="cobol"))
    report = await service.report(SYSTEM)
    assert [(c.text, c.count) for c in report.most_frequent] == [("cobol", 1), ("js", 1)]
    assert [c.text for c in report.zero_results] == ["cobol"]
    await service.delete_synonyms(SYSTEM, "js")
    with pytest.raises(NotFound):
        await service.delete_synonyms(SYSTEM, "js")


def test_a_draft_is_readable_by_its_course_staff_alone() -> None:
    """A draft's documents carry only its ``staff:`` token: its learners (enrolled, in a cohort) and other
    courses' staff hold no such token; its staff and admins do."""
    course, other = uuid.uuid4(), uuid.uuid4()
    draft = frozenset({course_staff(course)})
    assert not Visibility().allows(draft)
    assert not Visibility.of(Viewer(enrolled=frozenset({course}), cohorts=frozenset({course}))).allows(draft)
    assert not Visibility.of(Viewer(staff=frozenset({other}))).allows(draft)
    assert Visibility.of(Viewer(staff=frozenset({course}))).allows(draft)
    assert Visibility.of(Viewer(admin=True)).allows(draft)
