"""Builders for the attachment end-to-end tests: a published course with a lesson, its people, and files of
every kind (a real PDF header, PNG, office packages built with ``zipfile``)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from tests.e2e.assessment_helpers import Person, course, enroll, person
from tests.e2e.http_helpers import ADMIN, COURSES, Api, Json

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + b"0" * 2000 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 200


def office_package(first_folder: str) -> bytes:
    """A zip laid out as an OOXML package: ``[Content_Types].xml`` first, then ``<folder>/...``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        package.writestr("_rels/.rels", "<Relationships/>")
        package.writestr(f"{first_folder}/document.xml", "<document/>")
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("setup.exe", b"MZ\x90\x00")
    return buffer.getvalue()


@dataclass(frozen=True)
class Lesson:
    course_id: str
    lesson_id: str
    learner: Person
    outsider: Person

    @property
    def url(self) -> str:
        return f"{COURSES}/{self.course_id}/lessons/{self.lesson_id}/attachments"


async def published_lesson(api: Api) -> Lesson:
    """A published course's one lesson, a learner enrolled in it, and a signed-in outsider."""
    course_id = await course(api)
    outline = await api.outline(course_id)
    lesson_id = outline["sections"][0]["lessons"][0]["id"]
    learner, outsider = await person(api, name="learner"), await person(api, name="outsider")
    await enroll(api, course_id, learner)
    return Lesson(course_id, lesson_id, learner, outsider)


async def upload(api: Api, lesson: Lesson, name: str, body: bytes, content_type: str = "application/pdf") -> Json:
    response = await api.client.post(
        lesson.url, params={"name": name}, content=body, headers={**ADMIN, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    body_json: Json = response.json()
    return body_json
