"""The store-to-store migration: plan, verified copies, one retry, resuming from the manifest.

Both sides are the local adapter on temporary directories (the port's reference adapter, held to the S3 one
by tests/contract/test_object_store.py) rather than an in-memory fake of the whole port; subclasses count
puts, corrupt what they store or stop a run. The CLI over SeaweedFS is tests/e2e/test_cli_media_migrate.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import tracemalloc
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from elearning_adapters.storage.local import LocalFileStorage
from elearning_core.shared.storage import ObjectInfo
from elearning_core.shared.storage_migration import (
    MANIFEST_PREFIX,
    Action,
    ManifestEntry,
    Outcome,
    Planned,
    StoreMigration,
    VerificationFailed,
    make_plan,
    version,
)
from elearning_core.shared.storage_migration._plan import decide
from tests.media_tree import write_media_tree

MIB = 1024 * 1024
FILES = {
    "videos/v1/source": 3 * MIB + 11,
    "videos/v1/hls/master.m3u8": 120,
    "videos/v1/hls/720p/index.m3u8": 300,
    "videos/v1/hls/720p/seg-00000.ts": 40_000,
    "videos/v1/hls/720p/seg-00001.ts": 40_000,
    "videos/v1/captions/en.vtt": 90,
    "billing/inv/2026/INV-1.pdf": 5_000,
    "empty": 0,
}


class Stop(Exception):
    """What the test store raises to stop a run part-way (as Ctrl-C or a lost connection would)."""


class Target(LocalFileStorage):
    """The local store, counting the puts of media objects (not of the manifest), able to stop a run at
    the n-th put and to corrupt the bytes it stores (always, or the first time per key)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts: list[str] = []
        self.stop_at: int | None = None
        self.corrupt: set[str] = set()
        self.corrupt_once: set[str] = set()

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        if key.startswith(MANIFEST_PREFIX):
            return await super().put(key, chunks)
        if self.stop_at is not None and len(self.puts) + 1 == self.stop_at:
            raise Stop(key)
        self.puts.append(key)
        if key in self.corrupt or key in self.corrupt_once:
            self.corrupt_once.discard(key)
            return await super().put(key, _flipped(chunks))
        return await super().put(key, chunks)


async def _flipped(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    first = True
    async for chunk in chunks:
        if first and chunk:
            chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            first = False
        yield chunk


class Mismatches:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.outcomes: dict[str, Outcome] = {}
        self.done = 0
        self.grown = 0

    def advanced(self, size: int) -> None:
        self.done += size

    def grew(self, size: int) -> None:
        self.grown += size

    def finished(self, item: Planned, outcome: Outcome) -> None:
        self.outcomes[item.key] = outcome

    def mismatch(self, key: str, detail: str) -> None:
        self.seen.append((key, detail))


@pytest.fixture
def source(tmp_path: Path) -> LocalFileStorage:
    write_media_tree(tmp_path / "media", FILES, seed=7)
    return LocalFileStorage(tmp_path / "media")


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return Target(tmp_path / "bucket")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_files(source: LocalFileStorage, target: LocalFileStorage) -> bool:
    return all(sha(source.local_path(key)) == sha(target.local_path(key)) for key in FILES)


async def migrate(source: LocalFileStorage, target: Target) -> list[Outcome]:
    """A whole run; the outcome of each object."""
    report = await StoreMigration(source, target, jobs=3).run(await make_plan(source, target))
    return list(report.objects.elements())


async def test_every_object_is_copied_verified_and_recorded_and_a_rerun_copies_nothing(
    source: LocalFileStorage, target: Target
) -> None:
    observer = Mismatches()
    plan = await make_plan(source, target)
    assert {item.key: item.action for item in plan.items} == dict.fromkeys(FILES, Action.COPY)

    report = await StoreMigration(source, target, jobs=3, observer=observer).run(plan)

    assert report.objects == {Outcome.COPIED: len(FILES)}
    assert report.bytes[Outcome.COPIED] == sum(FILES.values())
    assert sorted(target.puts) == sorted(FILES)
    assert same_files(source, target)
    assert (observer.done, observer.grown, observer.seen) == (sum(FILES.values()), 0, [])
    assert not target.local_path(".locks").exists()
    (segment,) = [info.key for info in (await target.list(MANIFEST_PREFIX)).items]
    entries = [ManifestEntry.parse(line) for line in target.local_path(segment).read_bytes().splitlines()]
    assert {e.key: e.sha256 for e in entries if e} == {k: sha(source.local_path(k)) for k in FILES}

    target.puts.clear()
    again = await make_plan(source, target)
    assert {item.action for item in again.items} == {Action.SKIP}
    assert (await StoreMigration(source, target).run(again)).objects == {Outcome.SKIPPED: len(FILES)}
    assert target.puts == []
    assert all(source.local_path(key).is_file() for key in FILES)  # the source is never changed


async def test_a_stopped_run_records_what_it_verified_and_the_rerun_copies_only_the_rest(
    source: LocalFileStorage, target: Target
) -> None:
    target.stop_at = 4
    plan = await make_plan(source, target)
    with pytest.raises(Stop):
        await StoreMigration(source, target, jobs=1).run(plan)
    assert len(target.puts) == 3

    target.stop_at, done = None, list(target.puts)
    target.puts.clear()
    outcomes = await migrate(source, target)

    assert outcomes.count(Outcome.SKIPPED) == 3
    assert sorted(target.puts) == sorted(set(FILES) - set(done))
    assert same_files(source, target)


async def test_objects_already_there_but_unknown_to_the_manifest_are_compared_not_copied(
    source: LocalFileStorage, target: Target, tmp_path: Path
) -> None:
    """What a killed run leaves: copies without their manifest lines. Equal ones are kept; one of the same
    size with other bytes is reported and copied."""
    await migrate(source, target)
    await target.delete(MANIFEST_PREFIX)
    seg = target.local_path("videos/v1/hls/720p/seg-00001.ts")
    seg.write_bytes(bytes(len(seg.read_bytes())))
    target.puts.clear()
    observer = Mismatches()

    plan = await make_plan(source, target)
    assert {item.action for item in plan.items} == {Action.CHECK}
    report = await StoreMigration(source, target, observer=observer).run(plan)

    assert target.puts == ["videos/v1/hls/720p/seg-00001.ts"]
    assert report.objects == {Outcome.VERIFIED: len(FILES) - 1, Outcome.COPIED: 1}
    assert [key for key, _ in observer.seen] == ["videos/v1/hls/720p/seg-00001.ts"]
    assert "SHA-256" in observer.seen[0][1]
    assert observer.done == observer.grown + sum(FILES.values())
    assert same_files(source, target)


async def test_a_stored_object_overwritten_since_is_found_and_copied_again(
    source: LocalFileStorage, target: Target
) -> None:
    await migrate(source, target)
    key = "videos/v1/hls/720p/seg-00000.ts"
    await target.put(key, _one(bytes(FILES[key])))  # same size, other bytes, after the verification
    target.puts.clear()
    observer = Mismatches()

    plan = await make_plan(source, target)
    assert {i.key: i.reason for i in plan.of(Action.CHECK)} == {key: "changed in the store since it was verified"}
    report = await StoreMigration(source, target, observer=observer).run(plan)

    assert target.puts == [key]
    assert report.mismatches == [key]
    assert same_files(source, target)


async def test_a_copy_that_reads_back_wrong_is_made_again_once(source: LocalFileStorage, target: Target) -> None:
    target.corrupt_once = {"videos/v1/source"}
    observer = Mismatches()

    report = await StoreMigration(source, target, observer=observer).run(await make_plan(source, target))

    assert target.puts.count("videos/v1/source") == 2
    assert report.mismatches == ["videos/v1/source"]
    assert report.objects == {Outcome.COPIED: len(FILES)}
    assert observer.grown == FILES["videos/v1/source"]
    assert same_files(source, target)


async def test_a_second_wrong_read_back_fails_the_run_and_keeps_what_was_verified(
    source: LocalFileStorage, target: Target
) -> None:
    target.corrupt = {"videos/v1/hls/master.m3u8"}
    plan = await make_plan(source, target)

    with pytest.raises(VerificationFailed, match=r"'videos/v1/hls/master.m3u8' differs in the store after 2 copies"):
        await StoreMigration(source, target, jobs=1).run(plan)

    assert target.puts.count("videos/v1/hls/master.m3u8") == 2
    rerun = await make_plan(source, target)
    verified = {item.key for item in rerun.of(Action.SKIP)}
    assert verified == {key for key in FILES if key < "videos/v1/hls/master.m3u8"}  # jobs=1: in key order


async def test_a_source_file_changed_since_its_copy_is_compared_and_copied(
    source: LocalFileStorage, target: Target
) -> None:
    await migrate(source, target)
    source.local_path("billing/inv/2026/INV-1.pdf").write_bytes(b"a new rendering")
    source.local_path("videos/v1/captions/en.vtt").write_bytes(bytes(FILES["videos/v1/captions/en.vtt"]))
    target.puts.clear()

    plan = await make_plan(source, target)
    assert {i.key: (i.action, i.reason) for i in plan.items if i.action is not Action.SKIP} == {
        "billing/inv/2026/INV-1.pdf": (Action.COPY, "in the store with another size"),
        "videos/v1/captions/en.vtt": (Action.CHECK, "changed locally since it was verified"),
    }
    await StoreMigration(source, target).run(plan)
    assert sorted(target.puts) == ["billing/inv/2026/INV-1.pdf", "videos/v1/captions/en.vtt"]
    assert same_files(source, target)


async def test_recheck_reads_back_what_an_earlier_run_verified(source: LocalFileStorage, target: Target) -> None:
    await migrate(source, target)
    # Bytes changed under the store's feet without a new tag (bit rot): only a recheck can see it.
    path = target.local_path("videos/v1/hls/master.m3u8")
    before = path.stat()
    path.write_bytes(bytes(FILES["videos/v1/hls/master.m3u8"]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert {i.action for i in (await make_plan(source, target)).items} == {Action.SKIP}
    target.puts.clear()

    plan = await make_plan(source, target, recheck=True)
    report = await StoreMigration(source, target).run(plan)

    assert target.puts == ["videos/v1/hls/master.m3u8"]
    assert report.objects == {Outcome.VERIFIED: len(FILES) - 1, Outcome.COPIED: 1}


async def test_a_prefix_limits_the_run_and_the_manifest_keeps_the_rest(
    source: LocalFileStorage, target: Target
) -> None:
    plan = await make_plan(source, target, "billing/")
    assert [item.key for item in plan.items] == ["billing/inv/2026/INV-1.pdf"]
    await StoreMigration(source, target).run(plan)
    await migrate(source, target)

    assert {i.action for i in (await make_plan(source, target)).items} == {Action.SKIP}
    segments = [info.key for info in (await target.list(MANIFEST_PREFIX)).items]
    assert len(segments) == 1  # a finished run leaves one compacted segment


async def test_an_object_gone_from_the_source_meanwhile_is_counted_not_failed(
    source: LocalFileStorage, target: Target
) -> None:
    plan = await make_plan(source, target)
    source.local_path("videos/v1/captions/en.vtt").unlink()

    report = await StoreMigration(source, target).run(plan)

    assert report.objects[Outcome.VANISHED] == 1
    assert await target.stat("videos/v1/captions/en.vtt") is None


async def test_a_large_object_is_streamed_not_held(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    with (root / "video").open("wb") as handle:
        for _ in range(24):
            handle.write(random.randbytes(MIB))
    source, target = LocalFileStorage(root), Target(tmp_path / "bucket")
    plan = await make_plan(source, target)

    tracemalloc.start()
    try:
        await StoreMigration(source, target).run(plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * MIB
    assert sha(root / "video") == sha(target.local_path("video"))


def test_the_plan_decides_from_sizes_tags_and_the_manifest() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    here = ObjectInfo("k", 10, at, "a")
    there = ObjectInfo("k", 10, at, "b")
    entry = ManifestEntry("k", 10, "0" * 64, version(here), version(there))

    assert decide(here, None, entry).action is Action.COPY
    assert decide(here, ObjectInfo("k", 9, at, "b"), entry).action is Action.COPY
    assert decide(here, there, None).action is Action.CHECK
    assert decide(ObjectInfo("k", 10, at, "a2"), there, entry).action is Action.CHECK
    assert decide(here, ObjectInfo("k", 10, at, "b2"), entry).action is Action.CHECK
    assert decide(here, there, entry).action is Action.SKIP
    assert decide(here, there, entry, recheck=True).action is Action.CHECK
    # Without tags the modification time stands in.
    untagged = ObjectInfo("k", 10, at)
    assert version(untagged) == f"10:{at.isoformat()}"


def test_manifest_lines_that_do_not_parse_are_skipped() -> None:
    entry = ManifestEntry("a/b", 3, "f" * 64, "3:x", "3:y")
    assert ManifestEntry.parse(entry.line()) == entry
    for bad in (b"", b"{", b"[]", b'{"key": 1}', b'{"key":"a","size":"3","sha256":"f","source":"s","stored":"t"}'):
        assert ManifestEntry.parse(bad) is None


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_jobs_are_bounded(source: LocalFileStorage, target: Target) -> None:
    for jobs in (0, 33):
        with pytest.raises(ValueError, match=r"jobs must be within 1\.\.32"):
            StoreMigration(source, target, jobs=jobs)
