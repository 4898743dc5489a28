"""Playback from the object store: after the playlist reads, no media byte passes through the API process.

    python benchmarks/playback_bytes.py [--clip-seconds 20] [--plays 3]

1. Starts a SeaweedFS (``weed server -s3``, the test suite's set-up) with a bucket, and ``elearning serve``
   with ``ELEARNING_STORAGE_BACKEND=s3`` on it (SQLite; events and the transcoder in the server process).
2. Makes a ``--clip-seconds`` 720p clip with ffmpeg's test sources, uploads it through tus, waits until it
   is transcoded (the ladder goes to the bucket).
3. ``--plays`` times: asks the API for a playback URL and plays the whole ladder with an httpx player
   (``tests/hls_player.py``: the master, every variant playlist, every segment of every variant).
4. Reports the bytes the player received from the API and from the store, and the API process's own
   ``elearning_media_served_bytes`` counter (by kind) over the plays. The figure: segment bytes through the
   API = 0.

Prints the figures (and the machine's load average); it writes nothing to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: its tests' helpers

from tests.hls_player import media_bytes, play
from tests.integration.test_video_pipeline import make_clip
from tests.seaweedfs import running_seaweedfs
from tests.served import ADMIN, serve_env, serving, wait_for

BUCKET = "playback-bytes"
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 8 * 1024 * 1024


def unavailable(reason: str) -> NoReturn:
    raise SystemExit(f"error: {reason}")


def upload(http: httpx.Client, video_id: str, clip: Path) -> None:
    data = clip.read_bytes()
    metadata = "video_id " + base64.b64encode(video_id.encode()).decode()
    created = http.post(
        "/api/v1/uploads", headers={**ADMIN, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata}
    )
    assert created.status_code == 201, created.text
    for offset in range(0, len(data), CHUNK):
        sent = http.patch(
            created.headers["location"],
            content=data[offset : offset + CHUNK],
            headers={
                **ADMIN,
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert sent.status_code == 204, sent.text


def ready_video(http: httpx.Client, clip: Path, timeout: float) -> str:
    course = http.post("/api/v1/courses", json={"title": "Playback bytes"}, headers=ADMIN).json()
    video = http.post(f"/api/v1/courses/{course['id']}/videos", json={"title": "Clip"}, headers=ADMIN).json()
    upload(http, video["id"], clip)

    def settled() -> dict[str, object] | None:
        state = http.get(f"/api/v1/videos/{video['id']}", headers=ADMIN).json()
        return state if state["status"] in ("ready", "failed") else None

    state = wait_for(settled, "the video to be transcoded", timeout)
    if state["status"] != "ready":
        raise SystemExit(f"error: the video failed: {state['failure_reason']}")
    return str(video["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip-seconds", type=int, default=20)
    parser.add_argument("--plays", type=int, default=3)
    parser.add_argument("--transcode-timeout", type=float, default=300.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="elearning-playback-") as root:
        directory = Path(root)
        clip = make_clip(directory / "clip.mp4", args.clip_seconds)
        with running_seaweedfs(directory / "seaweedfs", unavailable) as store:
            store.client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
            env = serve_env(
                directory / "data",
                log_level="WARNING",
                storage_backend="s3",
                s3_endpoint_url=store.endpoint,
                s3_bucket=BUCKET,
                s3_access_key_id=store.access_key,
                s3_secret_access_key=store.secret_key,
            )
            with serving(env, directory / "serve.log") as api, httpx.Client(base_url=api.base, timeout=60) as http:
                video_id = ready_video(http, clip, args.transcode_timeout)
                before = media_bytes(api.base)
                from_api = from_store = segments = 0
                started = time.perf_counter()
                with httpx.Client(timeout=60) as player:
                    for _ in range(args.plays):
                        url = http.get(f"/api/v1/videos/{video_id}/playback", headers=ADMIN).json()["url"]
                        played = play(player, url)
                        from_api += played.bytes_by_origin.get(api.base, 0)
                        from_store += played.bytes_by_origin.get(store.endpoint, 0)
                        segments += len(played.segments)
                elapsed = time.perf_counter() - started
                after = media_bytes(api.base)
        counted = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in sorted(set(after) | set(before))}
        print(f"clip: {args.clip_seconds} s 720p, {clip.stat().st_size} bytes; {args.plays} plays, {segments} segments")
        print(f"bytes to the player from the API:   {from_api}")
        print(f"bytes to the player from the store: {from_store}")
        print(f"API counter elearning_media_served_bytes over the plays: {counted}")
        print(f"segment bytes through the API process: {int(counted.get('segment', 0))}")
        print(f"play-throughs took {elapsed:.2f} s; load average {os.getloadavg()}; {platform.platform()}")


if __name__ == "__main__":
    main()
