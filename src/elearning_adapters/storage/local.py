"""``BlobStorage`` on the local filesystem: the embedded default (``ELEARNING_MEDIA_DIR``,
else ``ELEARNING_DATA_DIR/media``).

File I/O runs in worker threads in pieces of about a megabyte, so a large
upload or a whole-file checksum never holds the event loop for longer than a
small copy. Writers of one upload are serialised by an ``flock`` on a lock
file, which holds between the API's worker processes as well as within one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import IO

from elearning_core.video.ports import BlobStorage, StorageLock

WRITE_BUFFER = 1024 * 1024
READ_SIZE = 1024 * 1024


class InvalidKey(ValueError):
    pass


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

    def local_path(self, key: str) -> Path:
        parts = key.rstrip("/").split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise InvalidKey(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    def lock(self, key: str) -> FileLock:
        name = hashlib.sha256(key.encode()).hexdigest()
        return FileLock(self.root / ".locks" / f"{name}.lock")

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self.local_path(key)
        temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{id(chunks)}")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        try:
            handle = await asyncio.to_thread(open, temporary, "wb")
            try:
                size = await _copy(chunks, handle)
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
            written = await _copy(chunks, handle)
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
        try:
            return (await asyncio.to_thread(self.local_path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.local_path(key)
        handle = await asyncio.to_thread(open, path, "rb")
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


async def _copy(chunks: AsyncIterable[bytes], handle: IO[bytes]) -> int:
    """Write the stream through a buffer of about a megabyte; what arrived before an error is kept."""
    buffered: list[bytes] = []
    pending = 0
    written = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            buffered.append(chunk)
            pending += len(chunk)
            if pending >= WRITE_BUFFER:
                data = b"".join(buffered) if len(buffered) > 1 else buffered[0]
                buffered, pending = [], 0
                await asyncio.to_thread(handle.write, data)
                written += len(data)
    finally:
        if buffered:
            data = b"".join(buffered)
            await asyncio.to_thread(handle.write, data)
            written += len(data)
    return written
