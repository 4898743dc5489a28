"""The object-store tus path's rules under the HTTP API (in-process app, SeaweedFS, SQLite and PostgreSQL):
the lease in the upload row (taken, refused, taken over once run out, fencing a late holder's save), what a
broken or refused chunk leaves, the whole file's checksum on completion (with the running hash and with the
source read back), and termination dropping the multipart upload and the staged pieces."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.sql.upload_parts import SqlUploadStates
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.storage import MIN_PART_SIZE, UploadedPart
from elearning_core.video.model import source_key
from elearning_core.video.service import UploadChecksumMismatch
from elearning_core.video.uploads import ChunkRejected, OffsetMismatch, StoredUploads, UploadBusy, UploadState
from tests.e2e.http_helpers import ADMIN, Api, serve, settings_for
from tests.e2e.test_http_videos import TUS, UPLOADS, a_video, metadata, s3_settings
from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs and s3_bucket fixtures

PART = MIN_PART_SIZE


class Disconnected(Exception):
    """Stands for the client going away mid-chunk."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    if request.param == "postgres":
        database = request.getfixturevalue("postgres_url")
    else:
        database = f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}"
    settings = settings_for(database, tmp_path, s3_part_size_bytes=PART, **s3_settings(request))
    async with serve(settings) as running:
        yield running


def _uploads(api: Api) -> StoredUploads:
    uploads = api.platform.container.video.stored_uploads()
    assert isinstance(uploads, StoredUploads)
    return uploads


async def _upload(api: Api, length: int, checksum: str | None = None) -> tuple[str, Any]:
    video = await a_video(api)
    meta = metadata(video["id"])
    if checksum is not None:
        meta += ",checksum " + base64.b64encode(checksum.encode()).decode()
    created = await api.client.post(
        UPLOADS, headers={**ADMIN, **TUS, "Upload-Length": str(length), "Upload-Metadata": meta}
    )
    assert created.status_code == 201, created.text
    upload_id = uuid.UUID(created.headers["location"].rsplit("/", 1)[1])
    async with api.platform.container.adapters.unit_of_work() as uow:
        upload = await uow.video_uploads.get(upload_id)
    assert upload is not None
    return video["id"], upload


async def _body(*chunks: bytes, then: BaseException | None = None) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if then is not None:
        raise then


def _store_keys(seaweedfs: SeaweedS3, bucket: str, prefix: str) -> list[str]:
    listed = seaweedfs.client().list_objects_v2(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    return [o["Key"] for o in listed.get("Contents", [])]


async def test_the_lease_is_refused_while_held_taken_over_once_run_out_and_fences_a_late_save(api: Api) -> None:
    _, upload = await _upload(api, 1000)
    states = SqlUploadStates(api.platform.container.adapters.database())
    now = api.platform.container.adapters.clock().now()
    assert await states.claim(upload.id, "first", now, now + timedelta(minutes=1)) == UploadState(offset=0)
    assert await states.claim(upload.id, "second", now, now + timedelta(minutes=1)) is None
    # The first holder goes silent: once its lease has run out the second takes the upload over.
    later = now + timedelta(minutes=2)
    assert await states.claim(upload.id, "second", later, later + timedelta(minutes=1)) is not None
    assert not await states.save(upload.id, "first", UploadState(offset=10, staged=(10,)))
    assert not await states.renew(upload.id, "first", later + timedelta(minutes=5))
    assert await states.save(upload.id, "second", UploadState(offset=10, staged=(10,)))
    assert await states.state(upload.id) == UploadState(offset=10, staged=(10,))
    await states.release(upload.id, "second")
    assert await states.claim(upload.id, "third", now, now + timedelta(minutes=1)) is not None


async def test_a_save_writes_the_parts_after_the_stored_ones_and_may_give_the_lease_up(api: Api) -> None:
    _, upload = await _upload(api, 3 * PART)
    states = SqlUploadStates(api.platform.container.adapters.database())
    now = api.platform.container.adapters.clock().now()
    one, two = UploadedPart(1, '"one"', PART), UploadedPart(2, '"two"', PART)
    assert await states.claim(upload.id, "first", now, now + timedelta(minutes=1)) is not None
    assert await states.save(upload.id, "first", UploadState(offset=PART, multipart_id="m", parts=(one,)))
    # The next save names one part as stored already: the row keeps it and gains the new one.
    stale = UploadedPart(1, '"not-written"', PART)
    both = UploadState(offset=2 * PART, multipart_id="m", parts=(stale, two))
    assert await states.save(upload.id, "first", both, stored_parts=1, release=True)
    assert await states.state(upload.id) == UploadState(offset=2 * PART, multipart_id="m", parts=(one, two))
    # Released with the save: another holder takes the lease at once, and the first one's saves are refused.
    assert await states.claim(upload.id, "second", now, now + timedelta(minutes=1)) is not None
    assert not await states.save(upload.id, "first", UploadState(offset=0))
    # A save with no parts stored replaces them all (a row's parts always match the state saved).
    assert await states.save(upload.id, "second", UploadState(offset=PART, multipart_id="m", parts=(two,)))
    assert await states.state(upload.id) == UploadState(offset=PART, multipart_id="m", parts=(two,))


async def test_a_broken_chunk_keeps_what_arrived_only_when_asked_and_a_refused_one_records_nothing(
    api: Api, seaweedfs: SeaweedS3, s3_bucket: str
) -> None:
    uploads = _uploads(api)
    states = SqlUploadStates(api.platform.container.adapters.database())
    _, upload = await _upload(api, 3 * PART)
    data = os.urandom(3 * PART)
    # Broken without a checksum: the part that filled and the 100 bytes after it are kept.
    with pytest.raises(Disconnected):
        await uploads.append(
            upload, 0, _body(data[:PART], data[PART : PART + 100], then=Disconnected()), keep=lambda e: True
        )
    kept = await states.state(upload.id)
    assert kept is not None
    assert (kept.offset, [p.size for p in kept.parts], kept.staged) == (PART + 100, [PART], (100,))
    assert _store_keys(seaweedfs, s3_bucket, "upload-staging/") == [f"upload-staging/{upload.id}/{PART:015d}"]
    # Broken when its checksum was announced: nothing of it counts.
    with pytest.raises(Disconnected):
        await uploads.append(
            upload, PART + 100, _body(data[PART + 100 : 2 * PART + 50], then=Disconnected()), keep=lambda e: False
        )
    assert await states.state(upload.id) == kept
    # Refused for its checksum, across a part boundary: nothing of it counts either.
    with pytest.raises(ChunkRejected):
        await uploads.append(
            upload, PART + 100, _body(data[PART + 100 : 2 * PART + 50]), keep=lambda e: False, verify=lambda: False
        )
    assert await states.state(upload.id) == kept
    with pytest.raises(OffsetMismatch) as mismatch:
        await uploads.append(upload, 0, _body(data), keep=lambda e: False)
    assert mismatch.value.offset == PART + 100
    # The rest, in one chunk: the upload completes into the video's source with the announced bytes.
    assert await uploads.append(upload, PART + 100, _body(data[PART + 100 :]), keep=lambda e: False) == 3 * PART
    source = seaweedfs.client().get_object(Bucket=s3_bucket, Key=f"videos/{upload.video_id}/source")  # type: ignore[attr-defined]
    assert source["Body"].read() == data
    assert _store_keys(seaweedfs, s3_bucket, "upload-staging/") == []


async def test_a_patch_while_another_holds_the_upload_is_refused_with_423(api: Api) -> None:
    _, upload = await _upload(api, 1000)
    states = SqlUploadStates(api.platform.container.adapters.database())
    now = api.platform.container.adapters.clock().now()
    assert await states.claim(upload.id, "someone", now, now + timedelta(minutes=1)) is not None
    with pytest.raises(UploadBusy):
        await _uploads(api).append(upload, 0, _body(b"x" * 10), keep=lambda e: False)
    refused = await api.client.patch(
        f"{UPLOADS}/{upload.id}",
        content=b"x" * 10,
        headers={**ADMIN, **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert refused.status_code == 423, refused.text
    assert refused.headers["tus-resumable"] == "1.0.0"


@pytest.mark.parametrize("same_process", [True, False], ids=["running-hash", "read-back"])
async def test_the_whole_files_checksum_is_checked_with_the_running_hash_or_the_source_read_back(
    api: Api, seaweedfs: SeaweedS3, s3_bucket: str, same_process: bool
) -> None:
    uploads = _uploads(api)
    data = os.urandom(PART + 1000)
    wrong = hashlib.sha256(b"something else").hexdigest()
    for announced, completes in ((hashlib.sha256(data).hexdigest(), True), (wrong, False)):
        video_id, upload = await _upload(api, len(data), announced)
        assert await uploads.append(upload, 0, _body(data[:1000]), keep=lambda e: False) == 1000
        if not same_process:
            uploads._hashes.clear()  # as if the next PATCH landed on another process
        rest = uploads.append(upload, 1000, _body(data[1000:]), keep=lambda e: False)
        if completes:
            assert await rest == len(data)
            video = (await api.client.get(f"/api/v1/videos/{video_id}", headers=ADMIN)).json()
            assert video["status"] != "uploading"
        else:
            with pytest.raises(UploadChecksumMismatch):
                await rest
            video = (await api.client.get(f"/api/v1/videos/{video_id}", headers=ADMIN)).json()
            assert video["status"] == "failed"
            assert "checksum" in video["failure_reason"]
            assert _store_keys(seaweedfs, s3_bucket, f"videos/{video_id}/") == []


async def test_termination_aborts_the_multipart_upload_and_deletes_the_staged_pieces(
    api: Api, seaweedfs: SeaweedS3, s3_bucket: str
) -> None:
    _, upload = await _upload(api, 3 * PART)
    await _uploads(api).append(upload, 0, _body(os.urandom(PART + 10)), keep=lambda e: False)
    client = seaweedfs.client()
    assert len(client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])) == 1  # type: ignore[attr-defined]
    gone = await api.client.delete(f"{UPLOADS}/{upload.id}", headers={**ADMIN, **TUS})
    assert gone.status_code == 204, gone.text
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []  # type: ignore[attr-defined]
    assert _store_keys(seaweedfs, s3_bucket, "upload-staging/") == []


async def test_a_chunk_of_several_parts_sends_them_a_few_at_a_time_and_records_them_in_order(
    api: Api, seaweedfs: SeaweedS3, s3_bucket: str
) -> None:
    """While a chunk is still read, up to ``parts_in_flight`` of its parts are uploaded at once; the parts
    end up numbered and recorded in order, and the source is the chunk's bytes."""
    uploads = _uploads(api)
    store = uploads._store
    sending, most = 0, 0
    upload_part = store.upload_part

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal sending, most
        sending += 1
        most = max(most, sending)
        try:
            return await upload_part(*args, **kwargs)
        finally:
            sending -= 1

    store.upload_part = counted  # type: ignore[method-assign]
    try:
        data = os.urandom(5 * PART + 123)
        video_id, upload = await _upload(api, len(data), hashlib.sha256(data).hexdigest())
        pieces = [data[i : i + 256 * 1024] for i in range(0, len(data), 256 * 1024)]
        assert await uploads.append(upload, 0, _body(*pieces), keep=lambda e: False) == len(data)
    finally:
        del store.upload_part
    assert 1 < most <= uploads.config.parts_in_flight
    source = seaweedfs.client().get_object(Bucket=s3_bucket, Key=source_key(uuid.UUID(video_id)))  # type: ignore[attr-defined]
    assert hashlib.sha256(source["Body"].read()).hexdigest() == hashlib.sha256(data).hexdigest()


class _RecordedRenewals(SqlUploadStates):
    """The SQL adapter, noting the expiry each renewal asked for."""

    renewals: list[datetime]

    async def renew(self, upload_id: uuid.UUID, holder: str, until: datetime) -> bool:
        self.renewals.append(until)
        return await super().renew(upload_id, holder, until)


async def test_a_patch_renews_its_lease_once_half_of_it_has_passed_and_its_save_gives_it_up(api: Api) -> None:
    running = _uploads(api)
    start = api.platform.container.adapters.clock().now()
    clock = FixedClock(start)
    states = _RecordedRenewals(api.platform.container.adapters.database())
    states.renewals = []
    lease = timedelta(seconds=120)
    uploads = StoredUploads(running._store, states, running._videos, clock, replace(running.config, lease=lease))
    _, upload = await _upload(api, 5 * PART)
    data = os.urandom(4 * PART)

    async def slow_body() -> AsyncIterator[bytes]:  # a part every 40 s of the clock
        for at in range(0, len(data), PART):
            yield data[at : at + PART]
            clock.advance(timedelta(seconds=40))

    assert await uploads.append(upload, 0, slow_body(), keep=lambda e: False) == 4 * PART
    # Parts ended at +0, +40, +80 and +120 s: only the one past half the lease (+80) renewed it, for a lease more.
    assert states.renewals == [start + timedelta(seconds=80) + lease]
    state = await states.state(upload.id)
    assert state is not None
    assert (state.offset, len(state.parts)) == (4 * PART, 4)
    # The save gave the lease up: the next PATCH takes it at once.
    assert await states.claim(upload.id, "next", start, start + lease) is not None
