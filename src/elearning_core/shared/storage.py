"""The object store: bytes under slash-separated keys, as S3-compatible storage and the local
filesystem both keep them.

Every module that writes files reaches them through this port, so two API replicas (or an API
and a transcoding worker on another host) see the same objects when an S3-compatible store is
configured. The semantics are S3's, and the local adapter follows them (tests/contract/
test_object_store.py runs one suite on both):

- a key is a relative path (``videos/<id>/hls/master.m3u8``); ``..``, ``.``, empty segments,
  a leading ``/``, a backslash or a NUL are refused with ``InvalidKey`` by every method, so a key
  built from a client's input can never reach outside the store;
- ``put`` replaces an object atomically: readers see the old bytes or the new, never a part;
  a stream that breaks leaves the old object (or none);
- a ranged read past the end is cut at the end; one starting at or past it yields nothing;
- multipart uploads follow S3: parts numbered 1..10,000, each but the last at least
  ``MIN_PART_SIZE`` (5 MiB), assembled in order by ``complete_multipart``. A part that is too
  small is refused there with ``PartTooSmall`` (the upload stays open: abort it or complete it
  with other parts). Uploads never completed are found by ``incomplete_uploads`` and aborted by
  whoever owns the clean-up.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part but the last."""
MAX_PARTS = 10_000
MAX_LIST_PAGE = 1000
MAX_KEY_BYTES = 1024


class StorageError(Exception):
    """The store refused or failed an operation; the message says which and why."""


class InvalidKey(StorageError, ValueError):
    """A key or prefix that could name something outside the store (or that S3 would not take)."""


class ObjectNotFound(StorageError, LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no object {key!r} in the store")
        self.key = key


class UploadNotFound(StorageError, LookupError):
    """The multipart upload was completed, aborted, or never existed (or belongs to another key)."""

    def __init__(self, key: str, upload_id: str) -> None:
        super().__init__(f"no multipart upload {upload_id!r} of {key!r}")
        self.key, self.upload_id = key, upload_id


class InvalidParts(StorageError, ValueError):
    """The parts named at completion are not the ones uploaded (unknown number, wrong tag, out of order)."""


class PartTooSmall(InvalidParts):
    """A part other than the last is smaller than ``MIN_PART_SIZE``."""


class StorageUnavailable(StorageError):
    """The store cannot be reached, or answered with a server error; trying again later may work."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    etag: str | None = None
    """An opaque tag that changes whenever the object is replaced by other bytes (S3's ETag; on the local
    store its file's inode, size and modification time): what tells a copy made earlier from one
    overwritten since, where ``modified`` has only whole seconds. None where a store has no such tag."""


@dataclass(frozen=True, slots=True)
class ObjectPage:
    items: list[ObjectInfo]
    next_after: str | None
    """Pass as ``after`` for the next page; None when this page was the last."""


@dataclass(frozen=True, slots=True)
class UploadedPart:
    number: int
    etag: str
    size: int


@dataclass(frozen=True, slots=True)
class IncompleteUpload:
    key: str
    upload_id: str
    started: datetime


class ObjectStore(Protocol):
    """Streaming object storage (see the module's docstring for the rules every adapter keeps)."""

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the stream under ``key`` (replacing it atomically); returns the size. The stream is never
        held whole in memory: an adapter holds a few parts' worth at most, whatever the object's size."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterable[bytes]:
        """The bytes ``[start, end)`` of the object, streamed; ``ObjectNotFound`` when it is absent."""
        ...

    async def size(self, key: str) -> int | None:
        """The object's size, or None when there is none."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def delete(self, key: str) -> None:
        """Delete an object, or everything under a prefix ending in ``/``; absent is fine."""
        ...

    async def list(self, prefix: str, after: str | None = None, limit: int = MAX_LIST_PAGE) -> ObjectPage:
        """Objects whose keys start with ``prefix`` (a plain string prefix, ``""`` for all), at most ``limit``
        (1..1000) per page; ``after`` (a page's ``next_after``) continues the listing, every key once.

        The order is the keys' (S3, the local store) except on SeaweedFS, whose filer lists a "directory"
        ``a/`` before a sibling that sorts between ``a`` and ``a/`` (``a-c``): take the pages as a set."""
        ...

    async def copy(self, source: str, target: str) -> None:
        """Copy one object inside the store (server-side where the store can), replacing ``target``."""
        ...

    async def presigned_url(
        self,
        key: str,
        expires_in: timedelta | None = None,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A URL a browser may GET the object from without credentials until ``expires_in`` from now
        (the adapter's configured default when None), naming the store's public address; None when the
        store has no such URLs (the local adapter: the API serves those bytes itself). With ``filename``
        the store answers ``Content-Disposition: attachment`` with that name (a download, not a page), and
        with ``content_type`` that ``Content-Type``."""
        ...

    async def create_multipart(self, key: str) -> str:
        """Start a multipart upload of ``key``; returns its id."""
        ...

    async def upload_part(self, key: str, upload_id: str, number: int, chunks: AsyncIterable[bytes]) -> UploadedPart:
        """Store part ``number`` (1..10,000) of the upload from a stream, replacing an earlier part of that
        number; ``UploadNotFound`` when the upload is gone."""
        ...

    async def list_parts(self, key: str, upload_id: str) -> builtins.list[UploadedPart]:
        """The parts stored so far, one per number, by number (what a process resuming someone else's
        upload needs). A number uploaded twice shows the later upload, except on SeaweedFS when both came
        within one second (its listing keeps both, timed to the second): complete with the tags you hold."""
        ...

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> int:
        """Assemble the parts, in ascending number, into the object (replacing it); returns its size.
        ``PartTooSmall`` or ``InvalidParts`` leave the upload open."""
        ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; one already gone is fine."""
        ...

    async def incomplete_uploads(
        self, older_than: datetime, limit: int = MAX_LIST_PAGE
    ) -> builtins.list[IncompleteUpload]:
        """Multipart uploads started before ``older_than`` and neither completed nor aborted, oldest first
        (the local adapter) or in key order (S3), at most ``limit``."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a safe object key, else ``InvalidKey``."""
    if not key or key.endswith("/"):
        raise InvalidKey(f"invalid storage key {key!r}: empty or ends with '/'")
    return _check_path(key, key)


def check_prefix(prefix: str) -> str:
    """``prefix`` when it is a safe listing or deletion prefix (``""``, ``a/``, ``a/b`` or ``a/b/``)."""
    if prefix == "":
        return prefix
    _check_path(prefix.removesuffix("/"), prefix)
    return prefix


def _check_path(path: str, shown: str) -> str:
    parts = path.split("/")
    if (
        path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or "\x00" in path
        or "\\" in path
        or len(shown.encode()) > MAX_KEY_BYTES
    ):
        raise InvalidKey(f"invalid storage key {shown!r}")
    return shown


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` as RFC 6266 has it: an ASCII fallback (unsafe characters as ``_``) and
    the exact name percent-encoded in UTF-8 (``filename*``), so no header can be broken out of."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def check_range(start: int, end: int | None) -> None:
    """A byte range ``[start, end)`` a read may ask for: ``ValueError`` for a negative start or an end
    before the start (a range past the object's end is fine: it is cut there)."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range [{start}, {end})")


def check_part_number(number: int) -> int:
    if not 1 <= number <= MAX_PARTS:
        raise InvalidParts(f"part number {number} is outside 1..{MAX_PARTS}")
    return number


def check_completion(parts: Sequence[UploadedPart], stored: Sequence[UploadedPart]) -> None:
    """The rules S3 applies at completion, checked before asking the store (both adapters give the same
    errors): at least one part, ascending numbers, each one uploaded with that tag, and every part but
    the last at least ``MIN_PART_SIZE``. ``stored`` may hold several uploads of one number (SeaweedFS
    keeps each until completion); the tag says which one is meant."""
    if not parts:
        raise InvalidParts("a multipart upload needs at least one part")
    numbers = [p.number for p in parts]
    if numbers != sorted(set(numbers)):
        raise InvalidParts(f"parts must be named once each in ascending order, got {numbers}")
    sizes = {(p.number, p.etag): p.size for p in stored}
    for part in parts:
        if (part.number, part.etag) not in sizes:
            raise InvalidParts(f"part {part.number} was not uploaded with tag {part.etag!r}")
    for part in parts[:-1]:
        size = sizes[part.number, part.etag]
        if size < MIN_PART_SIZE:
            raise PartTooSmall(
                f"part {part.number} has {size} bytes; every part but the last needs at least {MIN_PART_SIZE}"
            )
