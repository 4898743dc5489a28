"""``MediaProber`` and ``Transcoder`` on the ffprobe and ffmpeg programs.

Both run as child processes through asyncio, so the event loop is never
blocked and the CPU-heavy work is outside the Python process whichever
process consumes the events (``elearning worker consume video-processing``
with Kafka; with the embedded default, the in-process transport of the API
server, which only awaits the child). A cancelled run (a timeout, a shutdown)
kills its child.

One ffmpeg run encodes the whole ladder (one decode, ``split`` into a scaler
per rung) into HLS with ``-var_stream_map`` and writes the master playlist;
a second short run takes the thumbnail. Progress comes from ``-progress
pipe:1`` (``out_time_us``, microseconds, over the probed duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from elearning_core.video.model import ProbeResult, Rendition, Rung
from elearning_core.video.ports import MediaError, MediaProber, ProgressCallback, Transcoder

_NOISE = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")
_INVALID = "Invalid data found when processing input"
SEGMENT_SECONDS = 4
STDERR_TAIL = 4000


def _clean(stderr: bytes, source: Path) -> list[str]:
    """ffmpeg's error lines without the ``[demuxer @ 0x...]`` prefixes and the file's path."""
    lines = []
    for raw in stderr.decode("utf-8", "replace").splitlines():
        line = _NOISE.sub("", raw.strip()).replace(f"{source}: ", "").replace(str(source), "<source>").strip()
        if line and line not in lines:
            lines.append(line)
    return lines


async def _run(*args: str, timeout: float) -> tuple[int, bytes, bytes]:  # noqa: ASYNC109 (the child is killed)
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:
        _kill(process)
        with contextlib.suppress(Exception):
            await process.wait()
        raise
    return process.returncode or 0, stdout, stderr


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed (the video pipeline needs ffmpeg and ffprobe on PATH)")
    return path


class FfprobeMediaProber(MediaProber):
    def __init__(self, ffprobe: str = "ffprobe", timeout: float = 60.0) -> None:
        self._program, self._timeout = ffprobe, timeout

    async def probe(self, source: Path) -> ProbeResult:
        code, stdout, stderr = await _run(
            _require(self._program),
            "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(source),
            timeout=self._timeout,
        )  # fmt: skip
        if code != 0:
            lines = _clean(stderr, source)
            specific = [line for line in lines if line != _INVALID]
            if specific:
                raise MediaError(f"corrupt input: {'; '.join(specific)[:500]}")
            raise MediaError(f"not a video: ffprobe could not recognise the file as media ({_INVALID})")
        try:
            info: dict[str, Any] = json.loads(stdout)
        except ValueError:
            raise MediaError("corrupt input: ffprobe's report could not be read") from None
        return classify(info)


def classify(info: dict[str, Any]) -> ProbeResult:
    """A ``ProbeResult`` from ffprobe's JSON, or ``MediaError`` saying why it is no playable video."""
    streams = info.get("streams") or []
    videos = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        raise MediaError("not a video: ffprobe found no video stream")
    video = videos[0]
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise MediaError("corrupt input: the video stream has no picture size")
    duration = _float((info.get("format") or {}).get("duration")) or _float(video.get("duration"))
    if not duration or duration <= 0:
        raise MediaError("not a video: the file has no duration (a still image?)")
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    return ProbeResult(duration, width, height, has_audio, str(video.get("codec_name") or ""))


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _even(value: float) -> int:
    return max(2, int(value) - int(value) % 2)


class FfmpegTranscoder(Transcoder):
    def __init__(self, ffmpeg: str = "ffmpeg", preset: str = "veryfast", threads: int = 0, niceness: int = 10) -> None:
        """``niceness``: ffmpeg runs at this lower CPU priority, so a server process sharing the machine
        (the embedded default's API) keeps answering promptly while it transcodes."""
        self._program, self._preset, self._threads, self._niceness = ffmpeg, preset, threads, niceness

    def _lower_priority(self) -> None:
        os.nice(self._niceness)

    def command(self, source: Path, target: Path, probe: ProbeResult, ladder: Sequence[Rung]) -> list[str]:
        n = len(ladder)
        split = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n))
        scales = [f"[s{i}]scale=-2:{rung.height}[v{i}]" for i, rung in enumerate(ladder)]
        args = [
            _require(self._program), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-i", str(source), "-filter_complex", ";".join([split, *scales]),
        ]  # fmt: skip
        for i in range(n):
            args += ["-map", f"[v{i}]"]
            if probe.has_audio:
                args += ["-map", "0:a:0"]
        args += ["-c:v", "libx264", "-preset", self._preset, "-pix_fmt", "yuv420p", "-profile:v", "main"]
        if self._threads:
            args += ["-threads", str(self._threads)]
        for i, rung in enumerate(ladder):
            rate = rung.video_bitrate
            args += [f"-b:v:{i}", str(rate), f"-maxrate:v:{i}", str(int(rate * 1.07)), f"-bufsize:v:{i}", str(rate * 2)]
            if probe.has_audio:
                args += [f"-b:a:{i}", str(rung.audio_bitrate)]
        gop = "48"
        args += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
        if probe.has_audio:
            args += ["-c:a", "aac", "-ac", "2", "-ar", "48000"]
        streams = " ".join(
            f"v:{i},a:{i},name:{rung.name}" if probe.has_audio else f"v:{i},name:{rung.name}"
            for i, rung in enumerate(ladder)
        )
        args += [
            "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(target / "%v" / "seg_%04d.ts"),
            "-master_pl_name", "master.m3u8", "-var_stream_map", streams,
            "-progress", "pipe:1", "-nostats", str(target / "%v" / "index.m3u8"),
        ]  # fmt: skip
        return args

    async def transcode(
        self, source: Path, target: Path, probe: ProbeResult, ladder: Sequence[Rung], progress: ProgressCallback
    ) -> list[Rendition]:
        await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            *self.command(source, target, probe, ladder),
            preexec_fn=self._lower_priority if self._niceness else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        stderr_task = asyncio.create_task(process.stderr.read())
        try:
            async for line in process.stdout:
                key, _, value = line.decode("ascii", "replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    await progress(int(value) / 1_000_000 / probe.duration_seconds)
            code = await process.wait()
            stderr = await stderr_task
        except BaseException:
            _kill(process)
            stderr_task.cancel()
            with contextlib.suppress(Exception):
                await process.wait()
            raise
        if code != 0 or not await asyncio.to_thread((target / "master.m3u8").exists):
            lines = _clean(stderr[-STDERR_TAIL:], source)
            detail = "; ".join(lines[-3:])[:500] or f"exit status {code}"
            raise MediaError(f"corrupt input: ffmpeg could not transcode it: {detail}")
        await self._thumbnail(source, target / "thumbnail.jpg", probe)
        return [self._rendition(target, rung, probe) for rung in ladder]

    async def _thumbnail(self, source: Path, target: Path, probe: ProbeResult) -> None:
        at = min(1.0, probe.duration_seconds / 2)
        code, _, stderr = await _run(
            _require(self._program), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-ss", f"{at:.3f}", "-i", str(source), "-frames:v", "1", "-vf", "scale=-2:360", "-q:v", "4", str(target),
            timeout=120,
        )  # fmt: skip
        if code != 0 or not await asyncio.to_thread(target.exists):
            detail = "; ".join(_clean(stderr, source)[-2:])[:300]
            raise MediaError(f"corrupt input: no thumbnail could be taken: {detail}")

    @staticmethod
    def _rendition(target: Path, rung: Rung, probe: ProbeResult) -> Rendition:
        width = _even(probe.width * rung.height / probe.height)
        bandwidth = rung.video_bitrate + (rung.audio_bitrate if probe.has_audio else 0)
        return Rendition(rung.name, width, rung.height, bandwidth, f"{rung.name}/index.m3u8")
