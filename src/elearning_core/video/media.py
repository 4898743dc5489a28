"""Media delivery from an object store: HLS playlists rewritten so every segment is named by the store's
own URL, and how long such URLs live.

ffmpeg writes playlists that name their segments (and any key or init-segment ``URI="..."``
attribute) by paths relative to the playlist. With the object store, a presigned URL covers one
object, so a player cannot resolve those paths against it: the API serves the playlists (a few
KB) with each such URI replaced by an absolute URL the store (or the CDN in front of it) answers,
and the segment bytes go from the store to the player without passing through the API.

URIs of other playlists (a master's variants, ``.m3u8``) stay relative: they resolve to the
API's signed media URL the master was fetched from, which rewrites them in turn.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from elearning_core.shared.storage import ObjectStore
from elearning_core.video.model import Caption, Video
from elearning_core.video.ports import SignedPrefix

PLAYLIST_SUFFIX = ".m3u8"
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')

Sign = Callable[[str], Awaitable[str | None]]
"""The URL a player may fetch the object under a key from; None when the store has none."""


MAX_URL_LIFETIME = timedelta(days=7)
"""S3's limit on a presigned URL."""
MAX_REUSE = timedelta(minutes=5)
MAX_PLAYLIST_BYTES = 16 * 1024 * 1024
"""A playlist is read whole to be rewritten: a 24-hour video's has ~22,000 segment lines (~0.5 MB)."""


@dataclass(frozen=True, slots=True)
class MediaUrlLifetime:
    """How long the store URLs handed to a player stay valid (segments, thumbnail, captions)."""

    minimum: timedelta = timedelta(hours=1)
    margin: timedelta = timedelta(minutes=15)
    """Beyond the video's duration: pauses, buffering, seeking back."""

    @property
    def reuse(self) -> timedelta:
        """How long one signed playlist is handed out again (``SignedPlaylists``): the margin, at most 5 minutes."""
        return min(self.margin, MAX_REUSE)

    def of(self, duration_seconds: float | None) -> timedelta:
        """The whole video plus the margin (at least ``minimum``) from a reader's fetch, even of a copy signed
        ``reuse`` earlier; at most S3's 7 days."""
        needed = timedelta(seconds=math.ceil(duration_seconds or 0)) + self.margin
        return min(max(self.minimum, needed) + self.reuse, MAX_URL_LIFETIME)


class SignedPlaylists:
    """Rewritten playlists handed out again for ``MediaUrlLifetime.reuse``, per process.

    Signing costs about half a millisecond per segment (a one-hour rendition names 900), and viewers
    starting within the same few minutes get the same URLs, so a CDN that caches by URL fetches each
    segment from the store once for all of them. A playlist is keyed with its video's ``updated_at``:
    a reprocessed ladder is signed afresh."""

    def __init__(self, store: ObjectStore, size: int = 512) -> None:
        self._store, self._size = store, size
        self._kept: dict[tuple[str, datetime], tuple[datetime, str]] = {}

    async def get(self, key: str, video: Video, now: datetime, urls: MediaUrlLifetime) -> str:
        """The playlist under ``key`` of ``video``, with its segments named by the store's URLs (``ObjectNotFound``
        when it is absent)."""
        kept = self._kept.get((key, video.updated_at))
        if kept is not None and now < kept[0]:
            return kept[1]
        lifetime = urls.of(video.duration_seconds)
        text = await playlist_from_store(self._store, key, video.hls_prefix, lifetime)
        reuse = urls.reuse
        if reuse > timedelta(0):
            for stale in [k for k, (until, _) in self._kept.items() if until <= now]:
                del self._kept[stale]
            while len(self._kept) >= self._size:
                del self._kept[next(iter(self._kept))]  # the oldest signed
            self._kept[key, video.updated_at] = (now + reuse, text)
        return text


@dataclass(frozen=True, slots=True)
class Playback:
    video: Video
    signed: SignedPrefix
    captions: list[Caption] = field(default_factory=list)
    thumbnail_url: str | None = None
    """The store's URL of the thumbnail; None when the API serves it (the local store)."""
    caption_urls: dict[str, str] = field(default_factory=dict)
    """The store's URL of each language's captions (empty with the local store)."""


@dataclass(frozen=True, slots=True)
class MediaFile:
    """What a signed media URL answers: a playlist rewritten with the store's URLs, a redirect to the
    store's URL of the file, or (neither: the local store) the file under ``key``, served by the API."""

    key: str
    playlist: str | None = None
    redirect: str | None = None


async def playlist_from_store(store: ObjectStore, key: str, within: str, lifetime: timedelta) -> str:
    """The playlist under ``key`` with its segments named by presigned URLs living ``lifetime``
    (``ObjectNotFound`` when it is absent)."""
    data = bytearray()
    async for chunk in store.read(key):
        data += chunk
        if len(data) > MAX_PLAYLIST_BYTES:
            raise ValueError(f"the playlist {key!r} is larger than {MAX_PLAYLIST_BYTES} bytes")
    text = data.decode("utf-8", "replace")
    return await rewrite_playlist(text, key, within, lambda segment: store.presigned_url(segment, lifetime))


def is_playlist(path: str) -> bool:
    return urlsplit(path).path.endswith(PLAYLIST_SUFFIX)


async def rewrite_playlist(text: str, playlist_key: str, within: str, sign: Sign) -> str:
    """``text`` (the playlist stored under ``playlist_key``) with each relative URI of a segment, key or
    map that resolves under the prefix ``within`` replaced by ``sign``'s URL of the object it names.

    Absolute URIs, playlists' URIs, and relative ones reaching outside ``within`` are left as they are
    (the API's media route refuses the latter)."""
    directory = posixpath.dirname(playlist_key)

    async def replace(uri: str) -> str:
        parts = urlsplit(uri)
        if not uri or parts.scheme or parts.netloc or uri.startswith("/") or is_playlist(uri):
            return uri
        key = posixpath.normpath(posixpath.join(directory, parts.path))
        if not key.startswith(within) or parts.query or parts.fragment:
            return uri
        return await sign(key) or uri

    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            lines.append(line)
        elif stripped.startswith("#"):
            lines.append(await _rewrite_attributes(line, replace))
        else:
            lines.append(await replace(stripped))
    return "\n".join(lines) + "\n"


async def _rewrite_attributes(line: str, replace: Callable[[str], Awaitable[str]]) -> str:
    """A tag line with its ``URI="..."`` attributes replaced (``EXT-X-KEY``, ``EXT-X-MAP``, ...)."""
    pieces, last = [], 0
    for match in _URI_ATTRIBUTE.finditer(line):
        pieces += [line[last : match.start(1)], await replace(match.group(1))]
        last = match.end(1)
    return "".join(pieces) + line[last:] if pieces else line
