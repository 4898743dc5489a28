"""One contract for the object store port, run on the local directory and on a real S3-compatible
server (SeaweedFS, started by tests/seaweedfs.py): the same calls give the same answers."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from elearning_adapters.storage.local import LocalFileStorage
from elearning_adapters.storage.s3 import S3Config, S3ObjectStore
from elearning_core.shared.storage import (
    MIN_PART_SIZE,
    InvalidKey,
    InvalidParts,
    ObjectNotFound,
    ObjectStore,
    PartTooSmall,
    StorageError,
    StorageUnavailable,
    UploadedPart,
    UploadNotFound,
)

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs and s3_bucket fixtures

MIB = 1024 * 1024


def s3_store(server: SeaweedS3, bucket: str, **overrides: object) -> S3ObjectStore:
    """The adapter as a deployment configures it: the API reaches the store at 127.0.0.1, browsers at
    ``localhost`` (another name for the same server), parts of the 5 MiB minimum so tests stay small."""
    settings: dict[str, object] = {
        "bucket": bucket,
        "endpoint_url": server.endpoint,
        "public_endpoint_url": f"http://localhost:{server.port}",
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
        "part_size": MIN_PART_SIZE,
        "max_connections": 4,
    }
    settings.update(overrides)
    return S3ObjectStore(S3Config(**settings))  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalFileStorage(tmp_path / "media")
        return
    s3 = s3_store(request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket"))
    try:
        yield s3
    finally:
        await s3.aclose()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for at in range(0, len(data), chunk):
        yield data[at : at + chunk]


def fetch(url: str, **kwargs: object) -> httpx.Response:
    """GET with a bounded timeout, as a browser fetches a presigned URL."""
    return httpx.get(url, timeout=10.0, **kwargs)  # type: ignore[arg-type]


async def read_all(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


async def test_a_multi_mib_stream_round_trips(store: ObjectStore) -> None:
    data = payload(12 * MIB + 123)  # on S3 more than two parts: the put goes multipart

    assert await store.put("videos/v1/source.mp4", stream(data)) == len(data)

    assert await read_all(store, "videos/v1/source.mp4") == data
    assert await store.size("videos/v1/source.mp4") == len(data)
    info = await store.stat("videos/v1/source.mp4")
    assert info is not None
    assert (info.key, info.size) == ("videos/v1/source.mp4", len(data))
    assert abs(info.modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert await store.incomplete_uploads(datetime.now(UTC) + timedelta(hours=1)) == []


async def test_a_put_replaces_the_object_and_a_broken_stream_keeps_the_old_one(store: ObjectStore) -> None:
    await store.put("doc.bin", stream(b"first"))
    await store.put("doc.bin", stream(b"second, longer"))
    assert await read_all(store, "doc.bin") == b"second, longer"

    async def breaking() -> AsyncIterator[bytes]:
        yield payload(6 * MIB)  # past one part: on S3 a multipart upload was under way
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("doc.bin", breaking())

    assert await read_all(store, "doc.bin") == b"second, longer"
    assert await store.incomplete_uploads(datetime.now(UTC) + timedelta(hours=1)) == []


async def test_a_replaced_object_gets_another_tag_which_stat_and_list_agree_on(store: ObjectStore) -> None:
    await store.put("tagged/doc", stream(b"same size: A"))
    first = await store.stat("tagged/doc")
    assert first is not None
    assert first.etag
    listed = (await store.list("tagged/")).items
    assert [(info.key, info.size, info.etag) for info in listed] == [("tagged/doc", 12, first.etag)]

    await store.put("tagged/doc", stream(b"same size: B"))  # what the media migration must tell from a copy it made

    second = await store.stat("tagged/doc")
    assert second is not None
    assert second.size == first.size
    assert second.etag != first.etag
    assert [info.etag for info in (await store.list("tagged/")).items] == [second.etag]


async def test_ranged_reads_at_the_start_middle_end_and_past_the_end(store: ObjectStore) -> None:
    data = payload(3 * MIB + 17, seed=1)
    size = len(data)
    await store.put("r/blob", stream(data))

    assert await read_all(store, "r/blob", 0, 10) == data[:10]
    assert await read_all(store, "r/blob", MIB - 5, MIB + 5) == data[MIB - 5 : MIB + 5]
    assert await read_all(store, "r/blob", 2 * MIB) == data[2 * MIB :]
    assert await read_all(store, "r/blob", size - 10, size) == data[-10:]
    assert await read_all(store, "r/blob", size - 5, size + 100) == data[-5:]
    assert await read_all(store, "r/blob", size, size + 10) == b""
    assert await read_all(store, "r/blob", size + 10) == b""
    assert await read_all(store, "r/blob", 7, 7) == b""
    for start, end in ((-1, None), (10, 5)):
        with pytest.raises(ValueError, match="byte range"):
            await read_all(store, "r/blob", start, end)


async def test_an_absent_object_has_no_size_and_cannot_be_read(store: ObjectStore) -> None:
    assert await store.size("nothing/here") is None
    assert await store.stat("nothing/here") is None
    with pytest.raises(ObjectNotFound):
        await read_all(store, "nothing/here")


async def test_delete_a_key_and_a_prefix(store: ObjectStore) -> None:
    for key in ("a/1", "a/2", "a/b/3", "ab/4"):
        await store.put(key, stream(key.encode()))

    await store.delete("a/1")
    assert await store.size("a/1") is None
    assert await store.size("a/2") == 3

    await store.delete("a/")
    assert [item.key for item in (await store.list("")).items] == ["ab/4"]

    await store.delete("a/1")  # absent: fine
    await store.delete("gone/")


async def test_listing_by_prefix_pages_in_key_order(store: ObjectStore) -> None:
    keys = ["p/a-c", "p/a/x", "p/a/y/z", "p/a0", "p/b", "p/c", "p/d"]
    for key in [*reversed(keys), "q/other", "pz"]:
        await store.put(key, stream(b"x" * len(key)))

    seen: list[str] = []
    after: str | None = None
    pages = 0
    while pages < 10:
        page = await store.list("p/", after=after, limit=3)
        pages += 1
        assert len(page.items) <= 3
        seen += [item.key for item in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    # Every key once, in three pages. The order is the keys' on S3 and the local store; SeaweedFS (a filer)
    # lists the "directory" p/a/ before its sibling p/a-c, so the port promises pages, not a sort.
    assert sorted(seen) == keys
    assert len(set(seen)) == len(seen)
    assert pages == 3
    assert all(item.size == len(item.key) for item in (await store.list("p/")).items)
    assert sorted(item.key for item in (await store.list("p/a")).items) == ["p/a-c", "p/a/x", "p/a/y/z", "p/a0"]
    assert [item.key for item in (await store.list("p/", after="p/b", limit=2)).items] == ["p/c", "p/d"]
    assert (await store.list("none/")).items == []
    with pytest.raises(ValueError, match="limit"):
        await store.list("p/", limit=1001)


async def test_copy_is_a_separate_object(store: ObjectStore) -> None:
    data = payload(2 * MIB, seed=2)
    await store.put("src/one", stream(data))
    await store.put("dst/one", stream(b"old"))

    await store.copy("src/one", "dst/one")
    await store.put("src/one", stream(b"changed"))

    assert await read_all(store, "dst/one") == data
    with pytest.raises(ObjectNotFound):
        await store.copy("src/absent", "dst/two")
    assert await store.size("dst/two") is None


async def test_a_multipart_upload_of_three_parts_with_a_short_last(store: ObjectStore) -> None:
    parts_data = [payload(MIN_PART_SIZE, seed=3), payload(MIN_PART_SIZE + 1, seed=4), payload(1000, seed=5)]
    upload = await store.create_multipart("uploads/big.mp4")

    # Out of order, and part 2 sent twice (a resumed chunk): the tag names the upload that counts.
    third = await store.upload_part("uploads/big.mp4", upload, 3, stream(parts_data[2]))
    first_try = await store.upload_part("uploads/big.mp4", upload, 2, stream(b"a first try"))
    second = await store.upload_part("uploads/big.mp4", upload, 2, stream(parts_data[1]))
    first = await store.upload_part("uploads/big.mp4", upload, 1, stream(parts_data[0]))
    assert first_try.etag != second.etag

    listed = await store.list_parts("uploads/big.mp4", upload)
    assert [p.number for p in listed] == [1, 2, 3]
    assert (listed[0], listed[2]) == (first, third)
    assert listed[1] in (first_try, second)  # the later upload, but SeaweedFS times parts to the second
    assert await store.size("uploads/big.mp4") is None  # nothing is visible before completion

    size = await store.complete_multipart("uploads/big.mp4", upload, [first, second, third])

    assert size == sum(len(d) for d in parts_data)
    assert await read_all(store, "uploads/big.mp4") == b"".join(parts_data)
    assert await store.incomplete_uploads(datetime.now(UTC) + timedelta(hours=1)) == []
    with pytest.raises(UploadNotFound):
        await store.list_parts("uploads/big.mp4", upload)


async def test_an_aborted_upload_leaves_nothing(store: ObjectStore) -> None:
    upload = await store.create_multipart("uploads/dropped")
    await store.upload_part("uploads/dropped", upload, 1, stream(payload(MIN_PART_SIZE)))

    await store.abort_multipart("uploads/dropped", upload)

    assert await store.size("uploads/dropped") is None
    assert (await store.list("uploads/")).items == []
    assert await store.incomplete_uploads(datetime.now(UTC) + timedelta(hours=1)) == []
    with pytest.raises(UploadNotFound):
        await store.list_parts("uploads/dropped", upload)
    with pytest.raises(UploadNotFound):
        await store.upload_part("uploads/dropped", upload, 2, stream(b"late"))
    await store.abort_multipart("uploads/dropped", upload)  # twice: fine


async def test_a_too_small_part_before_the_last_is_refused_and_the_upload_stays_open(store: ObjectStore) -> None:
    upload = await store.create_multipart("uploads/small")
    one = await store.upload_part("uploads/small", upload, 1, stream(b"x" * 1024))
    two = await store.upload_part("uploads/small", upload, 2, stream(b"y" * 1024))

    with pytest.raises(PartTooSmall):
        await store.complete_multipart("uploads/small", upload, [one, two])
    with pytest.raises(InvalidParts):
        await store.complete_multipart("uploads/small", upload, [UploadedPart(1, "not-the-tag", 1024)])
    with pytest.raises(InvalidParts):
        await store.complete_multipart("uploads/small", upload, [two, one])

    assert [p.number for p in await store.list_parts("uploads/small", upload)] == [1, 2]
    assert await store.complete_multipart("uploads/small", upload, [one]) == 1024  # a single short part is fine
    assert await read_all(store, "uploads/small") == b"x" * 1024


async def test_incomplete_uploads_older_than_a_time(store: ObjectStore) -> None:
    upload = await store.create_multipart("uploads/stale")
    wrong_key_upload = await store.create_multipart("uploads/other")

    stale = await store.incomplete_uploads(datetime.now(UTC) + timedelta(minutes=5))
    recent = await store.incomplete_uploads(datetime.now(UTC) - timedelta(hours=1))

    assert {(u.key, u.upload_id) for u in stale} == {("uploads/stale", upload), ("uploads/other", wrong_key_upload)}
    assert all(abs(u.started - datetime.now(UTC)) < timedelta(minutes=5) for u in stale)
    assert recent == []
    assert len(await store.incomplete_uploads(datetime.now(UTC) + timedelta(minutes=5), limit=1)) == 1
    with pytest.raises(UploadNotFound):
        await store.list_parts("uploads/stale", wrong_key_upload)  # an upload id belongs to its key


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "a/./b", "", "a\\b", "dir/"])
async def test_keys_that_could_leave_the_store_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, stream(b"x"))
    with pytest.raises(InvalidKey):
        await read_all(store, key)
    with pytest.raises(InvalidKey):
        await store.size(key)
    with pytest.raises(InvalidKey):
        await store.copy("fine", key)
    with pytest.raises(InvalidKey):
        await store.presigned_url(key)
    with pytest.raises(InvalidKey):
        await store.create_multipart(key)
    if key != "dir/":  # a prefix ending in '/' is what delete and list take
        with pytest.raises(InvalidKey):
            await store.delete(key if key.endswith("/") or not key else f"{key}/")
        if key:
            with pytest.raises(InvalidKey):
                await store.list(key)


async def test_the_local_store_has_no_presigned_urls(tmp_path: Path) -> None:
    local = LocalFileStorage(tmp_path)
    await local.put("a/b", stream(b"x"))
    assert await local.presigned_url("a/b") is None


async def test_a_presigned_url_names_the_public_endpoint_serves_the_bytes_and_expires(
    seaweedfs: SeaweedS3, s3_bucket: str
) -> None:
    store = s3_store(seaweedfs, s3_bucket)
    data = payload(MIB + 5, seed=6)
    await store.put("videos/v/seg 1.ts", stream(data))

    url = await store.presigned_url("videos/v/seg 1.ts", timedelta(seconds=5))  # room for a loaded machine

    assert url is not None
    assert urlsplit(url).netloc == f"localhost:{seaweedfs.port}"  # browsers' name, not the API's 127.0.0.1
    issued = time.monotonic()
    answer = fetch(url)
    assert answer.status_code == 200, answer.text
    assert answer.content == data
    assert fetch(url, headers={"Range": "bytes=10-19"}).content == data[10:20]

    deadline = issued + 20
    status = answer.status_code
    while status == 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        status = fetch(url).status_code
    assert status == 403
    assert time.monotonic() - issued >= 4  # X-Amz-Date is in whole seconds: up to one early
    await store.aclose()


async def test_a_cdn_base_url_replaces_the_bucket_root_in_presigned_urls(seaweedfs: SeaweedS3, s3_bucket: str) -> None:
    store = s3_store(seaweedfs, s3_bucket, cdn_base_url="https://cdn.example.test/media")
    await store.put("videos/v/master.m3u8", stream(b"#EXTM3U\n"))

    url = await store.presigned_url("videos/v/master.m3u8")

    assert url is not None
    assert url.startswith("https://cdn.example.test/media/videos/v/master.m3u8?")
    assert "X-Amz-Expires=3600" in url  # the configured default lifetime
    # What the CDN does: pass the path and the signed query on to the bucket's root, with the public Host.
    origin = url.replace("https://cdn.example.test/media", f"http://localhost:{seaweedfs.port}/{s3_bucket}")
    assert fetch(origin).content == b"#EXTM3U\n"
    await store.aclose()


async def test_store_failures_become_the_ports_errors(seaweedfs: SeaweedS3, s3_bucket: str) -> None:
    wrong_secret = s3_store(seaweedfs, s3_bucket, secret_access_key="not-the-secret")
    no_bucket = s3_store(seaweedfs, "no-such-bucket-here")
    with socket.socket() as placeholder:  # a loopback port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        unreachable = s3_store(seaweedfs, s3_bucket, endpoint_url=f"http://127.0.0.1:{placeholder.getsockname()[1]}")
        try:
            with pytest.raises(StorageError, match="refused") as refused:
                await wrong_secret.size("a")
            assert not isinstance(refused.value, StorageUnavailable)
            with pytest.raises(StorageError, match="does not exist"):
                await no_bucket.put("a", stream(b"x"))
            with pytest.raises(StorageUnavailable, match="cannot be reached"):
                await unreachable.size("a")
        finally:
            for store in (wrong_secret, no_bucket, unreachable):
                await store.aclose()


async def test_a_large_object_streams_through_in_bounded_memory(store: ObjectStore) -> None:
    """A put and a read of 64 MiB hold a few parts' worth at most, never the object (measured by tracemalloc,
    which sees the store's worker threads too; seen here: S3 put 16 MiB with 5 MiB parts, read 2 MiB)."""
    size, chunk = 64 * MIB, MIB

    async def generated() -> AsyncIterator[bytes]:
        for index in range(size // chunk):
            yield bytes([index % 251]) * chunk

    tracemalloc.start()
    try:
        assert await store.put("big/object", generated()) == size
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest, total = hashlib.sha256(), 0
        async for piece in store.read("big/object"):
            digest.update(piece)
            total += len(piece)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    expected = hashlib.sha256()
    for index in range(size // chunk):
        expected.update(bytes([index % 251]) * chunk)
    assert (total, digest.hexdigest()) == (size, expected.hexdigest())
    assert put_peak < 5 * MIN_PART_SIZE < size / 2
    assert read_peak < 4 * MIB
