"""The video pipeline end to end, against a real ``elearning serve`` process on loopback.

The clips are made here with ffmpeg's test sources (2 s, 1280x720, a sine
tone). Uploads go through the tus endpoint with the ``tuspy`` client, the
events are relayed in-process by the server, and ffmpeg transcodes as the
server's child process. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tusclient import client as tus_client

from elearning_adapters.sql.engine import Database
from tests import served
from tests.conftest import truncate_all
from tests.hls_player import media_bytes

ELEARNING = str(Path(sys.executable).parent / "elearning")
TOKEN = "video-pipeline-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
TUS = {"Tus-Resumable": "1.0.0"}
PASSWORD = "correct horse battery"
WAIT = 120.0
PLAYBACK_TTL = 4

pytestmark = pytest.mark.skipif(
    (shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None) and not os.environ.get("CI"),
    reason="ffmpeg and ffprobe are not installed (.ci/run installs them)",
)


def wait_for(check: Callable[[], Any], what: str, seconds: float = WAIT) -> Any:
    return served.wait_for(check, what, seconds)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_clip(path: Path, seconds: int) -> Path:
    """A 720p clip with a sine tone, from ffmpeg's test sources."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=1280x720:rate=25",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("clips")
    clip = make_clip(directory / "clip720.mp4", 2)
    data = clip.read_bytes()
    truncated = directory / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])  # the moov atom is at the end: gone
    text = directory / "notes.txt"
    text.write_text("These are lecture notes, not a video.\n" * 200)
    return {"clip": clip, "truncated": truncated, "text": text}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, base: str, data_dir: Path, database_env: dict[str, str]) -> None:
        self.base = base
        self.data_dir = data_dir
        self.database_env = database_env  # what another process needs to reach the same database
        self.http = httpx.Client(base_url=base, timeout=30)

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    def create_video(self, title: str = "Lecture 1") -> tuple[str, str]:
        course = self.http.post("/api/v1/courses", json={"title": f"Course {uuid.uuid4().hex[:8]}"}, headers=ADMIN)
        assert course.status_code == 201, course.text
        course_id = course.json()["id"]
        video = self.http.post(f"/api/v1/courses/{course_id}/videos", json={"title": title}, headers=ADMIN)
        assert video.status_code == 201, video.text
        return course_id, video.json()["id"]

    def video(self, video_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/videos/{video_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def settled(self, video_id: str) -> dict[str, Any]:
        """The video once it is ready or failed."""
        return dict(
            wait_for(
                lambda: v if (v := self.video(video_id))["status"] in ("ready", "failed") else None,
                f"video {video_id} to be processed",
            )
        )

    def tus(self) -> tus_client.TusClient:
        return tus_client.TusClient(f"{self.base}/api/v1/uploads", headers=ADMIN)

    def upload(self, video_id: str, path: Path, **metadata: str) -> None:
        uploader = self.tus().uploader(str(path), chunk_size=256 * 1024, metadata={"video_id": video_id, **metadata})
        uploader.upload()

    def user(self, name: str) -> tuple[str, dict[str, str]]:
        email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
        created = self.http.post(
            "/api/v1/admin/users", json={"email": email, "display_name": name, "password": PASSWORD}, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        login = self.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return created.json()["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}

    def publish(self, course_id: str) -> None:
        """Publish the course with one text lesson: learners reach a course's videos only once it is published."""
        section = self.http.post(f"/api/v1/courses/{course_id}/sections", json={"title": "Week 1"}, headers=ADMIN)
        assert section.status_code == 201, section.text
        lesson = self.http.post(
            f"/api/v1/courses/{course_id}/sections/{section.json()['id']}/lessons",
            json={"title": "Hello"},
            headers=ADMIN,
        )
        assert lesson.status_code == 201, lesson.text
        published = self.http.post(f"/api/v1/courses/{course_id}/publish", headers=ADMIN)
        assert published.status_code == 200, published.text

    def enroll(self, course_id: str, user_id: str) -> None:
        """Through the enrollment API, as course staff would (a draft course: staff may enroll into it)."""
        response = self.http.put(f"/api/v1/courses/{course_id}/enrollments/{user_id}", headers=ADMIN)
        assert response.status_code in (200, 201), response.text


async def _empty(database_url: str) -> None:
    db = Database(database_url)
    try:
        await truncate_all(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("serve")
    data_dir = directory / "data"
    database_env: dict[str, str] = {}
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        asyncio.run(_empty(url))
        database_env = {"ELEARNING_DATABASE_URL": url}
    env = (
        database_env
        | {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
        | {
            "ELEARNING_DATA_DIR": str(data_dir),
            "ELEARNING_ADMIN_TOKEN": TOKEN,
            "ELEARNING_LOG_JSON": "false",
            "ELEARNING_ACCESS_LOG": "false",
            "ELEARNING_PLAYBACK_URL_TTL_SECONDS": str(PLAYBACK_TTL),
            "ELEARNING_TRANSCODE_TIMEOUT_SECONDS": "120",
        }
    )
    port = _free_port()
    log = directory / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ELEARNING, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(lambda: ready() or process.poll() is not None, "the server to answer /ready", 60)
        assert process.poll() is None, log.read_text()
        yield Server(base, data_dir, database_env)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


def interrupted_patch(server: Server, upload_url: str, offset: int, part: bytes, announced: int) -> None:
    """A PATCH whose client sends ``part`` of an announced ``announced`` bytes, then drops the connection."""
    target = urlsplit(upload_url)
    head = (
        f"PATCH {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    )
    with socket.create_connection((target.hostname, target.port), timeout=10) as sock:
        sock.sendall(head.encode() + part)
        time.sleep(0.3)


def server_offset(server: Server, upload_url: str) -> int:
    response = server.http.head(upload_url, headers={**ADMIN, **TUS})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return int(response.headers["upload-offset"])


def test_an_interrupted_upload_resumes_and_ends_byte_identical_then_becomes_ready(
    server: Server, clips: dict[str, Path]
) -> None:
    _, video_id = server.create_video()
    source = clips["clip"]
    data = source.read_bytes()

    # A first client sends a few chunks, then stops.
    first = server.tus().uploader(str(source), chunk_size=16 * 1024, metadata={"video_id": video_id})
    first.set_url(first.create_url())
    first.offset = 0
    first.upload_chunk()
    first.upload_chunk()
    assert first.offset == 32 * 1024
    assert server.video(video_id)["status"] == "uploading"

    # A PATCH whose connection breaks midway: what arrived is kept.
    interrupted_patch(server, first.url, first.offset, data[first.offset : first.offset + 10_000], 40_000)
    offset = wait_for(
        lambda: o if (o := server_offset(server, first.url)) == first.offset + 10_000 else None,
        "the server to keep the bytes of the broken PATCH",
        30,
    )

    # A new client resumes from the server's offset, with per-chunk checksums.
    second = server.tus().uploader(
        str(source), url=first.url, chunk_size=20 * 1024, upload_checksum=True, metadata={"video_id": video_id}
    )
    assert second.offset == offset
    second.upload()

    video = server.settled(video_id)
    stored = server.media / "videos" / video_id / "source"
    assert sha256_of(stored) == hashlib.sha256(data).hexdigest()
    assert video["source_sha256"] == hashlib.sha256(data).hexdigest()
    assert video["source_size"] == len(data)
    assert video["status"] == "ready", video
    assert video["progress"] == 100
    assert [r["name"] for r in video["renditions"]] == ["360p", "720p"]
    assert abs(video["duration_seconds"] - 2.0) < 0.2
    hls = server.media / "videos" / video_id / "hls"
    master = (hls / "master.m3u8").read_text()
    assert "360p/index.m3u8" in master
    assert "720p/index.m3u8" in master
    assert "RESOLUTION=640x360" in master
    assert "RESOLUTION=1280x720" in master
    assert (hls / "thumbnail.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert list((hls / "720p").glob("*.ts"))
    assert server_offset(server, first.url) == len(data)  # HEAD after completion: complete


def test_a_chunk_with_a_wrong_checksum_is_refused_with_460_and_discarded(
    server: Server, clips: dict[str, Path]
) -> None:
    _, video_id = server.create_video()
    data = clips["clip"].read_bytes()
    metadata = "video_id " + base64.b64encode(video_id.encode()).decode()
    created = server.http.post(
        "/api/v1/uploads", headers={**ADMIN, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata}
    )
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    chunk = data[:50_000]
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    headers = {**ADMIN, **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    refused = server.http.patch(url, content=chunk, headers={**headers, "Upload-Checksum": f"sha256 {wrong}"})
    assert refused.status_code == 460, refused.text
    assert refused.headers["tus-resumable"] == "1.0.0"
    assert refused.json()["title"] == "Checksum Mismatch"
    assert server_offset(server, url) == 0
    right = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    accepted = server.http.patch(url, content=chunk, headers={**headers, "Upload-Checksum": f"sha256 {right}"})
    assert accepted.status_code == 204, accepted.text
    assert accepted.headers["upload-offset"] == str(len(chunk))
    stale = server.http.patch(url, content=chunk, headers=headers)  # offset 0 again: the server is at 50000
    assert stale.status_code == 409
    assert stale.headers["upload-offset"] == str(len(chunk))


@pytest.mark.parametrize(
    ("clip", "reason"),
    [("text", "not a video: ffprobe could not recognise"), ("truncated", "corrupt input: moov atom not found")],
)
def test_a_non_video_or_truncated_upload_ends_failed_with_a_clear_reason(
    server: Server, clips: dict[str, Path], clip: str, reason: str
) -> None:
    _, video_id = server.create_video()
    server.upload(video_id, clips[clip])
    video = server.settled(video_id)
    assert video["status"] == "failed"
    assert video["failure_reason"].startswith(reason), video["failure_reason"]
    assert not (server.media / "videos" / video_id / "hls").exists()
    playback = server.http.get(f"/api/v1/videos/{video_id}/playback", headers=ADMIN)
    assert playback.status_code == 409


def test_the_whole_file_checksum_announced_at_creation_is_verified(server: Server, clips: dict[str, Path]) -> None:
    _, video_id = server.create_video()
    uploader = server.tus().uploader(
        str(clips["clip"]), chunk_size=1024 * 1024, metadata={"video_id": video_id, "checksum": "0" * 64}
    )
    with pytest.raises(Exception, match="460"):
        uploader.upload()
    video = server.video(video_id)
    assert video["status"] == "failed"
    assert video["failure_reason"].startswith("upload checksum mismatch")


def test_playback_urls_are_for_enrolled_learners_expire_and_refuse_tampering(
    server: Server, clips: dict[str, Path]
) -> None:
    course_id, video_id = server.create_video()
    server.upload(video_id, clips["clip"], checksum=sha256_of(clips["clip"]))
    assert server.settled(video_id)["status"] == "ready"
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n\n00:00:01.000 --> 00:00:02.000\nWorld\n"
    caption = server.http.put(
        f"/api/v1/videos/{video_id}/captions/en?label=English",
        content=vtt,
        headers={**ADMIN, "Content-Type": "text/vtt"},
    )
    assert caption.status_code == 201, caption.text

    learner_id, learner = server.user("learner")
    _, stranger = server.user("stranger")
    assert server.http.get(f"/api/v1/videos/{video_id}/playback", headers=learner).status_code == 404  # a draft course
    server.publish(course_id)
    server.enroll(course_id, learner_id)

    # Course material that no preview lesson shows: enrolled learners and staff only (docs/gating.md).
    for caller in ({}, stranger):
        refused = server.http.get(f"/api/v1/videos/{video_id}/playback", headers=caller)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:elearning:problem:enrollment-required"
    granted = server.http.get(f"/api/v1/videos/{video_id}/playback", headers=learner)
    assert granted.status_code == 200, granted.text
    playback = granted.json()
    master_url = playback["url"]
    master = httpx.get(master_url, timeout=10)  # no credentials: the URL is the grant
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variant_url = httpx.URL(master_url).join("720p/index.m3u8")
    variant = httpx.get(variant_url, timeout=10)
    assert variant.status_code == 200
    segment = next(line for line in variant.text.splitlines() if line.endswith(".ts"))
    served_before = media_bytes(server.base).get("segment", 0)
    fetched = httpx.get(variant_url.join(segment), timeout=10)
    assert fetched.status_code == 200
    # The local store: the API serves the segments itself, and its counter says so.
    assert media_bytes(server.base)["segment"] - served_before == len(fetched.content) > 0
    assert httpx.get(playback["thumbnail_url"], timeout=10).status_code == 200
    (en,) = playback["captions"]
    assert httpx.get(en["url"], timeout=10).text.startswith("WEBVTT")

    token = master_url.split("/media/")[1].split("/")[0]
    expires, user, mac = token.split(".")
    for forged in (f"{int(expires) + 3600}.{user}.{mac}", f"{expires}.{uuid.uuid4().hex}.{mac}", f"{expires}.{user}.x"):
        assert httpx.get(master_url.replace(token, forged), timeout=10).status_code == 403
    _, other_video = server.create_video()
    assert httpx.get(master_url.replace(video_id, other_video), timeout=10).status_code == 403
    assert httpx.get(master_url.replace("hls/master.m3u8", "source"), timeout=10).status_code == 404

    wait_for(lambda: time.time() > int(expires) + 0.1, "the playback URL to expire", PLAYBACK_TTL + 5)
    expired = httpx.get(master_url, timeout=10)
    assert expired.status_code == 403
    assert "expired" in expired.json()["detail"]

    # The playback position: saved and resumed, per learner.
    assert server.http.get(f"/api/v1/videos/{video_id}/position", headers=learner).json()["position_seconds"] == 0
    saved = server.http.put(f"/api/v1/videos/{video_id}/position", json={"position_seconds": 1.25}, headers=learner)
    assert saved.status_code == 200, saved.text
    assert server.http.get(f"/api/v1/videos/{video_id}/position", headers=learner).json()["position_seconds"] == 1.25
    refused = server.http.put(f"/api/v1/videos/{video_id}/position", json={"position_seconds": 1}, headers=stranger)
    assert refused.status_code == 403
    # Past the end (a player's clock a frame beyond the probed duration, or a wrong client): kept as the end.
    duration = server.http.get(f"/api/v1/videos/{video_id}", headers=ADMIN).json()["duration_seconds"]
    beyond = server.http.put(f"/api/v1/videos/{video_id}/position", json={"position_seconds": 3600}, headers=learner)
    assert beyond.status_code == 200, beyond.text
    assert beyond.json()["position_seconds"] == duration
    assert (
        server.http.get(f"/api/v1/videos/{video_id}/position", headers=learner).json()["position_seconds"] == duration
    )


def test_reprocess_replaces_the_output_and_the_cli_shows_the_status(server: Server, clips: dict[str, Path]) -> None:
    _, video_id = server.create_video()
    server.upload(video_id, clips["clip"])
    assert server.settled(video_id)["status"] == "ready"
    before = (server.media / "videos" / video_id / "hls" / "master.m3u8").stat().st_mtime_ns
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")} | {
        "ELEARNING_DATA_DIR": str(server.data_dir),
        **server.database_env,
    }
    queued = subprocess.run(
        [ELEARNING, "videos", "reprocess", video_id, "--wait", "60"],
        env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert "status: ready" in queued.stdout
    after = (server.media / "videos" / video_id / "hls" / "master.m3u8").stat().st_mtime_ns
    assert after > before
    listed = subprocess.run(
        [ELEARNING, "videos", "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert video_id in listed.stdout
