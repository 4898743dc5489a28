"""A minimal HLS player over httpx, for the tests and the benchmark of playback from the object store.

It does what a browser player does before and while playing a VOD: fetch the master playlist, every
variant playlist it names (resolved against the master's URL), and every segment each variant names
(resolved against the variant's URL), counting the bytes each origin sent. It decodes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx

_SAMPLE = re.compile(r'^elearning_media_served_bytes_total\{kind="([a-z]+)"\} ([0-9.e+]+)$', re.MULTILINE)


@dataclass
class Playback:
    """What a play-through fetched, by origin (``scheme://host:port``)."""

    master: str = ""
    playlists: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    bytes_by_origin: dict[str, int] = field(default_factory=dict)
    segment_bytes: dict[str, bytes] = field(default_factory=dict)
    """The bytes of each segment URL (the tests compare them with the store's objects)."""

    def count(self, url: httpx.URL, size: int) -> None:
        origin = f"{url.scheme}://{url.netloc.decode()}"
        self.bytes_by_origin[origin] = self.bytes_by_origin.get(origin, 0) + size


def uris(playlist: str) -> list[str]:
    """The URI lines of a playlist (neither tags nor blank)."""
    return [line.strip() for line in playlist.splitlines() if line.strip() and not line.startswith("#")]


def play(client: httpx.Client, master_url: str) -> Playback:
    """Fetch the master, its variants and all their segments (every answer must be a 200)."""
    played = Playback()

    def fetch(url: httpx.URL) -> httpx.Response:
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
        played.count(url, len(response.content))
        return response

    master = httpx.URL(master_url)
    played.master = fetch(master).text
    for variant in uris(played.master):
        variant_url = master.join(variant)
        played.playlists.append(str(variant_url))
        for segment in uris(fetch(variant_url).text):
            segment_url = variant_url.join(segment)
            played.segments.append(str(segment_url))
            played.segment_bytes[str(segment_url)] = fetch(segment_url).content
    return played


def media_bytes(base: str) -> dict[str, float]:
    """The API process's ``elearning_media_served_bytes`` by kind, read from its /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {kind: float(value) for kind, value in _SAMPLE.findall(text)}
