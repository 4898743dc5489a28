"""The migration's memory of what it verified: JSON Lines objects under ``MANIFEST_PREFIX`` in the target store.

Why a manifest object and not object metadata: the port's ``put`` takes bytes only, so metadata would need a
new port method on both adapters, and a manifest keeps the target's objects exactly as the platform writes
them. Why in the target and not on the local disk: whoever reruns the copy (another host, after a crash) finds
it beside the objects it describes.

One line per object verified, ``{"key", "size", "sha256", "source", "stored"}``, where ``source`` and
``stored`` are the versions (``version``: size and tag) the two sides had when the bytes were found equal.
A run writes its lines in segments (``<run id>-<n>.jsonl``, every ``FLUSH_EVERY`` objects or
``FLUSH_SECONDS``, and when it stops for any reason but a kill), never rewriting one, so a long run costs a
put per segment rather than a rewrite of the whole manifest per object. Run ids are UUIDv7, so segments sort
by time and a later line wins. A run that finished writes the whole manifest as one segment and deletes the
older ones. A line that does not parse is skipped: it only loses the shortcut for that object (the next run
reads the object back instead).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass

from elearning_core.shared.storage import ObjectInfo, ObjectNotFound, ObjectStore, StorageError

MANIFEST_PREFIX = ".elearning/media-migrate/"
FLUSH_EVERY = 500
FLUSH_SECONDS = 5.0
MAX_LISTING_PAGES = 1_000_000
"""A listing that still has pages after this many (a billion keys) is a store that does not advance."""


def version(info: ObjectInfo) -> str:
    """What identifies one state of an object: its size and tag (its modification time where it has none)."""
    return f"{info.size}:{info.etag or info.modified.isoformat()}"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    key: str
    size: int
    sha256: str
    source: str
    """``version`` of the source object whose bytes were verified."""
    stored: str
    """``version`` of the target object found to hold the same bytes."""

    def line(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> ManifestEntry | None:
        try:
            data = json.loads(line)
            entry = cls(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None
        if entry is None or not all(isinstance(v, str) for v in (entry.key, entry.sha256, entry.source, entry.stored)):
            return None
        return entry if isinstance(entry.size, int) else None


async def list_all(store: ObjectStore, prefix: str) -> AsyncIterator[ObjectInfo]:
    """Every object under ``prefix``, page after page (each key once; pages taken as a set, see the port)."""
    after: str | None = None
    for _ in range(MAX_LISTING_PAGES):
        page = await store.list(prefix, after)
        for info in page.items:
            yield info
        if page.next_after is None:
            return
        if page.next_after == after:
            raise StorageError(f"the listing of {prefix!r} does not advance past {after!r}")
        after = page.next_after
    raise StorageError(f"the listing of {prefix!r} has more than {MAX_LISTING_PAGES} pages")


async def _lines(store: ObjectStore, key: str) -> AsyncIterator[bytes]:
    rest = b""
    async for chunk in store.read(key):
        *whole, rest = (rest + chunk).split(b"\n")
        for line in whole:
            yield line
    if rest:
        yield rest


async def load_manifest(store: ObjectStore) -> tuple[dict[str, ManifestEntry], list[str]]:
    """The merged manifest (later segments win) and the keys of its segments."""
    segments = sorted([info.key async for info in list_all(store, MANIFEST_PREFIX)])
    entries: dict[str, ManifestEntry] = {}
    for key in segments:
        try:
            async for line in _lines(store, key):
                entry = ManifestEntry.parse(line)
                if entry is not None:
                    entries[entry.key] = entry
        except ObjectNotFound:
            continue  # compacted away by a run that finished meanwhile
    return entries, segments


async def _encoded(entries: Iterable[ManifestEntry], batch: int = 1000) -> AsyncIterator[bytes]:
    lines: list[bytes] = []
    for entry in entries:
        lines.append(entry.line())
        if len(lines) >= batch:
            yield b"".join(lines)
            lines = []
    if lines:
        yield b"".join(lines)


class ManifestWriter:
    """Appends a run's verified objects to the manifest in segments (see the module's docstring)."""

    def __init__(
        self, store: ObjectStore, run_id: str, *, every: int = FLUSH_EVERY, seconds: float = FLUSH_SECONDS
    ) -> None:
        self._store, self._run_id = store, run_id
        self._every, self._seconds = every, seconds
        self._pending: list[ManifestEntry] = []
        self._sequence = 0
        self._last_flush = time.monotonic()
        self._lock = asyncio.Lock()
        self.recorded: dict[str, ManifestEntry] = {}
        self.segments: list[str] = []

    def add(self, entry: ManifestEntry) -> None:
        self._pending.append(entry)
        self.recorded[entry.key] = entry

    async def flush_if_due(self) -> None:
        if len(self._pending) >= self._every or time.monotonic() - self._last_flush >= self._seconds:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if self._pending:
                entries, self._pending = self._pending, []
                try:
                    await self._write(entries)
                except BaseException:
                    self._pending[:0] = entries  # a later flush tries them again
                    raise
            self._last_flush = time.monotonic()

    async def compact(self, entries: dict[str, ManifestEntry], older: Iterable[str]) -> None:
        """Write ``entries`` as one segment, then delete every other one (``older`` and this run's)."""
        async with self._lock:
            superseded = [*older, *self.segments]
            kept = await self._write(list(entries.values()))
            for key in superseded:
                if key != kept:
                    await self._store.delete(key)
            self.segments = [kept]

    async def _write(self, entries: list[ManifestEntry]) -> str:
        self._sequence += 1
        key = f"{MANIFEST_PREFIX}{self._run_id}-{self._sequence:06d}.jsonl"
        await self._store.put(key, _encoded(entries))
        self.segments.append(key)
        return key
