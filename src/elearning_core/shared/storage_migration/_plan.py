"""What a migration run will do with each source object, decided from listings and the manifest alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from elearning_core.shared.storage import ObjectInfo, ObjectStore, check_prefix
from elearning_core.shared.storage_migration._manifest import (
    MANIFEST_PREFIX,
    ManifestEntry,
    list_all,
    load_manifest,
    version,
)


class Action(StrEnum):
    COPY = "copy"
    """Absent from the target, or there with another size: copy it (and verify the copy)."""
    CHECK = "check"
    """In the target with the same size but not known to hold the same bytes: read both and compare,
    copy only when they differ."""
    SKIP = "skip"
    """Verified by an earlier run, and neither side has changed since (same sizes and tags)."""


NEW = "not in the store"
OTHER_SIZE = "in the store with another size"
UNVERIFIED = "in the store, not verified yet"
CHANGED_HERE = "changed locally since it was verified"
CHANGED_THERE = "changed in the store since it was verified"
VERIFIED = "verified by an earlier run"
RECHECK = "verified by an earlier run; --recheck reads it back"


@dataclass(frozen=True, slots=True)
class Planned:
    source: ObjectInfo
    target: ObjectInfo | None
    action: Action
    reason: str

    @property
    def key(self) -> str:
        return self.source.key

    @property
    def size(self) -> int:
        return self.source.size


@dataclass(slots=True)
class Plan:
    prefix: str
    items: list[Planned]
    manifest: dict[str, ManifestEntry]
    segments: list[str] = field(default_factory=list)
    """The manifest's segment keys when the plan was made."""

    def of(self, *actions: Action) -> list[Planned]:
        return [item for item in self.items if item.action in actions]

    def size_of(self, *actions: Action) -> int:
        return sum(item.size for item in self.of(*actions))


def decide(
    source: ObjectInfo, target: ObjectInfo | None, entry: ManifestEntry | None, *, recheck: bool = False
) -> Planned:
    if target is None:
        return Planned(source, target, Action.COPY, NEW)
    if target.size != source.size:
        return Planned(source, target, Action.COPY, OTHER_SIZE)
    if entry is None:
        return Planned(source, target, Action.CHECK, UNVERIFIED)
    if entry.source != version(source):
        return Planned(source, target, Action.CHECK, CHANGED_HERE)
    if entry.stored != version(target):
        return Planned(source, target, Action.CHECK, CHANGED_THERE)
    if recheck:
        return Planned(source, target, Action.CHECK, RECHECK)
    return Planned(source, target, Action.SKIP, VERIFIED)


async def make_plan(source: ObjectStore, target: ObjectStore, prefix: str = "", *, recheck: bool = False) -> Plan:
    """List both stores under ``prefix`` (metadata only, a thousand keys a request) and read the manifest.

    Holds one ``ObjectInfo`` per object of each side in memory (about 200 bytes each), never their bytes."""
    check_prefix(prefix)
    manifest, segments = await load_manifest(target)
    sources = {info.key: info async for info in list_all(source, prefix) if not info.key.startswith(MANIFEST_PREFIX)}
    targets = {info.key: info async for info in list_all(target, prefix) if not info.key.startswith(MANIFEST_PREFIX)}
    items = [
        decide(info, targets.get(key), manifest.get(key), recheck=recheck) for key, info in sorted(sources.items())
    ]
    return Plan(prefix, items, manifest, segments)
