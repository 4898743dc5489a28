"""``BlobStorage`` (and so ``ObjectStore``) on the local filesystem: the embedded default
(``ELEARNING_MEDIA_DIR``, else ``ELEARNING_DATA_DIR/media``).

File I/O runs in worker threads in pieces of about a megabyte, so a large
upload or a whole-file checksum never holds the event loop for longer than a
small copy. Writers of one upload are serialised by an ``flock`` on a lock
file, which holds between the API's worker processes as well as within one.

The adapter's own working files have names starting with a dot (``.locks/``,
``.multipart/``, ``.<name>.tmp-*`` beside a file being written), and listing
skips every such name. It has no presigned URLs (``presigned_url`` is None):
the API serves local media itself, behind its signed playback URLs.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from elearning_adapters.storage._local_io import READ_SIZE, write_stream
from elearning_adapters.storage._local_listing import file_info, list_page
from elearning_adapters.storage._local_multipart import LocalMultipart
from elearning_core.shared.storage import (
    MAX_LIST_PAGE,
    IncompleteUpload,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectPage,
    UploadedPart,
    check_key,
    check_prefix,
    check_range,
)
from elearning_core.video.ports import BlobStorage, StorageLock


class FileLock(StorageLock):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class LocalFileStorage(BlobStorage):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._parts = LocalMultipart(self.root / ".multipart")

    def local_path(self, key: str) -> Path:
        """The file of ``key``, or the directory of a prefix ending in ``/``."""
        if not key:
            raise InvalidKey("invalid storage key '': empty")
        return self.root.joinpath(*check_prefix(key).rstrip("/").split("/"))

    def lock(self, key: str) -> FileLock:
        name = hashlib.sha256(key.encode()).hexdigest()
        return FileLock(self.root / ".locks" / f"{name}.lock")

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self.local_path(check_key(key))
        temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{id(chunks)}")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        try:
            handle = await asyncio.to_thread(open, temporary, "wb")
            try:
                size = await write_stream(chunks, handle)
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return size

    async def write_at(self, key: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        path = self.local_path(key)

        def open_at() -> IO[bytes]:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115 (closed below, in a thread)
            handle.truncate(offset)
            handle.seek(offset)
            return handle

        handle = await asyncio.to_thread(open_at)
        try:
            written = await write_stream(chunks, handle)
        finally:
            await asyncio.to_thread(handle.close)
        return offset + written

    async def truncate(self, key: str, size: int) -> None:
        path = self.local_path(key)

        def cut() -> None:
            with open(path, "r+b") as handle:
                handle.truncate(size)

        await asyncio.to_thread(cut)

    async def size(self, key: str) -> int | None:
        info = await self.stat(key)
        return None if info is None else info.size

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self.local_path(check_key(key))
        try:
            found = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        return file_info(key, found)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.local_path(check_key(key))
        check_range(start, end)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                size = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
                data = await asyncio.to_thread(handle.read, size)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            await asyncio.to_thread(handle.close)

    async def sha256(self, key: str) -> str:
        path = self.local_path(key)

        def digest() -> str:
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(4 * READ_SIZE):
                    sha.update(block)
            return sha.hexdigest()

        return await asyncio.to_thread(digest)

    async def move(self, source: str, target: str) -> None:
        src, dst = self.local_path(source), self.local_path(target)

        def rename() -> None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_dir() and not dst.is_symlink():
                # Swap the old tree out first, so readers see the old or the new output, never a mix.
                old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{id(src)}")
                os.replace(dst, old)
                os.replace(src, dst)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(src, dst)

        await asyncio.to_thread(rename)

    async def delete(self, key: str) -> None:
        path = self.local_path(key)

        def remove() -> None:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def list(self, prefix: str, after: str | None = None, limit: int = MAX_LIST_PAGE) -> ObjectPage:
        check_prefix(prefix)
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise ValueError(f"limit must be within 1..{MAX_LIST_PAGE}, got {limit}")
        return await asyncio.to_thread(list_page, self.root, prefix, after, limit)

    async def copy(self, source: str, target: str) -> None:
        src, dst = self.local_path(check_key(source)), self.local_path(check_key(target))
        temporary = dst.with_name(f".{dst.name}.tmp-{os.getpid()}-{id(src)}")

        def duplicate() -> None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(src, temporary)
                os.replace(temporary, dst)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                temporary.unlink(missing_ok=True)
                raise ObjectNotFound(source) from None
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise

        await asyncio.to_thread(duplicate)

    async def presigned_url(
        self,
        key: str,
        expires_in: timedelta | None = None,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """None: a browser cannot reach the local directory; the API serves those bytes (signed playback URLs)."""
        check_key(key)
        return None

    async def create_multipart(self, key: str) -> str:
        return await self._parts.create(check_key(key))

    async def upload_part(self, key: str, upload_id: str, number: int, chunks: AsyncIterable[bytes]) -> UploadedPart:
        return await self._parts.upload(check_key(key), upload_id, number, chunks)

    async def list_parts(self, key: str, upload_id: str) -> builtins.list[UploadedPart]:
        return await self._parts.parts(check_key(key), upload_id)

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> int:
        return await self._parts.complete(check_key(key), upload_id, parts, self.local_path(key))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._parts.abort(check_key(key), upload_id)

    async def incomplete_uploads(
        self, older_than: datetime, limit: int = MAX_LIST_PAGE
    ) -> builtins.list[IncompleteUpload]:
        return await self._parts.incomplete(older_than, limit)
