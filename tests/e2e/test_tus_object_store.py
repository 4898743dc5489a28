"""tus uploads onto the object store through two ``elearning serve`` processes that share only PostgreSQL
and SeaweedFS (no shared disk: each has its own data directory): an upload created and partly sent through
one resumes through the other, two PATCHes of one upload cannot interleave, and the clean-up job aborts
an abandoned multipart upload in the store."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.conftest import _libpq
from tests.seaweedfs import SeaweedS3
from tests.served import ADMIN, ELEARNING, TOKEN, Served, serve_env, serving, wait_for

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs and s3_bucket fixtures

pytestmark = pytest.mark.postgres

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
CLEANUP = "video.uploads-cleanup"


@pytest.fixture
def env(tmp_path: Path, postgres_url: str, seaweedfs: SeaweedS3, s3_bucket: str) -> dict[str, str]:
    return serve_env(
        tmp_path / "unused",
        database_url=postgres_url,
        storage_backend="s3",
        s3_bucket=s3_bucket,
        s3_endpoint_url=seaweedfs.endpoint,
        s3_access_key_id=seaweedfs.access_key,
        s3_secret_access_key=seaweedfs.secret_key,
        s3_part_size_bytes=str(5 * MIB),
    )


@pytest.fixture
def two_servers(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    # Each process its own data directory: what they share is the database and the store.
    with (
        serving(env | {"ELEARNING_DATA_DIR": str(tmp_path / "a")}, tmp_path / "a.log") as first,
        serving(env | {"ELEARNING_DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log") as second,
    ):
        yield first, second
    for served in (first, second):
        assert "Traceback" not in served.output(), served.output()[-5000:]


def _video(client: httpx.Client) -> str:
    course = client.post("/api/v1/courses", json={"title": "Uploads", "slug": f"u-{uuid.uuid4().hex[:6]}"})
    assert course.status_code == 201, course.text
    video = client.post(f"/api/v1/courses/{course.json()['id']}/videos", json={"title": "Lecture"})
    assert video.status_code == 201, video.text
    return str(video.json()["id"])


def _create(client: httpx.Client, video_id: str, length: int, **extra: str) -> str:
    fields = {"video_id": video_id, **extra}
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
    created = client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata})
    assert created.status_code == 201, created.text
    return str(created.headers["location"])


def _patch(client: httpx.Client, location: str, offset: int, chunk: bytes) -> httpx.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return client.patch(location, headers=headers, content=chunk)


def _offset(client: httpx.Client, location: str) -> int:
    head = client.head(location, headers=TUS)
    assert head.status_code == 200, head.text
    return int(head.headers["upload-offset"])


def _sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(_libpq(url)) as conn:
        return conn.execute(query, args).fetchall()


def _multipart_ids(seaweedfs: SeaweedS3, bucket: str) -> set[str]:
    listed = seaweedfs.client().list_multipart_uploads(Bucket=bucket)  # type: ignore[attr-defined]
    return {u["UploadId"] for u in listed.get("Uploads", [])}


def test_an_upload_begun_on_one_server_resumes_on_the_other_and_starts_the_pipeline(
    two_servers: tuple[Served, Served], postgres_url: str, seaweedfs: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    first, second = two_servers
    source = os.urandom(13 * MIB + 12345)
    # Chunks below S3's 5 MiB part (staged), one that crosses a part, then the rest from the other server.
    cuts = [0, 1 * MIB, 3 * MIB, 7 * MIB + 17, 8 * MIB, 12 * MIB, len(source)]
    with (
        httpx.Client(base_url=first.base, headers=ADMIN, timeout=60) as a,
        httpx.Client(base_url=second.base, headers=ADMIN, timeout=60) as b,
    ):
        video_id = _video(a)
        location = _create(a, video_id, len(source), checksum=hashlib.sha256(source).hexdigest())
        for start, end in itertools.pairwise(cuts[:4]):
            sent = _patch(a, location, start, source[start:end])
            assert sent.status_code == 204, sent.text
            assert int(sent.headers["upload-offset"]) == end
        assert _offset(b, location) == cuts[3]
        # The state is in the database: one part of 5 MiB is in the multipart upload, the rest staged.
        upload_id = location.rsplit("/", 1)[1]
        parts = _sql(postgres_url, "SELECT number, size FROM video_upload_parts WHERE upload_id = %s", upload_id)
        assert parts == [(1, 5 * MIB)]
        on_disk = [p for p in (tmp_path / "a").rglob("*") if p.is_file() and "media" in p.parts]
        assert on_disk == []  # nothing of the upload on the API's disk
        stale = _patch(b, location, cuts[1], source[cuts[1] : cuts[2]])
        assert stale.status_code == 409
        assert stale.headers["upload-offset"] == str(cuts[3])
        # Refused maybe before its 2 MiB body was read: the rest of it is dropped by the server, and the next
        # PATCH on the kept connection is served (it once came back 431: tests/integration/test_slow_clients.py).
        for start, end in itertools.pairwise(cuts[3:]):
            sent = _patch(b, location, start, source[start:end])
            assert sent.status_code == 204, sent.text
        assert _offset(a, location) == len(source)
        video = wait_for(
            lambda: v if (v := a.get(f"/api/v1/videos/{video_id}").json())["status"] != "uploading" else None,
            "the video to leave uploading",
        )
        assert video["status"] in ("processing", "ready", "failed")
    started = _sql(
        postgres_url,
        "SELECT count(*) FROM outbox WHERE event_type = 'video.upload_completed.v1' AND message_key = %s",
        video_id,
    )
    assert started == [(1,)]
    stored = seaweedfs.client().get_object(Bucket=s3_bucket, Key=f"videos/{video_id}/source")  # type: ignore[attr-defined]
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == hashlib.sha256(source).hexdigest()
    assert _multipart_ids(seaweedfs, s3_bucket) == set()
    listed = seaweedfs.client().list_objects_v2(Bucket=s3_bucket, Prefix="upload-staging/")  # type: ignore[attr-defined]
    assert listed.get("KeyCount", 0) == 0  # the staged pieces went with the completion


def _open_patch(location: str, offset: int, announced: int, first_bytes: bytes) -> socket.socket:
    """A PATCH whose client has sent its headers and ``first_bytes`` of ``announced`` bytes, and waits."""
    target = urlsplit(location)
    head = (
        f"PATCH {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    )
    sock = socket.create_connection((target.hostname, target.port), timeout=30)
    sock.sendall(head.encode() + first_bytes)
    return sock


def _status_of(sock: socket.socket) -> tuple[int, str]:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.decode(errors="replace").lower()


def test_two_patches_of_one_upload_on_two_servers_do_not_interleave(
    two_servers: tuple[Served, Served], postgres_url: str
) -> None:
    first, second = two_servers
    chunk = os.urandom(2 * MIB)
    with (
        httpx.Client(base_url=first.base, headers=ADMIN, timeout=60) as a,
        httpx.Client(base_url=second.base, headers=ADMIN, timeout=60) as b,
    ):
        location = _create(a, _video(a), 4 * MIB)
        upload_id = location.rsplit("/", 1)[1]
        with _open_patch(f"{first.base}{location}", 0, len(chunk), chunk[: MIB // 2]) as slow:
            wait_for(
                lambda: _sql(postgres_url, "SELECT lease_holder FROM video_uploads WHERE id = %s", upload_id)[0][0],
                "the first PATCH to hold the upload",
            )
            refused = _patch(b, location, 0, chunk)
            assert refused.status_code == 423, refused.text
            assert refused.headers["tus-resumable"] == "1.0.0"
            assert refused.json()["status"] == 423
            slow.sendall(chunk[MIB // 2 :])
            status, headers = _status_of(slow)
        assert status == 204, headers
        assert f"upload-offset: {len(chunk)}" in headers
        assert _offset(b, location) == len(chunk)
        after = _patch(b, location, len(chunk), chunk)
        assert after.status_code == 204, after.text


def test_the_cleanup_job_aborts_an_abandoned_multipart_upload(
    two_servers: tuple[Served, Served], env: dict[str, str], tmp_path: Path, seaweedfs: SeaweedS3, s3_bucket: str
) -> None:
    first, _ = two_servers
    with httpx.Client(base_url=first.base, headers=ADMIN, timeout=60) as a:
        video_id = _video(a)
        abandoned = _create(a, video_id, 12 * MIB)
        assert _patch(a, abandoned, 0, os.urandom(6 * MIB)).status_code == 204  # one part and a staged MiB
        before = _multipart_ids(seaweedfs, s3_bucket)
        assert len(before) == 1
        # A new upload of the video abandons the first (its row goes; its multipart upload stays in the store).
        live = _create(a, video_id, 12 * MIB)
        assert _patch(a, live, 0, os.urandom(6 * MIB)).status_code == 204
        kept = _multipart_ids(seaweedfs, s3_bucket) - before
        assert len(kept) == 1
    listed = _run_cli(env | {"ELEARNING_DATA_DIR": str(tmp_path / "cli")}, "jobs", "list")
    assert CLEANUP in listed.stdout
    ran = _run_cli(
        env | {"ELEARNING_DATA_DIR": str(tmp_path / "cli"), "ELEARNING_UPLOAD_ORPHAN_HOURS": "0.000001"},
        "jobs",
        "run",
        CLEANUP,
    )
    assert "aborted 1 multipart upload(s)" in ran.stdout + ran.stderr, ran.stdout + ran.stderr
    assert _multipart_ids(seaweedfs, s3_bucket) == kept  # the live upload's is kept
    staged = seaweedfs.client().list_objects_v2(Bucket=s3_bucket, Prefix="upload-staging/")  # type: ignore[attr-defined]
    assert [o["Key"].split("/")[1] for o in staged.get("Contents", [])] == [live.rsplit("/", 1)[1]]


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([ELEARNING, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done
