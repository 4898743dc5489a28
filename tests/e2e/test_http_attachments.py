"""Lesson attachments over HTTP on the local store, with a real clamd scanning every upload (tests/clamd.py):
staff upload, learners who may read the lesson download, everyone else is refused as gating says, and
the limits, the sniffing and the scanner refuse what they must, leaving nothing behind."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import course, enroll, person
from tests.e2e.attachment_helpers import (
    PDF,
    PNG,
    Lesson,
    office_package,
    plain_zip,
    published_lesson,
    upload,
)
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, assert_problem, backend_settings, serve
from tests.e2e.test_http_discussion import discussion_events as events_of  # the outbox's payloads of a type

if TYPE_CHECKING:
    from tests.clamd import Clamd

pytest_plugins = ["tests.clamd"]
pytestmark = pytest.mark.asyncio(loop_scope="module")
MAX_BYTES = 256 * 1024
MAX_PER_LESSON = 3


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, clamd: Clamd) -> Settings:
    return backend_settings(
        request,
        tmp_path_factory.mktemp("attachments"),
        attachment_max_bytes=MAX_BYTES,
        attachment_max_per_lesson=MAX_PER_LESSON,
        clamd_address=clamd.tcp_address,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def lesson(api: Api) -> Lesson:
    return await published_lesson(api)


def stored(settings: Settings, lesson: Lesson) -> list[Path]:
    """The attachment objects the local store holds for the lesson."""
    folder = Path(settings.resolved_media_dir) / "attachments" / lesson.course_id / lesson.lesson_id
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_staff_upload_and_an_enrolled_learner_downloads_the_same_bytes(api: Api, lesson: Lesson) -> None:
    made = await upload(api, lesson, "week 1 notes.pdf", PDF, content_type="text/html")

    assert made["content_type"] == "application/pdf"  # sniffed; the request's Content-Type is ignored
    assert (made["name"], made["size"], made["sha256"]) == (
        "week 1 notes.pdf",
        len(PDF),
        hashlib.sha256(PDF).hexdigest(),
    )
    listing = await api.client.get(lesson.url, headers=lesson.learner.headers)
    assert listing.status_code == 200, listing.text
    assert [item["id"] for item in listing.json()["items"]] == [made["id"]]

    answer = await api.client.get(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers)

    assert answer.status_code == 200, answer.text
    assert answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"week 1 notes.pdf\"; filename*=UTF-8''week%201%20notes.pdf"
    )
    assert answer.headers["x-content-type-options"] == "nosniff"
    (added,) = [e for e in await events_of(api, "attachment.added.v1") if e["aggregate_id"] == made["id"]]
    assert added["lesson_id"] == lesson.lesson_id


async def test_who_may_not_read_the_lesson_may_not_list_or_download(api: Api, lesson: Lesson) -> None:
    made = await upload(api, lesson, "notes.pdf", PDF)

    for headers in (lesson.outsider.headers, {}):
        for url in (lesson.url, f"{lesson.url}/{made['id']}"):
            answer = await api.client.get(url, headers=headers)
            body = assert_problem(answer, 403)
            assert body["type"] == "urn:elearning:problem:enrollment-required"


async def test_a_lesson_only_in_the_draft_is_not_found_for_learners_but_staff_attach_to_it(
    api: Api, lesson: Lesson
) -> None:
    outline = await api.outline(lesson.course_id)
    draft = await api.add_lesson(lesson.course_id, outline["sections"][0]["id"], "Not published yet")
    url = f"{COURSES}/{lesson.course_id}/lessons/{draft['id']}/attachments"
    response = await api.client.post(url, params={"name": "draft.pdf"}, content=PDF, headers=ADMIN)
    assert response.status_code == 201, response.text

    assert_problem(await api.client.get(url, headers=lesson.learner.headers), 404)
    assert_problem(await api.client.get(f"{url}/{response.json()['id']}", headers=lesson.learner.headers), 404)
    assert (await api.client.get(url, headers=ADMIN)).json()["items"][0]["name"] == "draft.pdf"


async def test_only_course_staff_upload_and_remove(api: Api, lesson: Lesson) -> None:
    made = await upload(api, lesson, "notes.pdf", PDF)

    learner_upload = await api.client.post(
        lesson.url, params={"name": "x.pdf"}, content=PDF, headers=lesson.learner.headers
    )
    anonymous_upload = await api.client.post(lesson.url, params={"name": "x.pdf"}, content=PDF)
    learner_delete = await api.client.delete(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers)

    assert_problem(learner_upload, 403)
    assert_problem(anonymous_upload, 401)
    assert_problem(learner_delete, 403)
    assert (await api.client.get(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers)).status_code == 200


async def test_an_instructor_of_the_course_uploads(api: Api, lesson: Lesson) -> None:
    instructor = await person(api, role="instructor", course_id=lesson.course_id, name="teacher")
    other = await person(api, role="instructor", course_id=await course(api), name="elsewhere")

    mine = await api.client.post(lesson.url, params={"name": "a.pdf"}, content=PDF, headers=instructor.headers)
    theirs = await api.client.post(lesson.url, params={"name": "a.pdf"}, content=PDF, headers=other.headers)

    assert mine.status_code == 201, mine.text
    assert_problem(theirs, 403)


async def test_removing_deletes_the_file_and_records_it(api: Api, lesson: Lesson, settings: Settings) -> None:
    made = await upload(api, lesson, "notes.pdf", PDF)
    assert len(stored(settings, lesson)) == 1 or settings.storage_backend != "local"

    answer = await api.client.delete(f"{lesson.url}/{made['id']}", headers=ADMIN)

    assert answer.status_code == 204, answer.text
    assert_problem(await api.client.get(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers), 404)
    assert stored(settings, lesson) == []
    assert [e["aggregate_id"] for e in await events_of(api, "attachment.removed.v1")][-1] == made["id"]
    assert_problem(await api.client.delete(f"{lesson.url}/{made['id']}", headers=ADMIN), 404)


async def test_a_file_over_the_size_limit_is_413_and_nothing_is_kept(
    api: Api, lesson: Lesson, settings: Settings
) -> None:
    # The announced length refuses it before a byte is read; a stream without one is counted as it arrives
    # (tests/unit/attachment/test_inspection.py: the test client always sends Content-Length).
    answer = await api.client.post(
        lesson.url, params={"name": "big.pdf"}, content=PDF + b"0" * MAX_BYTES, headers=ADMIN
    )

    assert assert_problem(answer, 413)["type"] == "urn:elearning:problem:attachment-too-large"
    assert stored(settings, lesson) == []
    assert (await api.client.get(lesson.url, headers=ADMIN)).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 300, "syllabus.pdf"),  # a Windows executable named as a PDF
        (plain_zip(), "slides.zip"),  # a bare archive: not allowed by default
        (b"\x00\x01\x02binary" * 20, "data.txt"),
        (b"", "empty.txt"),
    ],
)
async def test_content_that_is_not_an_allowed_type_is_415_whatever_its_name_and_header(
    api: Api, lesson: Lesson, settings: Settings, body: bytes, name: str
) -> None:
    answer = await api.client.post(
        lesson.url, params={"name": name}, content=body, headers={**ADMIN, "Content-Type": "application/pdf"}
    )

    assert assert_problem(answer, 415)["type"] == "urn:elearning:problem:unsupported-attachment-type"
    assert stored(settings, lesson) == []


@pytest.mark.parametrize(
    ("body", "name", "content_type", "offered"),
    [
        (PNG, "diagram.pdf", "image/png", "diagram.pdf.png"),
        (
            office_package("word"),
            "essay.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "essay.docx",
        ),
        (
            office_package("xl"),
            "grades",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "grades.xlsx",
        ),
        ("<script>alert(1)</script> café\n".encode(), "page.html", "text/plain", "page.html.txt"),
    ],
)
async def test_the_type_is_sniffed_and_the_name_made_to_fit_it(
    api: Api, lesson: Lesson, body: bytes, name: str, content_type: str, offered: str
) -> None:
    made = await upload(api, lesson, name, body, content_type="application/octet-stream")

    assert (made["content_type"], made["name"]) == (content_type, offered)
    answer = await api.client.get(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers)
    assert answer.headers["content-type"].split(";")[0] == content_type
    assert answer.content == body


async def test_a_lesson_holds_at_most_the_configured_count(api: Api, lesson: Lesson) -> None:
    for n in range(MAX_PER_LESSON):
        await upload(api, lesson, f"part {n}.pdf", PDF)

    answer = await api.client.post(lesson.url, params={"name": "one more.pdf"}, content=PDF, headers=ADMIN)

    assert assert_problem(answer, 409)["type"] == "urn:elearning:problem:attachment-limit"


@pytest.mark.parametrize("name", ["../etc/passwd", ".hidden", "a\\b.pdf", "tab\there.pdf"])
async def test_a_name_that_is_not_a_plain_file_name_is_422(api: Api, lesson: Lesson, name: str) -> None:
    answer = await api.client.post(lesson.url, params={"name": name}, content=PDF, headers=ADMIN)

    assert_problem(answer, 422, field="name")


async def test_without_a_name_the_content_disposition_header_names_the_file(api: Api, lesson: Lesson) -> None:
    answer = await api.client.post(
        lesson.url, content=PDF, headers={**ADMIN, "Content-Disposition": 'attachment; filename="From header.pdf"'}
    )
    missing = await api.client.post(lesson.url, content=PDF, headers=ADMIN)

    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "From header.pdf"
    assert_problem(missing, 422, field="name")


async def test_an_infected_file_is_refused_deleted_and_recorded(api: Api, lesson: Lesson, settings: Settings) -> None:
    from tests.clamd import EICAR

    body = b"Read this before the exam.\n" + EICAR + b"\n"

    answer = await api.client.post(lesson.url, params={"name": "revision.txt"}, content=body, headers=ADMIN)

    problem = assert_problem(answer, 422)
    assert problem["type"] == "urn:elearning:problem:validation-failed"
    assert "Elearning.Test.EICAR" in problem["detail"]
    assert stored(settings, lesson) == []
    assert (await api.client.get(lesson.url, headers=ADMIN)).json()["items"] == []
    rejected = [e for e in await events_of(api, "attachment.rejected.v1") if e["lesson_id"] == lesson.lesson_id]
    assert [e["signature"] for e in rejected] == ["Elearning.Test.EICAR.UNOFFICIAL"]
    assert rejected[0]["sha256"] == hashlib.sha256(body).hexdigest()


async def test_an_unknown_lesson_or_attachment_is_404(api: Api, lesson: Lesson) -> None:
    unknown_lesson = f"{COURSES}/{lesson.course_id}/lessons/{uuid.uuid4()}/attachments"

    assert_problem(await api.client.post(unknown_lesson, params={"name": "a.pdf"}, content=PDF, headers=ADMIN), 404)
    assert_problem(await api.client.get(unknown_lesson, headers=lesson.learner.headers), 404)
    assert_problem(await api.client.get(f"{lesson.url}/{uuid.uuid4()}", headers=lesson.learner.headers), 404)


async def test_a_preview_lessons_files_are_open_to_all_and_a_later_sections_wait_for_its_release(api: Api) -> None:
    created = await api.create("Gated files")
    course_id = created["id"]
    open_section = await api.add_section(course_id, "Open")
    later_section = await api.add_section(course_id, "Later")
    preview = await api.add_lesson(course_id, open_section["id"], "Preview")
    later = await api.add_lesson(course_id, later_section["id"], "Later reading")
    content_url = f"{COURSES}/{course_id}/sections/{open_section['id']}/lessons/{preview['id']}/content"
    assert (await api.client.put(content_url, json={"preview": True}, headers=ADMIN)).status_code == 200
    release_at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()
    release_url = f"{COURSES}/{course_id}/sections/{later_section['id']}/release"
    assert (await api.client.put(release_url, json={"release_at": release_at}, headers=ADMIN)).status_code == 200
    await api.publish(course_id)
    learner = await person(api, name="learner")
    await enroll(api, course_id, learner)
    preview_lesson = Lesson(course_id, preview["id"], learner, learner)
    later_lesson = Lesson(course_id, later["id"], learner, learner)
    shown = await upload(api, preview_lesson, "free sample.pdf", PDF)
    held = await upload(api, later_lesson, "exam answers.pdf", PDF)

    anonymous = await api.client.get(f"{preview_lesson.url}/{shown['id']}")
    waiting = await api.client.get(f"{later_lesson.url}/{held['id']}", headers=learner.headers)

    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.content == PDF
    body = assert_problem(waiting, 403)
    assert body["type"] == "urn:elearning:problem:not-yet-released"
    assert body["available_at"].startswith(release_at[:19])
