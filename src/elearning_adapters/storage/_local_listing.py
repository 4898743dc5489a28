"""Listing a directory tree in S3's order: keys sorted as strings, paged after a key.

A directory ``d`` sorts as ``d/`` among its siblings, so a depth-first walk yields every key in
string order (``a-c`` < ``a/x`` < ``a0``), and a page after a key skips whole directories that
lie before it instead of walking them. Names starting with a dot are the adapter's own working
files (locks, multipart parts, temporary files) and are never listed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from elearning_core.shared.storage import ObjectInfo, ObjectPage


def file_info(key: str, found: os.stat_result) -> ObjectInfo:
    """The object a regular file holds; its tag changes when the file is replaced (a put renames a new file
    over it: another inode) or written in place (size or modification time)."""
    etag = f"{found.st_ino:x}-{found.st_size:x}-{found.st_mtime_ns:x}"
    return ObjectInfo(key, found.st_size, datetime.fromtimestamp(found.st_mtime, UTC), etag)


def list_page(root: Path, prefix: str, after: str | None, limit: int) -> ObjectPage:
    """Up to ``limit`` objects under ``prefix`` after ``after`` (runs in a worker thread)."""
    head, _, _ = prefix.rpartition("/")
    start = root.joinpath(*head.split("/")) if head else root
    items: list[ObjectInfo] = []
    for info in _walk(start, f"{head}/" if head else "", prefix, after):
        if len(items) == limit:
            return ObjectPage(items, items[-1].key)
        items.append(info)
    return ObjectPage(items, None)


def _walk(directory: Path, base: str, prefix: str, after: str | None) -> Iterator[ObjectInfo]:
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    named = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            found = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(found.st_mode):
            named.append((f"{base}{entry.name}/", entry, found))
        elif stat.S_ISREG(found.st_mode):
            named.append((f"{base}{entry.name}", entry, found))
    for key, entry, found in sorted(named, key=lambda item: item[0]):
        if key.endswith("/"):
            # Everything below starts with ``key``: skip it when the prefix or the page excludes all of it.
            if not (key.startswith(prefix) or prefix.startswith(key)):
                continue
            if after is not None and after >= key and not after.startswith(key):
                continue
            yield from _walk(Path(entry.path), key, prefix, after)
        elif key.startswith(prefix) and (after is None or key > after):
            yield file_info(key, found)
