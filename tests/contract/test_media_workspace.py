"""One contract for ``MediaWorkspace``, where ffmpeg reads the source and writes the ladder: the media directory
itself (``LocalWorkspace``), and a temporary directory staged from and published to the object store
(``StoreWorkspace``), on the local store and on a real S3-compatible server (SeaweedFS); and playlists read
from SeaweedFS rewritten with its presigned URLs (or the CDN's)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest

from elearning_adapters.media.workspace import LocalWorkspace, StoreWorkspace
from elearning_adapters.storage.local import LocalFileStorage
from elearning_core.shared.storage import ObjectNotFound, ObjectStore
from elearning_core.video.media import MediaUrlLifetime, SignedPlaylists
from elearning_core.video.model import Video
from elearning_core.video.ports import MediaWorkspace
from tests.contract.test_object_store import fetch, s3_store
from tests.hls_player import uris

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs and s3_bucket fixtures

SOURCE = "videos/v1/source"
LADDER = "videos/v1/hls/"
STAGING = "elearning-transcode-"


class Workspaces:
    def __init__(self, store: ObjectStore, workspace: MediaWorkspace, temp: Path) -> None:
        self.store, self.workspace, self.temp = store, workspace, temp


@pytest.fixture(params=["local", "store-on-local", "store-on-s3"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Workspaces]:
    temp = tmp_path / "tmp"
    temp.mkdir()
    if request.param == "local":
        local = LocalFileStorage(tmp_path / "media")
        yield Workspaces(local, LocalWorkspace(local), temp)
        return
    if request.param == "store-on-local":
        store = LocalFileStorage(tmp_path / "media")
        yield Workspaces(store, StoreWorkspace(store, temp, concurrency=2), temp)
        return
    seaweedfs: SeaweedS3 = request.getfixturevalue("seaweedfs")
    s3 = s3_store(seaweedfs, request.getfixturevalue("s3_bucket"))
    try:
        yield Workspaces(s3, StoreWorkspace(s3, temp, concurrency=2), temp)
    finally:
        await s3.aclose()


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read(store: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def keys(store: ObjectStore, prefix: str) -> set[str]:
    return {item.key for item in (await store.list(prefix)).items}


def write_ladder(output: Path, segments: int, tag: str) -> None:
    for rung in ("360p", "720p"):
        (output / rung).mkdir(parents=True, exist_ok=True)
        for n in range(segments):
            (output / rung / f"seg_{n:04d}.ts").write_bytes(f"{tag} {rung} {n}".encode())
        (output / rung / "index.m3u8").write_text(f"#EXTM3U\n# {tag}\nseg_0000.ts\n")
    (output / "master.m3u8").write_text(f"#EXTM3U\n# {tag}\n360p/index.m3u8\n720p/index.m3u8\n")
    (output / "thumbnail.jpg").write_bytes(b"\xff\xd8" + tag.encode())


async def test_a_run_stages_the_source_and_publishes_the_ladder_replacing_an_earlier_one(subject: Workspaces) -> None:
    source = random.Random(1).randbytes(3 * 1024 * 1024 + 17)  # several read pieces
    await subject.store.put(SOURCE, one(source))
    async with subject.workspace.run(SOURCE, LADDER) as first:
        assert first.source.read_bytes() == source
        assert first.output.is_dir()
        assert list(first.output.iterdir()) == []
        write_ladder(first.output, 3, "first")
        await first.publish()
    assert await read(subject.store, f"{LADDER}master.m3u8") == b"#EXTM3U\n# first\n360p/index.m3u8\n720p/index.m3u8\n"
    assert await read(subject.store, f"{LADDER}720p/seg_0002.ts") == b"first 720p 2"

    async with subject.workspace.run(SOURCE, LADDER) as second:
        write_ladder(second.output, 2, "second")  # shorter: seg_0002 of the first run is stale
        await second.publish()

    expected = {f"{LADDER}{r}/seg_{n:04d}.ts" for r in ("360p", "720p") for n in range(2)}
    expected |= {f"{LADDER}360p/index.m3u8", f"{LADDER}720p/index.m3u8", f"{LADDER}master.m3u8"}
    expected |= {f"{LADDER}thumbnail.jpg"}
    assert await keys(subject.store, LADDER) == expected
    assert await read(subject.store, f"{LADDER}360p/seg_0001.ts") == b"second 360p 1"
    assert await keys(subject.store, "videos/v1/") == expected | {SOURCE}  # no working files left in the store
    assert [p.name for p in subject.temp.iterdir()] == []  # nor in the temporary directory


async def test_a_run_that_fails_publishes_nothing_and_leaves_no_files(subject: Workspaces) -> None:
    await subject.store.put(SOURCE, one(b"source"))
    async with subject.workspace.run(SOURCE, LADDER) as first:
        write_ladder(first.output, 1, "kept")
        await first.publish()

    async def broken_run() -> None:
        async with subject.workspace.run(SOURCE, LADDER) as broken:
            write_ladder(broken.output, 4, "broken")
            raise RuntimeError("ffmpeg broke")

    with pytest.raises(RuntimeError, match="ffmpeg broke"):
        await broken_run()

    assert await read(subject.store, f"{LADDER}master.m3u8") == b"#EXTM3U\n# kept\n360p/index.m3u8\n720p/index.m3u8\n"
    assert f"{LADDER}720p/seg_0003.ts" not in await keys(subject.store, LADDER)
    assert len(await keys(subject.store, "videos/v1/")) == len(await keys(subject.store, LADDER)) + 1
    assert list(subject.temp.iterdir()) == []


async def test_a_missing_source_is_object_not_found(subject: Workspaces) -> None:
    with pytest.raises(ObjectNotFound):
        async with subject.workspace.run(SOURCE, LADDER):
            pytest.fail("a run without a source must not start")
    assert list(subject.temp.iterdir()) == []
    assert await keys(subject.store, "videos/") == set()


class RecordingStore(LocalFileStorage):
    """The local store, noting the order of its puts."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts: list[str] = []

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        size = await super().put(key, chunks)
        self.puts.append(key)
        return size


async def test_publishing_stores_segments_before_the_playlists_naming_them_and_the_master_last(
    tmp_path: Path,
) -> None:
    store = RecordingStore(tmp_path / "media")
    await store.put(SOURCE, one(b"source"))
    store.puts.clear()
    async with StoreWorkspace(store, tmp_path, concurrency=3).run(SOURCE, LADDER) as run:
        write_ladder(run.output, 5, "x")
        await run.publish()

    kinds = [
        "master" if k.endswith("master.m3u8") else "playlist" if k.endswith(".m3u8") else "file" for k in store.puts
    ]
    assert kinds == ["file"] * 11 + ["playlist"] * 2 + ["master"]


async def test_a_playlist_read_from_s3_names_store_urls_that_serve_the_segments_or_the_cdns(
    seaweedfs: SeaweedS3, s3_bucket: str
) -> None:
    video = Video.create(course_id=uuid.uuid4(), title="Clip", at=datetime.now(UTC), created_by=None)
    video.duration_seconds = 8.0
    playlist = f"{video.hls_prefix}720p/index.m3u8"
    urls = MediaUrlLifetime(minimum=timedelta(seconds=60), margin=timedelta(seconds=30))
    direct = s3_store(seaweedfs, s3_bucket)
    behind_cdn = s3_store(seaweedfs, s3_bucket, cdn_base_url="https://cdn.example.test/media")
    try:
        await direct.put(playlist, one(b"#EXTM3U\n#EXTINF:4.0,\nseg_0000.ts\n#EXT-X-ENDLIST\n"))
        await direct.put(f"{video.hls_prefix}720p/seg_0000.ts", one(b"segment bytes"))

        (segment,) = uris(await SignedPlaylists(direct).get(playlist, video, datetime.now(UTC), urls))
        (through_cdn,) = uris(await SignedPlaylists(behind_cdn).get(playlist, video, datetime.now(UTC), urls))
    finally:
        await direct.aclose()
        await behind_cdn.aclose()

    assert segment.startswith(f"http://localhost:{seaweedfs.port}/{s3_bucket}/{video.hls_prefix}720p/seg_0000.ts?")
    assert parse_qs(urlsplit(segment).query)["X-Amz-Expires"] == ["90"]  # 8 s + 30 s < 60 s; + 30 s of reuse
    assert fetch(segment).content == b"segment bytes"
    assert through_cdn.startswith(f"https://cdn.example.test/media/{video.hls_prefix}720p/seg_0000.ts?X-Amz-")
