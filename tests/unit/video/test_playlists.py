"""Playlists rewritten for an object store: segment, key and map URIs become the store's URLs; playlists' URIs,
absolute ones and ones reaching outside the video stay; and how long those URLs live."""

from __future__ import annotations

from datetime import timedelta

from elearning_core.video.media import MAX_URL_LIFETIME, MediaUrlLifetime, is_playlist, rewrite_playlist

PREFIX = "videos/v1/hls/"
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

    assert lifetime.of(None) == timedelta(hours=1)
    assert lifetime.of(120.2) == timedelta(hours=1)
    assert lifetime.of(3 * 3600 + 0.5) == timedelta(hours=3, seconds=1, minutes=15)
    assert lifetime.of(30 * 86_400) == MAX_URL_LIFETIME
    assert MediaUrlLifetime(minimum=timedelta(seconds=1), margin=timedelta(seconds=3)).of(2.0) == timedelta(seconds=5)
