"""With ``ELEARNING_STORAGE_BACKEND=s3`` (SeaweedFS here) an attachment's bytes live in the bucket and a
download is a redirect to a presigned URL, which a plain HTTP client fetches from the store itself with the
file's name and type: the API never serves the bytes."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.attachment_helpers import PDF, Lesson, published_lesson, upload
from tests.e2e.http_helpers import ADMIN, Api, assert_problem, s3_settings_for, serve

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]
pytestmark = pytest.mark.asyncio(loop_scope="module")
BUCKET = "lesson-attachments"
MAX_BYTES = 12 * 1024 * 1024


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedS3) -> Settings:
    return s3_settings_for(tmp_path_factory.mktemp("attachments-s3"), seaweedfs, BUCKET, attachment_max_bytes=MAX_BYTES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


def keys(seaweedfs: SeaweedS3, lesson: Lesson) -> list[str]:
    listed = seaweedfs.client().list_objects_v2(Bucket=BUCKET, Prefix=f"attachments/{lesson.course_id}/")  # type: ignore[attr-defined]
    return [item["Key"] for item in listed.get("Contents", [])]


async def test_a_learner_is_sent_to_a_presigned_url_that_serves_the_file_as_a_download(
    api: Api, seaweedfs: SeaweedS3
) -> None:
    lesson = await published_lesson(api)
    made = await upload(api, lesson, "Résumé week 1.pdf", PDF)
    assert keys(seaweedfs, lesson) == [f"attachments/{lesson.course_id}/{lesson.lesson_id}/{made['id']}"]

    answer = await api.client.get(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers, follow_redirects=False)

    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(seaweedfs.endpoint)
    async with httpx.AsyncClient(timeout=30) as browser:  # no credentials: the signature is the access
        fetched = await browser.get(location)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == PDF
    assert fetched.headers["content-type"] == "application/pdf"
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="R_sum_ week 1.pdf"')
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20week%201.pdf" in disposition


async def test_an_outsider_gets_no_url_and_a_removed_file_leaves_the_bucket(api: Api, seaweedfs: SeaweedS3) -> None:
    lesson = await published_lesson(api)
    made = await upload(api, lesson, "notes.pdf", PDF)

    refused = await api.client.get(
        f"{lesson.url}/{made['id']}", headers=lesson.outsider.headers, follow_redirects=False
    )
    removed = await api.client.delete(f"{lesson.url}/{made['id']}", headers=ADMIN)

    assert_problem(refused, 403)
    assert "location" not in refused.headers
    assert removed.status_code == 204
    assert keys(seaweedfs, lesson) == []


async def test_a_refused_upload_leaves_nothing_in_the_bucket(api: Api, seaweedfs: SeaweedS3) -> None:
    lesson = await published_lesson(api)

    too_large = await api.client.post(
        lesson.url, params={"name": "a.pdf"}, content=PDF + b"0" * MAX_BYTES, headers=ADMIN
    )
    not_allowed = await api.client.post(lesson.url, params={"name": "a.pdf"}, content=b"MZ\x90\x00" * 10, headers=ADMIN)

    assert_problem(too_large, 413)
    assert_problem(not_allowed, 415)
    assert keys(seaweedfs, lesson) == []


async def test_a_file_larger_than_a_part_goes_up_in_parts_and_comes_back_whole(api: Api, seaweedfs: SeaweedS3) -> None:
    lesson = await published_lesson(api)
    big = PDF + bytes(range(256)) * (9 * 1024 * 1024 // 256)  # past one 8 MiB part: a multipart upload

    made = await upload(api, lesson, "dataset.pdf", big)
    answer = await api.client.get(f"{lesson.url}/{made['id']}", headers=lesson.learner.headers, follow_redirects=False)
    async with httpx.AsyncClient(timeout=60) as browser:
        fetched = await browser.get(answer.headers["location"])

    assert made["sha256"] == hashlib.sha256(big).hexdigest()
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == made["sha256"]


async def test_a_scanner_that_does_not_answer_refuses_the_upload_and_keeps_nothing(
    settings: Settings, seaweedfs: SeaweedS3
) -> None:
    with socket.socket() as placeholder:  # a loopback port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        down = settings.model_copy(update={"clamd_address": f"tcp://127.0.0.1:{placeholder.getsockname()[1]}"})
        async with serve(down) as app:
            lesson = await published_lesson(app)
            answer = await app.client.post(lesson.url, params={"name": "a.pdf"}, content=PDF, headers=ADMIN)
            listed = await app.client.get(lesson.url, headers=ADMIN)

    problem = assert_problem(answer, 503)
    assert problem["type"] == "urn:elearning:problem:scanner-unavailable"
    assert answer.headers["retry-after"] == "30"
    assert listed.json()["items"] == []
    assert keys(seaweedfs, lesson) == []
