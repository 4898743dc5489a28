"""A media directory as the local object store keeps one, for the migration's tests (unit and e2e)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path


def write_media_tree(root: Path, sizes: Mapping[str, int], seed: int) -> None:
    """Random bytes of the given sizes under nested keys, and one of the adapter's working files (a dot
    name: a lock), which is not an object and must never be copied."""
    rng = random.Random(seed)
    for key, size in sizes.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    (root / ".locks").mkdir()
    (root / ".locks" / "upload.lock").write_bytes(b"")
