"""The video and upload API as a client sees it: tus protocol refusals, captions, and problem documents.

No ffmpeg here: nothing is uploaded to completion (the pipeline is covered
by tests/integration/test_video_pipeline.py).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from elearning_core.video.model import ProbeResult, Rendition, VideoSource
from tests.e2e.http_helpers import ADMIN, Api, assert_problem, serve, settings_for

TUS = {"Tus-Resumable": "1.0.0"}
UPLOADS = "/api/v1/uploads"
MAX = 10_000
PASSWORD = "correct horse battery"


pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs and s3_bucket fixtures


def s3_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The object-store backend on a new SeaweedFS bucket: the tus uploads take the multipart path."""
    server, bucket = request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket")
    return {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": server.endpoint,
        "s3_access_key_id": server.access_key,
        "s3_secret_access_key": server.secret_key,
    }


@pytest.fixture(params=["local", "s3"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    backend = s3_settings(request) if request.param == "s3" else {}
    database = f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}"
    settings = settings_for(database, tmp_path, video_max_upload_bytes=MAX, **backend)
    async with serve(settings) as running:
        yield running


async def a_video(api: Api) -> dict[str, Any]:
    course = await api.create("Video course")
    response = await api.client.post(f"/api/v1/courses/{course['id']}/videos", json={"title": "Intro"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


def metadata(video_id: str) -> str:
    return (
        "video_id " + base64.b64encode(video_id.encode()).decode() + ",filename " + base64.b64encode(b"a.mp4").decode()
    )


async def an_upload(api: Api, video_id: str, length: int = 1000) -> str:
    created = await api.client.post(
        UPLOADS, headers={**ADMIN, **TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(video_id)}
    )
    assert created.status_code == 201, created.text
    assert created.headers["tus-resumable"] == "1.0.0"
    return created.headers["location"]


async def test_tus_discovery_advertises_the_extensions(api: Api) -> None:
    response = await api.client.options(UPLOADS)
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-extension"] == "creation,termination,checksum"
    assert response.headers["tus-checksum-algorithm"] == "sha1,sha256"
    assert response.headers["tus-max-size"] == str(MAX)


async def test_tus_refusals_are_problem_documents_with_the_tus_header(api: Api) -> None:
    video = await a_video(api)
    cases = [
        (await api.client.post(UPLOADS, headers={**ADMIN, "Upload-Length": "10"}), 412, None),
        (
            await api.client.post(
                UPLOADS,
                headers={**ADMIN, **TUS, "Upload-Length": str(MAX + 1), "Upload-Metadata": metadata(video["id"])},
            ),
            413,
            None,
        ),
        (await api.client.post(UPLOADS, headers={**ADMIN, **TUS, "Upload-Length": "10"}), 422, "Upload-Metadata"),
        (
            await api.client.post(UPLOADS, headers={**ADMIN, **TUS, "Upload-Metadata": metadata(video["id"])}),
            422,
            "upload-length",
        ),
        (
            await api.client.post(
                UPLOADS, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(video["id"])}
            ),
            401,
            None,
        ),
        (
            await api.client.post(
                UPLOADS, headers={**ADMIN, **TUS, "Upload-Length": "10", "Upload-Metadata": metadata(str(uuid.uuid4()))}
            ),
            404,
            None,
        ),
    ]
    for response, status, field in cases:
        body = assert_problem(response, status, field=field)
        assert response.headers["tus-resumable"] == "1.0.0", body
    assert (await api.client.post(UPLOADS, headers={**ADMIN, "Upload-Length": "10"})).headers["tus-version"] == "1.0.0"

    url = await an_upload(api, video["id"])
    patch = {**ADMIN, **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert_problem(
        await api.client.patch(url, content=b"x", headers={**patch, "Content-Type": "application/json"}), 415
    )
    assert_problem(await api.client.patch(url, content=b"x", headers={**patch, "Upload-Offset": "5"}), 409)
    assert_problem(await api.client.patch(url, content=b"x", headers={**patch, "Upload-Checksum": "md5 AAAA"}), 422)
    assert_problem(await api.client.patch(url, content=b"x" * 1001, headers=patch), 413)
    ok = await api.client.patch(url, content=b"x" * 10, headers=patch)
    assert ok.status_code == 204
    assert ok.headers["upload-offset"] == "10"
    head = await api.client.head(url, headers={**ADMIN, **TUS})
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("10", "1000")
    assert_problem(
        await api.client.patch(
            url, content=b"x", headers={**TUS, **{k: v for k, v in patch.items() if k != "Authorization"}}
        ),
        401,
    )


async def test_termination_forgets_the_upload_and_the_video_returns_to_draft(api: Api) -> None:
    video = await a_video(api)
    url = await an_upload(api, video["id"])
    status = (await api.client.get(f"/api/v1/videos/{video['id']}", headers=ADMIN)).json()["status"]
    assert status == "uploading"
    assert (await api.client.delete(url, headers={**ADMIN, **TUS})).status_code == 204
    assert_problem(
        await api.client.patch(
            url,
            content=b"x",
            headers={**ADMIN, **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        ),
        404,
    )
    assert (await api.client.get(f"/api/v1/videos/{video['id']}", headers=ADMIN)).json()["status"] == "draft"


async def test_captions_are_validated_stored_listed_and_removed(api: Api) -> None:
    video = await a_video(api)
    url = f"/api/v1/videos/{video['id']}/captions"
    vtt = {**ADMIN, "Content-Type": "text/vtt"}
    bad = await api.client.put(f"{url}/en", content="WEBVTT\n\n00:02.000 --> 00:01.000\nHi\n", headers=vtt)
    body = assert_problem(bad, 422, field="body")
    assert body["errors"][0]["message"].startswith("line 3:")
    assert_problem(await api.client.put(f"{url}/en", content="Hello", headers=vtt), 422, field="body")
    assert_problem(
        await api.client.put(f"{url}/en", content="WEBVTT\n", headers={**ADMIN, "Content-Type": "text/plain"}), 415
    )
    assert_problem(await api.client.put(f"{url}/en_US!", content="WEBVTT\n", headers=vtt), 422, field="language")
    assert_problem(await api.client.put(f"{url}/en", content=b"x" * (1024 * 1024 + 1), headers=vtt), 413)
    good = "WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n"
    created = await api.client.put(f"{url}/pt-BR?label=Portugu%C3%AAs", content=good, headers=vtt)
    assert created.status_code == 201, created.text
    assert created.json()["label"] == "Português"
    assert (await api.client.put(f"{url}/pt-BR", content=good, headers=vtt)).status_code == 200
    listed = await api.client.get(url, headers=ADMIN)
    assert [c["language"] for c in listed.json()["items"]] == ["pt-BR"]
    assert (await api.client.delete(f"{url}/pt-BR", headers=ADMIN)).status_code == 204
    assert_problem(await api.client.delete(f"{url}/pt-BR", headers=ADMIN), 404)
    assert_problem(await api.client.put(f"/api/v1/videos/{uuid.uuid4()}/captions/en", content=good, headers=vtt), 404)


async def test_video_routes_answer_with_problem_documents(api: Api) -> None:
    video = await a_video(api)
    vid = video["id"]
    assert video["status"] == "draft"
    assert_problem(
        await api.client.post(f"/api/v1/courses/{uuid.uuid4()}/videos", json={"title": "x"}, headers=ADMIN), 404
    )
    assert_problem(
        await api.client.post(f"/api/v1/courses/{video['course_id']}/videos", json={"title": " "}, headers=ADMIN),
        422,
        field="title",
    )
    assert_problem(await api.client.post(f"/api/v1/courses/{video['course_id']}/videos", json={"title": "x"}), 401)
    assert_problem(await api.client.get(f"/api/v1/videos/{uuid.uuid4()}", headers=ADMIN), 404)
    assert_problem(await api.client.get(f"/api/v1/videos/{vid}/playback", headers=ADMIN), 409)
    # The course is a draft: its videos do not exist for anyone but its staff (content gating).
    assert_problem(await api.client.get(f"/api/v1/videos/{vid}/playback"), 404)
    assert_problem(await api.client.post(f"/api/v1/videos/{vid}/reprocess", headers=ADMIN), 409)
    assert_problem(
        await api.client.put(f"/api/v1/videos/{vid}/position", json={"position_seconds": -1}, headers=ADMIN), 422
    )
    assert_problem(await api.client.get(f"/api/v1/media/1.{uuid.uuid4().hex}.abc/videos/{vid}/hls/master.m3u8"), 403)

    await api.platform.identity.create_user(
        SYSTEM, CreateUser(email="lee@example.com", display_name="Lee", password=PASSWORD)
    )
    login = await api.client.post("/api/v1/auth/login", json={"email": "lee@example.com", "password": PASSWORD})
    learner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert_problem(
        await api.client.post(f"/api/v1/courses/{video['course_id']}/videos", json={"title": "x"}, headers=learner), 403
    )
    assert_problem(await api.client.get(f"/api/v1/videos/{vid}", headers=learner), 404)
    assert_problem(await api.client.get(f"/api/v1/courses/{video['course_id']}/videos", headers=learner), 403)
    assert_problem(
        await api.client.post(
            UPLOADS, headers={**learner, **TUS, "Upload-Length": "10", "Upload-Metadata": metadata(vid)}
        ),
        403,
    )

    listed = await api.client.get(f"/api/v1/courses/{video['course_id']}/videos", headers=ADMIN)
    assert [v["id"] for v in listed.json()["items"]] == [vid]
    assert (await api.client.delete(f"/api/v1/videos/{vid}", headers=ADMIN)).status_code == 204
    assert_problem(await api.client.get(f"/api/v1/videos/{vid}", headers=ADMIN), 404)


async def test_the_video_routes_are_in_the_openapi_schema(api: Api) -> None:
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/courses/{course_id}/videos",
        "/api/v1/videos/{video_id}",
        "/api/v1/videos/{video_id}/captions/{language}",
        "/api/v1/videos/{video_id}/playback",
        "/api/v1/videos/{video_id}/position",
        "/api/v1/uploads",
        "/api/v1/uploads/{upload_id}",
    ):
        assert path in paths, path
    assert {"head", "patch", "delete"} <= paths["/api/v1/uploads/{upload_id}"].keys()


async def test_a_position_past_the_end_of_a_ready_video_is_kept_as_the_end(api: Api) -> None:
    """No ffmpeg here: the video is marked ready through its aggregate, as the pipeline does after probing."""
    video = await a_video(api)
    async with api.platform.container.adapters.unit_of_work() as uow:
        stored = await uow.videos.get(uuid.UUID(video["id"]))
        assert stored is not None
        stored.start_upload(stored.created_at)
        stored.complete_upload(VideoSource(f"videos/{video['id']}/source", 1000, "a" * 64), stored.created_at)
        rendition = Rendition("360p", 640, 360, 896_000, "360p/index.m3u8")
        stored.mark_ready(ProbeResult(2.5, 1280, 720, True, "h264"), [rendition], stored.created_at)
        await uow.commit()
    # Learners watch the videos of a published course (content gating: a draft course's are not found).
    section = await api.add_section(video["course_id"], "Only section")
    await api.add_lesson(video["course_id"], section["id"], "Only lesson")
    await api.publish(video["course_id"])
    user = await api.platform.identity.create_user(
        SYSTEM, CreateUser(email="lee@example.com", display_name="Lee", password=PASSWORD)
    )
    await api.platform.enrollments.enroll(SYSTEM, uuid.UUID(video["course_id"]), user.id)
    login = await api.client.post("/api/v1/auth/login", json={"email": "lee@example.com", "password": PASSWORD})
    learner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    url = f"/api/v1/videos/{video['id']}/position"

    beyond = await api.client.put(url, json={"position_seconds": 3600}, headers=learner)
    assert beyond.status_code == 200, beyond.text
    assert beyond.json()["position_seconds"] == 2.5
    assert (await api.client.get(url, headers=learner)).json()["position_seconds"] == 2.5
    within = await api.client.put(url, json={"position_seconds": 1.25}, headers=learner)
    assert within.json()["position_seconds"] == 1.25
