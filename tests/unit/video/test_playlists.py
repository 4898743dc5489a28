"""Playlists rewritten for an object store: segment, key and map URIs become the store's URLs; playlists' URIs,
absolute ones and ones reaching outside the video stay; and how long those URLs live."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from elearning_core.shared.storage import ObjectNotFound
from elearning_core.video.media import (
    MAX_URL_LIFETIME,
    MediaUrlLifetime,
    SignedPlaylists,
    is_playlist,
    rewrite_playlist,
)
from elearning_core.video.model import Video

PREFIX = "videos/v1/hls/"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MEDIA = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x1
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000000,
seg_0000.ts
#EXTINF:2.000000,
seg_0001.ts

#EXT-X-ENDLIST
"""
MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-STREAM-INF:BANDWIDTH=928000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
360p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="360p/iframes.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2928000,RESOLUTION=1280x720
720p/index.m3u8
"""


async def sign(key: str) -> str:
    return f"https://store.example/bucket/{key}?X-Amz-Signature=abc"


async def no_urls(key: str) -> None:
    return None


async def test_segment_key_and_map_uris_become_the_stores_urls() -> None:
    rewritten = await rewrite_playlist(MEDIA, f"{PREFIX}720p/index.m3u8", PREFIX, sign)

    lines = rewritten.splitlines()
    assert lines[lines.index("#EXTINF:4.000000,") + 1] == (
        "https://store.example/bucket/videos/v1/hls/720p/seg_0000.ts?X-Amz-Signature=abc"
    )
    assert "https://store.example/bucket/videos/v1/hls/720p/seg_0001.ts?X-Amz-Signature=abc" in lines
    assert '#EXT-X-KEY:METHOD=AES-128,URI="https://store.example/bucket/videos/v1/hls/720p/key.bin?' in rewritten
    assert '#EXT-X-MAP:URI="https://store.example/bucket/videos/v1/hls/720p/init.mp4?X-Amz-Signature=abc"' in lines
    assert [line for line in lines if line and not line.startswith(("#", "https://"))] == []
    assert lines[:4] == MEDIA.splitlines()[:4]  # tags without URIs are kept as they are
    assert "" in lines  # and so are blank lines


async def test_a_masters_playlists_stay_relative_for_the_api_to_serve() -> None:
    rewritten = await rewrite_playlist(MASTER, f"{PREFIX}master.m3u8", PREFIX, sign)

    assert rewritten == MASTER


async def test_absolute_uris_and_uris_outside_the_video_are_left_alone() -> None:
    text = "#EXTM3U\nhttps://cdn.example/a.ts\n/abs/b.ts\n../../source\n../x.ts\nseg.ts?v=1\n"

    rewritten = await rewrite_playlist(text, f"{PREFIX}720p/index.m3u8", PREFIX, sign)

    assert rewritten.splitlines() == [
        "#EXTM3U",
        "https://cdn.example/a.ts",
        "/abs/b.ts",
        "../../source",  # videos/v1/source: not under the ladder's prefix, never signed
        "https://store.example/bucket/videos/v1/hls/x.ts?X-Amz-Signature=abc",
        "seg.ts?v=1",
    ]


async def test_a_store_without_urls_leaves_the_playlist_as_it_was() -> None:
    assert await rewrite_playlist(MEDIA, f"{PREFIX}720p/index.m3u8", PREFIX, no_urls) == MEDIA


def test_playlists_are_told_by_their_path() -> None:
    assert is_playlist("videos/v/hls/master.m3u8")
    assert is_playlist("360p/index.m3u8?token=1")
    assert not is_playlist("videos/v/hls/360p/seg_0000.ts")
    assert not is_playlist("captions/en.vtt")


def test_store_urls_live_the_video_plus_the_margin_at_least_the_minimum_at_most_seven_days() -> None:
    lifetime = MediaUrlLifetime(minimum=timedelta(hours=1), margin=timedelta(minutes=15))

    assert lifetime.reuse == timedelta(minutes=5)  # a signed playlist handed out again: its URLs live that longer
    assert lifetime.of(None) == timedelta(hours=1, minutes=5)
    assert lifetime.of(120.2) == timedelta(hours=1, minutes=5)
    assert lifetime.of(3 * 3600 + 0.5) == timedelta(hours=3, seconds=1, minutes=15 + 5)
    assert lifetime.of(30 * 86_400) == MAX_URL_LIFETIME
    short = MediaUrlLifetime(minimum=timedelta(seconds=1), margin=timedelta(seconds=3))
    assert short.reuse == timedelta(seconds=3)
    assert short.of(2.0) == timedelta(seconds=2 + 3 + 3)


class CountingStore:
    """Just what signing a playlist reads of the object store: the playlist's bytes and presigned URLs."""

    def __init__(self, playlists: dict[str, str]) -> None:
        self.playlists, self.signed, self.lifetimes = playlists, 0, set[timedelta]()

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if key not in self.playlists:
            raise ObjectNotFound(key)
        yield self.playlists[key].encode()

    async def presigned_url(self, key: str, expires_in: timedelta | None = None) -> str:
        assert expires_in is not None
        self.signed += 1
        self.lifetimes.add(expires_in)
        return f"https://store.example/{key}?n={self.signed}"


def a_ready_video(duration: float) -> Video:
    video = Video.create(course_id=uuid.uuid4(), title="Clip", at=T0, created_by=None)
    video.duration_seconds = duration
    return video


async def test_a_signed_playlist_is_handed_out_again_until_its_reuse_ends_or_the_video_changes() -> None:
    video = a_ready_video(8.0)
    key = f"{video.hls_prefix}720p/index.m3u8"
    store = CountingStore({key: MEDIA})
    playlists = SignedPlaylists(store)  # type: ignore[arg-type]
    urls = MediaUrlLifetime(minimum=timedelta(seconds=1), margin=timedelta(minutes=15))

    first = await playlists.get(key, video, T0, urls)
    assert store.signed == 4  # two segments, a key, a map
    assert store.lifetimes == {timedelta(seconds=8, minutes=20)}
    assert await playlists.get(key, video, T0 + timedelta(minutes=4, seconds=59), urls) == first
    assert store.signed == 4

    later = await playlists.get(key, video, T0 + timedelta(minutes=5), urls)
    assert later != first
    assert store.signed == 8
    video.updated_at = T0 + timedelta(minutes=6)  # reprocessed: the ladder may differ
    assert await playlists.get(key, video, T0 + timedelta(minutes=6), urls) != later
    assert store.signed == 12

    without_reuse = MediaUrlLifetime(minimum=timedelta(seconds=1), margin=timedelta(0))
    fresh = SignedPlaylists(store)  # type: ignore[arg-type]
    await fresh.get(key, video, T0, without_reuse)
    await fresh.get(key, video, T0, without_reuse)
    assert store.signed == 20
    with pytest.raises(ObjectNotFound):
        await playlists.get(f"{video.hls_prefix}1080p/index.m3u8", video, T0, urls)
