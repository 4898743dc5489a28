"""The video pipeline on the object store, with the transcoder on "another host": real processes on loopback.

An ``elearning serve`` API and an ``elearning worker events`` worker (which runs the ``video-processing``
consumer, so ffmpeg) share PostgreSQL and a SeaweedFS bucket, and nothing else: each has its own data
directory, and the worker its own ``TMPDIR``. A clip uploaded through the API's tus endpoint is transcoded
by the worker from the store into the store; playback then goes through the API for the playlists only,
and an httpx player fetches every segment from SeaweedFS directly, which the API's
``elearning_media_served_bytes`` counter confirms (zero segment bytes through the API process).
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from tests import served
from tests.hls_player import media_bytes, play, uris
from tests.integration.test_video_pipeline import ADMIN, ELEARNING, TOKEN, Server, _empty, make_clip
from tests.processes import stop_process_group

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs fixture
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        (shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None) and not os.environ.get("CI"),
        reason="ffmpeg and ffprobe are not installed (.ci/run installs them)",
    ),
]
BUCKET = "hls-pipeline"
MARGIN = 4
"""ELEARNING_PLAYBACK_MEDIA_URL_MARGIN_SECONDS: store URLs live the clip's 6 s plus this."""
MEDIA_SUFFIXES = {".ts", ".m3u8", ".jpg", ".vtt", ".mp4"}
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of 720p with sound: two 4-second segments per rung."""
    return make_clip(tmp_path_factory.mktemp("clip") / "clip6.mp4", 6)


class Deployment:
    def __init__(self, api: Server, store: SeaweedS3, worker_dirs: list[Path], logs: dict[str, Path]) -> None:
        self.api, self.store, self.worker_dirs, self.logs = api, store, worker_dirs, logs
        self.s3: Any = store.client()

    @property
    def public(self) -> str:
        return f"http://localhost:{self.store.port}"

    def keys(self, prefix: str) -> set[str]:
        answer = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {entry["Key"] for entry in answer.get("Contents", [])}

    def object(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def media_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and (p.suffix in MEDIA_SUFFIXES or p.name == "source")]


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedS3, postgres_url: str
) -> Iterator[Deployment]:
    seaweedfs.client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    asyncio.run(_empty(postgres_url))
    root = tmp_path_factory.mktemp("hls-s3")
    common = {
        "database_url": postgres_url,
        "storage_backend": "s3",
        "s3_endpoint_url": seaweedfs.endpoint,
        "s3_public_endpoint_url": f"http://localhost:{seaweedfs.port}",  # browsers' name for the store
        "s3_bucket": BUCKET,
        "s3_access_key_id": seaweedfs.access_key,
        "s3_secret_access_key": seaweedfs.secret_key,
        "s3_presign_expiry_seconds": "1",
        "playback_media_url_margin_seconds": str(MARGIN),
        "events_relay": "worker",  # the API only writes the outbox; the worker process handles the events
        "transcode_timeout_seconds": "120",
    }
    api_dir, worker_dir, worker_tmp = root / "api", root / "worker", root / "worker-tmp"
    worker_tmp.mkdir()
    api_env = served.serve_env(api_dir, **common) | {"ELEARNING_ADMIN_TOKEN": TOKEN}
    worker_env = served.serve_env(worker_dir, **common) | {"TMPDIR": str(worker_tmp)}
    with (root / "worker.log").open("wb") as out:
        worker = subprocess.Popen(
            [ELEARNING, "worker", "events"],
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with served.serving(api_env, root / "api.log") as api:
            logs = {"api": root / "api.log", "worker": root / "worker.log"}
            yield Deployment(Server(api.base, api_dir, {}), seaweedfs, [worker_dir, worker_tmp], logs)
            assert "Traceback" not in api.output(), api.output()[-5000:]
    finally:
        stop_process_group(worker, 60)
        log = (root / "worker.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-5000:]


@pytest.fixture(scope="module")
def ready_video(deployment: Deployment, clip: Path) -> tuple[str, str]:
    """A course with a video uploaded through the API and transcoded by the worker: (course id, video id)."""
    course_id, video_id = deployment.api.create_video()
    deployment.api.upload(video_id, clip)
    video = deployment.api.settled(video_id)
    assert video["status"] == "ready", video
    return course_id, video_id


@pytest.fixture(scope="module")
def learner(deployment: Deployment, ready_video: tuple[str, str]) -> dict[str, str]:
    """An enrolled learner's headers (the course is published for it)."""
    course_id, _ = ready_video
    learner_id, headers = deployment.api.user("learner")
    deployment.api.publish(course_id)
    deployment.api.enroll(course_id, learner_id)
    return headers


def test_the_worker_reads_the_source_from_the_bucket_and_writes_the_ladder_there_and_nowhere_else(
    deployment: Deployment, ready_video: tuple[str, str], clip: Path
) -> None:
    _, video_id = ready_video
    prefix = f"videos/{video_id}/"
    stored = deployment.keys(prefix)

    assert f"{prefix}source" in stored
    assert deployment.object(f"{prefix}source") == clip.read_bytes()
    hls = {key.removeprefix(f"{prefix}hls/") for key in stored if key.startswith(f"{prefix}hls/")}
    assert {"master.m3u8", "360p/index.m3u8", "720p/index.m3u8", "thumbnail.jpg"} <= hls
    assert {"360p/seg_0000.ts", "360p/seg_0001.ts", "720p/seg_0000.ts", "720p/seg_0001.ts"} <= hls
    assert deployment.object(f"{prefix}hls/thumbnail.jpg")[:2] == b"\xff\xd8"
    processed = f"video {video_id} processed: ready"
    assert processed in deployment.logs["worker"].read_text()  # the worker process transcoded it
    assert processed not in deployment.logs["api"].read_text()
    assert media_files(deployment.api.data_dir) == []  # nothing of the video on the API's disk
    for directory in deployment.worker_dirs:
        assert media_files(directory) == []  # and the worker's staging is gone


def test_playlists_come_from_the_api_and_every_segment_from_the_store_directly(
    deployment: Deployment, ready_video: tuple[str, str], learner: dict[str, str]
) -> None:
    _, video_id = ready_video
    api = deployment.api
    before = media_bytes(api.base)

    grant = api.http.get(f"/api/v1/videos/{video_id}/playback", headers=learner)
    assert grant.status_code == 200, grant.text
    master_url = grant.json()["url"]
    assert master_url.startswith(f"{api.base}/api/v1/media/")
    with httpx.Client(timeout=10) as player:  # no credentials: the URLs are the grant
        played = play(player, master_url)
    fetched_at = time.monotonic()

    # The master names the variants relatively: they resolve to the API, which serves them rewritten.
    assert uris(played.master) == ["360p/index.m3u8", "720p/index.m3u8"]
    assert all(url.startswith(f"{api.base}/api/v1/media/") for url in played.playlists)
    assert len(played.segments) == 4
    duration = api.video(video_id)["duration_seconds"]
    lifetime = max(1, math.ceil(duration) + MARGIN) + MARGIN  # a signed playlist may be handed out MARGIN later
    for url in played.segments:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == deployment.public
        query = parse_qs(parts.query)
        assert query["X-Amz-Expires"] == [str(lifetime)]
        assert "X-Amz-Signature" in query
        key = unquote(parts.path).removeprefix(f"/{BUCKET}/")
        assert played.segment_bytes[url] == deployment.object(key)

    # Bytes by origin: the API sent the playlists, the store every segment; the API's own counter agrees.
    segment_total = sum(len(data) for data in played.segment_bytes.values())
    assert played.bytes_by_origin[deployment.public] == segment_total > 0
    api_bytes = played.bytes_by_origin[api.base]
    after = media_bytes(api.base)
    assert after.get("segment", 0) - before.get("segment", 0) == 0
    assert after["playlist"] - before.get("playlist", 0) == api_bytes > 0

    # The presigned URLs expire as configured (the video's duration plus the margin).
    status = 200
    deadline = fetched_at + lifetime + 20
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = httpx.get(played.segments[0], timeout=10).status_code
    assert status == 403
    assert time.monotonic() - fetched_at >= lifetime - 1  # signed to the second: up to one early


def test_thumbnail_and_captions_are_presigned_and_files_asked_of_the_api_redirect_to_the_store(
    deployment: Deployment, ready_video: tuple[str, str]
) -> None:
    _, video_id = ready_video
    api = deployment.api
    caption = api.http.put(
        f"/api/v1/videos/{video_id}/captions/en", content=VTT, headers={**ADMIN, "Content-Type": "text/vtt"}
    )
    assert caption.status_code in (200, 201), caption.text
    assert deployment.object(f"videos/{video_id}/captions/en.vtt").decode() == VTT
    assert media_files(api.data_dir) == []
    before = media_bytes(api.base)

    playback = api.http.get(f"/api/v1/videos/{video_id}/playback", headers=ADMIN).json()

    assert playback["thumbnail_url"].startswith(f"{deployment.public}/{BUCKET}/videos/{video_id}/hls/thumbnail.jpg?")
    assert httpx.get(playback["thumbnail_url"], timeout=10).content[:2] == b"\xff\xd8"
    (en,) = playback["captions"]
    assert en["url"].startswith(f"{deployment.public}/{BUCKET}/videos/{video_id}/captions/en.vtt?")
    assert httpx.get(en["url"], timeout=10).text == VTT
    segment = playback["url"].replace("master.m3u8", "720p/seg_0000.ts")
    redirected = httpx.get(segment, timeout=10)
    assert redirected.status_code == 307
    assert redirected.headers["location"].startswith(f"{deployment.public}/{BUCKET}/videos/{video_id}/hls/720p/")
    assert httpx.get(redirected.headers["location"], timeout=10).content == deployment.object(
        f"videos/{video_id}/hls/720p/seg_0000.ts"
    )
    assert media_bytes(api.base).get("segment", 0) == before.get("segment", 0)


def test_playlists_are_only_for_those_who_may_watch(
    deployment: Deployment, ready_video: tuple[str, str], learner: dict[str, str]
) -> None:
    _, video_id = ready_video
    api = deployment.api
    _, stranger = api.user("stranger")
    for caller in ({}, stranger):
        refused = api.http.get(f"/api/v1/videos/{video_id}/playback", headers=caller)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:elearning:problem:enrollment-required"

    master_url = api.http.get(f"/api/v1/videos/{video_id}/playback", headers=learner).json()["url"]
    variant_url = master_url.replace("master.m3u8", "720p/index.m3u8")
    assert httpx.get(variant_url, timeout=10).status_code == 200
    token = master_url.split("/media/")[1].split("/")[0]
    expires, user, mac = token.split(".")
    for forged in (f"{int(expires) + 3600}.{user}.{mac}", f"{expires}.{uuid.uuid4().hex}.{mac}"):
        refused = httpx.get(variant_url.replace(token, forged), timeout=10)
        assert refused.status_code == 403
        assert "X-Amz-Signature" not in refused.text
    _, other_video = api.create_video()
    assert httpx.get(variant_url.replace(video_id, other_video), timeout=10).status_code == 403
    assert httpx.get(master_url.replace("hls/master.m3u8", "source"), timeout=10).status_code == 404
    assert httpx.get(master_url.replace("master.m3u8", "1080p/index.m3u8"), timeout=10).status_code == 404
