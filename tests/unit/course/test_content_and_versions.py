"""Lesson content (values and rules) and published versions: learners never see a draft."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elearning_core.course import events as ev
from elearning_core.course.commands import (
    AttachmentSpec,
    CourseRef,
    CourseSpec,
    LessonContentSpec,
    LessonSpec,
    RenameLesson,
    SectionSpec,
    SetLessonContent,
    UpdateCourse,
)
from elearning_core.course.model import (
    ATTACHMENTS_MAX,
    BODY_MAX_BYTES,
    Attachment,
    Course,
    CourseStatus,
    LessonContent,
    LessonKind,
    escaped_text_html,
)
from elearning_core.course.service import CourseService
from elearning_core.shared.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.events import event_class
from elearning_core.shared.ports import ANONYMOUS
from tests.fakes import A_USER, ADMIN, T0, CourseStore, a_course, a_service, minutes, seed_course

T1 = T0 + minutes(1)
T2 = T0 + minutes(2)


def an_attachment(**overrides: Any) -> Attachment:
    values: dict[str, Any] = {
        "name": "slides.pdf",
        "size_bytes": 1234,
        "content_type": "application/pdf",
        "url": "https://cdn.example.org/slides.pdf",
    }
    return Attachment.checked(**(values | overrides))


def field_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return exc.value.errors[0].field


# -- content values ---------------------------------------------------------------------


def test_content_defaults_to_an_empty_text_lesson() -> None:
    assert LessonContent.checked() == LessonContent(kind=LessonKind.TEXT, body_markdown="")


def test_body_is_limited_to_100_kb_of_utf8() -> None:
    LessonContent.checked(body_markdown="x" * BODY_MAX_BYTES)
    with pytest.raises(ValidationFailed) as exc:
        LessonContent.checked(body_markdown="x" * (BODY_MAX_BYTES + 1))
    assert field_of(exc) == "body_markdown"
    # Counted in bytes: 40 000 three-byte characters are 120 000 bytes.
    with pytest.raises(ValidationFailed):
        LessonContent.checked(body_markdown="€" * 40_000)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"body_markdown": "a\x00b"}, "body_markdown"),
        ({"kind": "video"}, "video_id"),
        ({"kind": "podcast"}, "kind"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": 24 * 3600 + 1}, "duration_seconds"),
    ],
)
def test_bad_content_is_refused_naming_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        LessonContent.checked(**values)
    assert field_of(exc) == field


def test_a_video_lesson_names_its_video_and_an_assessment_lesson_may_wait_for_its_assessment() -> None:
    video = uuid.uuid4()
    assert LessonContent.checked(kind="video", video_id=video).video_id == video
    assert LessonContent.checked(kind="assessment").assessment_id is None


def test_attachments_are_capped_and_unique() -> None:
    many = [an_attachment() for _ in range(ATTACHMENTS_MAX)]
    assert len(LessonContent.checked(attachments=many).attachments) == ATTACHMENTS_MAX
    with pytest.raises(ValidationFailed) as exc:
        LessonContent.checked(attachments=[*many, an_attachment()])
    assert field_of(exc) == "attachments"
    one = an_attachment()
    with pytest.raises(ValidationFailed):
        LessonContent.checked(attachments=[one, one])


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "/relative/path.pdf",
        "https://",
        "https://exa mple.org/x",
        "https://example.org/\nx",
        "https://" + "a" * 2050,
    ],
)
def test_attachment_urls_must_be_absolute_http_or_https(url: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        an_attachment(url=url)
    assert field_of(exc) == "attachment.url"


@pytest.mark.parametrize("key", ["../secret", "a/../b", "/abs/key", "a//b", "a b", "a\\b", "courses/./x", ".hidden"])
def test_storage_keys_are_plain_relative_paths(key: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        an_attachment(url=None, storage_key=key)
    assert field_of(exc) == "attachment.storage_key"


def test_an_attachment_has_exactly_one_source() -> None:
    assert an_attachment(url=None, storage_key="courses/1/slides.v2.pdf").storage_key == "courses/1/slides.v2.pdf"
    for sources in ({"url": None}, {"storage_key": "a/b"}):
        with pytest.raises(ValidationFailed) as exc:
            an_attachment(**sources)
        assert field_of(exc) == "attachment"


@pytest.mark.parametrize(
    "name", ["", "   ", "../x.pdf", "dir/x.pdf", "c:\\x.pdf", ".env", "a\x00b", "a\u202eb.pdf", "x" * 256, "a?.pdf"]
)
def test_attachment_names_are_safe_file_names(name: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        an_attachment(name=name)
    assert field_of(exc) == "attachment.name"


@pytest.mark.parametrize("content_type", ["pdf", "application/", "text/html; charset=utf-8", "a/b c"])
def test_attachment_content_types_are_media_types(content_type: str) -> None:
    with pytest.raises(ValidationFailed):
        an_attachment(content_type=content_type)


def test_attachment_values_are_normalised() -> None:
    attachment = an_attachment(name="  Week 1 \u2013 slides.pdf ", content_type="Application/PDF")
    assert (attachment.name, attachment.content_type) == ("Week 1 \u2013 slides.pdf", "application/pdf")


# -- setting content on the aggregate --------------------------------------------------


def test_setting_content_records_an_event_with_references_not_text() -> None:
    course = a_course(lessons=2)
    section, lesson = course.sections[0], course.sections[0].lessons[1]
    video = uuid.uuid4()
    content = LessonContent.checked(
        kind="video", body_markdown="# Notes", video_id=video, attachments=[an_attachment()], duration_seconds=90
    )
    course.set_lesson_content(section.id, lesson.id, content, T1)
    assert lesson.content == content
    [event] = course.pull_events()
    assert isinstance(event, ev.LessonContentChanged)
    assert (event.lesson_id, event.kind, event.video_id, event.duration_seconds) == (lesson.id, "video", video, 90)
    assert event.attachment_ids == [content.attachments[0].id]
    assert "body_markdown" not in event.payload()
    # The same content again changes nothing.
    course.set_lesson_content(section.id, lesson.id, content, T2)
    assert course.pending_events == []


def test_content_of_an_unknown_lesson_or_an_archived_course_is_refused() -> None:
    course = a_course()
    with pytest.raises(NotFound):
        course.set_lesson_content(course.sections[0].id, uuid.uuid4(), LessonContent(), T1)
    archived = a_course(status=CourseStatus.ARCHIVED)
    with pytest.raises(Conflict):
        archived.set_lesson_content(
            archived.sections[0].id, archived.sections[0].lessons[0].id, LessonContent.checked(body_markdown="x"), T1
        )


# -- publishing makes numbered versions --------------------------------------------------


def test_publishing_makes_version_1_with_a_snapshot_of_the_draft() -> None:
    course = a_course(lessons=2)
    lesson = course.sections[0].lessons[0]
    course.set_lesson_content(course.sections[0].id, lesson.id, LessonContent.checked(body_markdown="Hi <b>x</b>"), T0)
    course.pull_events()
    version = course.publish(T1, by=uuid.UUID(int=7), render=lambda md: f"<p>{md.upper()}</p>")
    assert (version.number, version.published_at, version.published_by) == (1, T1, uuid.UUID(int=7))
    assert course.unsaved_versions == [version]
    assert (course.published_version, course.has_unpublished_changes) == (1, False)
    [event] = course.pull_events()
    assert isinstance(event, ev.CoursePublished)
    assert (event.type, event.version_number) == ("course.published.v2", 1)
    snapshot_lesson = version.snapshot["sections"][0]["lessons"][0]
    assert snapshot_lesson["body_markdown"] == "Hi <b>x</b>"
    assert snapshot_lesson["body_html"] == "<p>HI <B>X</B></p>"
    assert version.snapshot["title"] == course.title
    json.dumps(version.snapshot)  # JSON-ready as it is


def test_the_published_v1_event_class_stays_registered_for_old_rows() -> None:
    assert event_class("course.published.v1") is ev.CoursePublishedV1
    assert event_class("course.published.v2") is ev.CoursePublished


def test_editing_a_published_course_edits_the_draft_and_publishing_again_makes_version_2() -> None:
    course = a_course(status=CourseStatus.PUBLISHED)
    assert (course.published_version, course.has_unpublished_changes) == (1, False)
    with pytest.raises(Conflict, match="no unpublished changes"):
        course.publish(T1)
    course.change_details(T1, title="Renamed")
    assert (course.status, course.has_unpublished_changes) == (CourseStatus.PUBLISHED, True)
    assert course.published_details is not None
    assert course.published_details.title != "Renamed"
    version = course.publish(T2)
    assert version.number == 2
    assert (course.published_version, course.has_unpublished_changes, course.published_at) == (2, False, T2)
    assert course.published_details is not None
    assert course.published_details.title == "Renamed"


def test_unpublish_then_publish_makes_the_next_version() -> None:
    course = a_course(status=CourseStatus.PUBLISHED)
    course.unpublish(T1)
    assert course.publish(T2).number == 2


def test_the_fallback_renderer_escapes_everything() -> None:
    assert escaped_text_html("<script>alert(1)</script>\n\nsecond") == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n<p>second</p>\n"
    )


# -- the service: what learners and staff read ----------------------------------------------


@pytest.fixture
def store() -> CourseStore:
    return CourseStore()


@pytest.fixture
def service(store: CourseStore) -> CourseService:
    return a_service(store)


def content_cmd(course: Course, body: str, **extra: Any) -> SetLessonContent:
    section = course.sections[0]
    return SetLessonContent(
        course_id=course.id, section_id=section.id, lesson_id=section.lessons[0].id, body_markdown=body, **extra
    )


async def test_learners_never_see_a_draft(service: CourseService, store: CourseStore) -> None:
    course = a_course(title="Version one", lessons=1)
    seed_course(store, course)
    await service.set_lesson_content(ADMIN, content_cmd(course, "old text"))
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    lesson = course.sections[0].lessons[0]

    await service.update(ADMIN, UpdateCourse(course_id=course.id, title="Version two"))
    await service.rename_lesson(
        ADMIN,
        RenameLesson(course_id=course.id, section_id=course.sections[0].id, lesson_id=lesson.id, title="New lesson"),
    )
    await service.set_lesson_content(ADMIN, content_cmd(course, "new text"))

    for reader in (ANONYMOUS, A_USER):
        for outline in (
            await service.get_outline(reader, course.id),
            await service.get_outline_by_slug(reader, course.slug),
        ):
            assert (outline.title, outline.version_number, outline.has_unpublished_changes) == ("Version one", 1, False)
            [seen] = outline.sections[0].lessons
            assert (seen.title, seen.body_html, seen.body_markdown) == ("Lesson 1.1", "<p>old text</p>\n", None)
    [row] = (await service.list_courses(ANONYMOUS)).items
    assert row.title == "Version one"

    draft = await service.get_outline(ADMIN, course.id)
    assert (draft.title, draft.version_number, draft.has_unpublished_changes, draft.published_version) == (
        "Version two",
        None,
        True,
        1,
    )
    assert draft.sections[0].lessons[0].body_markdown == "new text"
    assert draft.sections[0].lessons[0].body_html == "<p>new text</p>\n"
    staff_published = await service.get_outline(ADMIN, course.id, "published")
    assert (staff_published.title, staff_published.has_unpublished_changes) == ("Version one", True)

    await service.publish(ADMIN, CourseRef(course_id=course.id))
    outline = await service.get_outline(ANONYMOUS, course.id)
    assert (outline.title, outline.version_number) == ("Version two", 2)
    assert outline.sections[0].lessons[0].body_html == "<p>new text</p>\n"
    assert (await service.get_outline(ANONYMOUS, course.id, 1)).title == "Version one"
    [row] = (await service.list_courses(ANONYMOUS)).items
    assert row.title == "Version two"


async def test_version_1_stays_byte_identical_after_version_2(service: CourseService, store: CourseStore) -> None:
    course = a_course()
    seed_course(store, course)
    await service.set_lesson_content(ADMIN, content_cmd(course, "first"))
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    v1_text = store.course_versions[(course.id, 1)][1]
    await service.set_lesson_content(ADMIN, content_cmd(course, "second"))
    await service.update(ADMIN, UpdateCourse(course_id=course.id, title="Other"))
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    assert store.course_versions[(course.id, 1)][1] == v1_text
    assert json.loads(store.course_versions[(course.id, 2)][1])["title"] == "Other"
    assert [v.number for v in (await service.list_versions(ADMIN, course.id)).items] == [2, 1]


async def test_unknown_versions_and_unpublished_courses_look_absent(service: CourseService, store: CourseStore) -> None:
    course = a_course(status=CourseStatus.PUBLISHED)
    seed_course(store, course)
    with pytest.raises(NotFound, match="course"):
        await service.get_outline(ANONYMOUS, course.id, 7)
    with pytest.raises(NotFound, match="version"):
        await service.get_outline(ADMIN, course.id, 7)
    await service.unpublish(ADMIN, CourseRef(course_id=course.id))
    for version in (None, "published", 1):
        with pytest.raises(NotFound, match="course"):
            await service.get_outline(A_USER, course.id, version)  # type: ignore[arg-type]
    assert (await service.get_outline(ADMIN, course.id, 1)).version_number == 1
    draft = a_course()
    seed_course(store, draft)
    with pytest.raises(NotFound):
        await service.get_outline(ANONYMOUS, draft.id)
    with pytest.raises(NotFound):
        await service.get_outline(ANONYMOUS, draft.id, "published")


async def test_the_version_list_is_for_staff(service: CourseService, store: CourseStore) -> None:
    published, draft = a_course(status=CourseStatus.PUBLISHED), a_course()
    seed_course(store, published)
    seed_course(store, draft)
    with pytest.raises(PermissionDenied):
        await service.list_versions(A_USER, published.id)
    with pytest.raises(NotFound):
        await service.list_versions(A_USER, draft.id)
    with pytest.raises(NotFound):
        await service.list_versions(ADMIN, uuid.uuid4())
    [only] = (await service.list_versions(ADMIN, published.id)).items
    assert (only.number, only.published_at) == (1, T0)


async def test_setting_content_checks_values_and_permissions(service: CourseService, store: CourseStore) -> None:
    course = a_course()
    seed_course(store, course)
    with pytest.raises(ValidationFailed) as exc:
        await service.set_lesson_content(
            ADMIN,
            content_cmd(
                course,
                "x",
                attachments=[
                    AttachmentSpec(name="a.pdf", url="javascript:alert(1)", size_bytes=1, content_type="text/plain")
                ],
            ),
        )
    assert exc.value.errors[0].field == "attachments.0.url"
    with pytest.raises(PermissionDenied):
        await service.set_lesson_content(A_USER, content_cmd(course, "x"))
    with pytest.raises(NotFound, match="lesson"):
        await service.set_lesson_content(
            ADMIN,
            SetLessonContent(
                course_id=course.id, section_id=course.sections[0].id, lesson_id=uuid.uuid4(), body_markdown="x"
            ),
        )
    assert store.outbox == []
    view = await service.set_lesson_content(ADMIN, content_cmd(course, "**bold**"))
    assert (view.body_markdown, view.body_html) == ("**bold**", "<p>**bold**</p>\n")


async def test_import_keeps_content_and_publishes_version_1(service: CourseService, store: CourseStore) -> None:
    spec = CourseSpec(
        slug="imported",
        title="Imported",
        status=CourseStatus.PUBLISHED,
        sections=[
            SectionSpec(
                title="S",
                lessons=[
                    LessonSpec(title="L", content=LessonContentSpec(body_markdown="<i>x</i>", duration_seconds=5))
                ],
            )
        ],
    )
    [course] = await service.import_courses(ADMIN, [spec])
    outline = await service.get_outline(ANONYMOUS, course.id)
    lesson = outline.sections[0].lessons[0]
    assert (outline.version_number, lesson.body_html, lesson.duration_seconds) == (
        1,
        "<p>&lt;i&gt;x&lt;/i&gt;</p>\n",
        5,
    )


# -- a property: whatever the edits, learners read the last published snapshot ------------

EDITS = st.lists(
    st.sampled_from(["title", "content", "rename", "publish", "unpublish", "publish"]), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS, texts=st.lists(st.text(max_size=30), min_size=12, max_size=12))
async def test_learners_always_read_what_was_last_published(edits: list[str], texts: list[str]) -> None:
    store = CourseStore()
    service = a_service(store)
    course = a_course()
    seed_course(store, course)
    section, lesson = course.sections[0], course.sections[0].lessons[0]
    expected: tuple[str, str] | None = None  # (title, lesson markdown as published)
    state = {"title": course.title, "body": ""}
    for n, (edit, text) in enumerate(zip(edits, texts, strict=False)):
        try:
            if edit == "title":
                state["title"] = f"Title {n}"
                await service.update(ADMIN, UpdateCourse(course_id=course.id, title=state["title"]))
            elif edit == "content":
                state["body"] = text.replace("\x00", "")
                await service.set_lesson_content(ADMIN, content_cmd(course, state["body"]))
            elif edit == "rename":
                await service.rename_lesson(
                    ADMIN, RenameLesson(course_id=course.id, section_id=section.id, lesson_id=lesson.id, title=f"L{n}")
                )
            elif edit == "publish":
                await service.publish(ADMIN, CourseRef(course_id=course.id))
                expected = (state["title"], state["body"])
            else:
                await service.unpublish(ADMIN, CourseRef(course_id=course.id))
                expected = None
        except Conflict:
            continue  # publishing without changes, unpublishing a draft
        if expected is None:
            with pytest.raises(NotFound):
                await service.get_outline(ANONYMOUS, course.id)
        else:
            outline = await service.get_outline(ANONYMOUS, course.id)
            assert outline.title == expected[0]
            assert outline.sections[0].lessons[0].body_html == escaped_text_html(expected[1])
