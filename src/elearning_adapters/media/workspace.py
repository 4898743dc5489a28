"""``MediaWorkspace``: where ffprobe and ffmpeg find the source and write the ladder.

- ``LocalWorkspace`` (the local store, the embedded default): ffmpeg reads the source in the media
  directory and writes into ``videos/<id>/hls.tmp-<run>/`` beside it, which replaces ``hls/`` in
  one rename when the run succeeds (readers see the old ladder or the new one).
- ``StoreWorkspace`` (an object store, S3): the worker needs no disk shared with the API. The
  source is staged into a temporary directory of the worker's host (``TMPDIR``; it must hold the
  source and its ladder), ffmpeg writes the ladder there, and publishing uploads it under
  ``videos/<id>/hls/``: segments and the thumbnail first, then the media playlists, the master
  last, so a player never finds a playlist naming a segment not yet stored; objects of an earlier
  run the new ladder does not have are deleted after. Staging rather than handing ffmpeg a
  presigned URL: ffprobe, the transcode and the thumbnail read the source three times, an MP4
  whose index sits at its end makes ffmpeg seek back and forth over HTTP, a transcode can outlive
  a URL's expiry, and presigned URLs name the store's public address, which a worker inside the
  network may not reach; one streamed download to local disk avoids all of that.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import IO

from elearning_adapters.storage import LocalFileStorage
from elearning_adapters.storage._local_io import READ_SIZE, write_stream
from elearning_core.shared.storage import ObjectNotFound, ObjectStore
from elearning_core.video.media import is_playlist
from elearning_core.video.ports import MediaWorkspace, TranscodeRun

MASTER = "master.m3u8"


class _LocalRun(TranscodeRun):
    def __init__(self, storage: LocalFileStorage, source: Path, work: str, target: str) -> None:
        self.source, self.output = source, storage.local_path(work)
        self._storage, self._work, self._target = storage, work, target

    async def publish(self) -> None:
        await self._storage.move(self._work, self._target)


class LocalWorkspace(MediaWorkspace):
    def __init__(self, storage: LocalFileStorage) -> None:
        self._storage = storage

    @contextlib.asynccontextmanager
    async def run(self, source_key: str, target_prefix: str) -> AsyncIterator[TranscodeRun]:
        source = self._storage.local_path(source_key)
        if not await asyncio.to_thread(source.is_file):
            raise ObjectNotFound(source_key)
        work = f"{target_prefix.rstrip('/')}.tmp-{uuid.uuid4().hex}/"
        run = _LocalRun(self._storage, source, work, target_prefix)
        try:
            await asyncio.to_thread(run.output.mkdir, parents=True, exist_ok=True)
            yield run
        finally:
            await self._storage.delete(work)


class _StoreRun(TranscodeRun):
    def __init__(self, store: ObjectStore, directory: Path, target: str, concurrency: int) -> None:
        self.source, self.output = directory / "source", directory / "output"
        self._store, self._target, self._concurrency = store, target, concurrency

    async def publish(self) -> None:
        files = await asyncio.to_thread(_files_under, self.output)
        new = {f"{self._target}{path.relative_to(self.output).as_posix()}": path for path in files}
        segments = [key for key in new if not is_playlist(key)]
        playlists = [key for key in new if is_playlist(key) and key != self._target + MASTER]
        master = [key for key in new if key == self._target + MASTER]
        for group in (segments, playlists, master):
            await self._upload(group, new)
        stale = [key for key in await _keys_under(self._store, self._target) if key not in new]
        for key in stale:
            await self._store.delete(key)

    async def _upload(self, keys: Iterable[str], files: dict[str, Path]) -> None:
        slots = asyncio.Semaphore(self._concurrency)

        async def one(key: str) -> None:
            async with slots:
                await self._store.put(key, _read_file(files[key]))

        async with asyncio.TaskGroup() as group:
            for key in keys:
                group.create_task(one(key))


class StoreWorkspace(MediaWorkspace):
    def __init__(self, store: ObjectStore, temp_dir: Path | None = None, concurrency: int = 8) -> None:
        """``temp_dir``: where runs stage their files (None: the system's, ``TMPDIR``); ``concurrency``:
        uploads at a time when publishing."""
        self._store, self._temp_dir, self._concurrency = store, temp_dir, concurrency

    @contextlib.asynccontextmanager
    async def run(self, source_key: str, target_prefix: str) -> AsyncIterator[TranscodeRun]:
        directory = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="elearning-transcode-", dir=self._temp_dir))
        try:
            run = _StoreRun(self._store, directory, target_prefix, self._concurrency)
            await asyncio.to_thread(run.output.mkdir)
            handle: IO[bytes] = await asyncio.to_thread(open, run.source, "wb")
            try:
                await write_stream(self._store.read(source_key), handle)
            finally:
                await asyncio.to_thread(handle.close)
            yield run
        finally:
            await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)


def _files_under(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


async def _keys_under(store: ObjectStore, prefix: str) -> set[str]:
    keys: set[str] = set()
    after: str | None = None
    while True:
        page = await store.list(prefix, after)
        keys.update(item.key for item in page.items)
        if page.next_after is None:
            return keys
        after = page.next_after


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while data := await asyncio.to_thread(handle.read, READ_SIZE):
            yield data
    finally:
        await asyncio.to_thread(handle.close)
