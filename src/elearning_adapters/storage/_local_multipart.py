"""Multipart uploads on the local filesystem, with S3's rules, so code written against the object
store (tus onto multipart, later) behaves the same on the embedded default.

An upload is a directory ``.multipart/<id>/`` holding ``upload.json`` (its key and start time) and
one file per part named by its number and tag (``00001-<md5>``), each written under a temporary
name and renamed when whole, so a broken stream never leaves half a part. Completion concatenates the parts into a temporary file
beside the target and renames it over the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from elearning_adapters.storage._local_io import READ_SIZE, write_stream
from elearning_core.shared.storage import (
    MAX_LIST_PAGE,
    IncompleteUpload,
    UploadedPart,
    UploadNotFound,
    check_completion,
    check_part_number,
)

_META = "upload.json"


class LocalMultipart:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _directory(self, key: str, upload_id: str) -> Path:
        """The upload's directory, when ``upload_id`` names an open upload of ``key``."""
        try:
            directory = self.root / uuid.UUID(hex=upload_id).hex
            meta = json.loads((directory / _META).read_text())
        except (ValueError, OSError):
            raise UploadNotFound(key, upload_id) from None
        if meta.get("key") != key:
            raise UploadNotFound(key, upload_id)
        return directory

    async def create(self, key: str) -> str:
        upload_id = uuid.uuid4().hex

        def make() -> None:
            directory = self.root / upload_id
            directory.mkdir(parents=True)
            (directory / _META).write_text(json.dumps({"key": key, "started": datetime.now(UTC).isoformat()}))

        await asyncio.to_thread(make)
        return upload_id

    async def upload(self, key: str, upload_id: str, number: int, chunks: AsyncIterable[bytes]) -> UploadedPart:
        check_part_number(number)
        directory = await asyncio.to_thread(self._directory, key, upload_id)
        temporary = directory / f".{number:05d}.tmp-{uuid.uuid4().hex}"
        digest = hashlib.md5(usedforsecurity=False)
        handle = await asyncio.to_thread(open, temporary, "wb")
        try:
            try:
                size = await write_stream(chunks, handle, digest)
            finally:
                await asyncio.to_thread(handle.close)
            etag = digest.hexdigest()
            await asyncio.to_thread(_replace_part, temporary, directory, number, etag)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return UploadedPart(number, etag, size)

    async def parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        def scan() -> list[UploadedPart]:
            found: dict[int, tuple[float, UploadedPart]] = {}
            for path in self._directory(key, upload_id).iterdir():
                number, _, etag = path.name.partition("-")
                if not (number.isdigit() and etag):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    # Two files of one number exist only while a part is being replaced: the newer wins.
                    if int(number) not in found or found[int(number)][0] < stat.st_mtime:
                        found[int(number)] = (stat.st_mtime, UploadedPart(int(number), etag, stat.st_size))
            return [part for _, part in sorted(found.values(), key=lambda item: item[1].number)]

        return await asyncio.to_thread(scan)

    async def complete(self, key: str, upload_id: str, parts: Sequence[UploadedPart], target: Path) -> int:
        check_completion(parts, await self.parts(key, upload_id))
        directory = await asyncio.to_thread(self._directory, key, upload_id)
        temporary = target.with_name(f".{target.name}.tmp-{upload_id}")

        def assemble() -> int:
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            try:
                with temporary.open("wb") as out:
                    for part in parts:
                        with (directory / f"{part.number:05d}-{part.etag}").open("rb") as handle:
                            shutil.copyfileobj(handle, out, 4 * READ_SIZE)
                    size = out.tell()
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            shutil.rmtree(directory, ignore_errors=True)
            return size

        return await asyncio.to_thread(assemble)

    async def abort(self, key: str, upload_id: str) -> None:
        def drop() -> None:
            with contextlib.suppress(UploadNotFound):
                shutil.rmtree(self._directory(key, upload_id), ignore_errors=True)

        await asyncio.to_thread(drop)

    async def incomplete(self, older_than: datetime, limit: int = MAX_LIST_PAGE) -> list[IncompleteUpload]:
        def scan() -> list[IncompleteUpload]:
            found = []
            with contextlib.suppress(FileNotFoundError):
                for directory in self.root.iterdir():
                    try:
                        meta = json.loads((directory / _META).read_text())
                    except (OSError, ValueError):
                        continue
                    started = datetime.fromisoformat(meta["started"])
                    if started < older_than:
                        found.append(IncompleteUpload(meta["key"], directory.name, started))
            return sorted(found, key=lambda upload: upload.started)[:limit]

        return await asyncio.to_thread(scan)


def _replace_part(temporary: Path, directory: Path, number: int, etag: str) -> None:
    name = f"{number:05d}-{etag}"
    os.replace(temporary, directory / name)
    for other in directory.glob(f"{number:05d}-*"):
        if other.name != name:
            other.unlink(missing_ok=True)
