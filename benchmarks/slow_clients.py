"""Normal latency during a slow-client flood, and whether the server sheds the flood, in one run.

Three servers on the same SQLite data, one after the other: ``elearning serve`` (its guarded h11
protocol, default limits); as the baseline, plain uvicorn on the same app factory
(``python -m uvicorn --factory elearning_http.app:server_app``: uvicorn's own h11 protocol, no
deadline); and that plain uvicorn command with ``--http elearning_cli._server:GuardedH11Protocol``
(the protocol's own cost, apart from the ``elearning`` process around it). For each: ``--requests`` sequential catalog reads on one kept-alive connection with no
flood, then the same while ``--flood`` raw sockets hold half a head or an admin's write whose body
stalls; then how many flood sockets the server closed within ``--wait`` seconds.

    python benchmarks/slow_clients.py                  # 900 slow sockets, 300 reads per phase
    python benchmarks/slow_clients.py --markdown >> benchmarks/RESULTS.md

Figures are ratios within the run (flood p50 / no-flood p50 of the same server).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
TOKEN = "slow-clients-benchmark-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> object:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode})")
        time.sleep(0.1)
    raise SystemExit("the server never became ready")


def latencies(base: str, requests: int) -> list[float]:
    out: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(requests):
            t0 = time.perf_counter()
            response = client.get("/api/v1/courses", params={"limit": 20})
            out.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"a normal read got {response.status_code}")
    return out


def flood(port: int, count: int) -> list[socket.socket]:
    socks = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            sock.send(b"GET /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            sock.send(
                b"POST /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Authorization: {ADMIN['Authorization']}\r\nContent-Length: 10000\r\n\r\n".encode()
                + b'{"title": '
            )
        sock.setblocking(False)
        socks.append(sock)
    return socks


def closed_by_server(socks: list[socket.socket], seconds: float) -> int:
    closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while closed < len(socks) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    chunk = b""
                except BlockingIOError:
                    continue
                if not chunk:
                    closed += 1
                    selector.unregister(sock)
    return closed


def measure(name: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace, log: Path):
    base = f"http://127.0.0.1:{port}"
    with started(command, env, log) as process:
        wait_ready(base, process)  # type: ignore[arg-type]
        latencies(base, 20)  # warm-up
        quiet = latencies(base, args.requests)
        socks = flood(port, args.flood)
        try:
            loud = latencies(base, args.requests)
            closed = closed_by_server(socks, args.wait)
        finally:
            for sock in socks:
                sock.close()
    row = {
        "server": name,
        "p50_quiet": statistics.median(quiet),
        "p99_quiet": statistics.quantiles(quiet, n=100)[98],
        "p50_flood": statistics.median(loud),
        "p99_flood": statistics.quantiles(loud, n=100)[98],
        "closed": closed,
    }
    print(row, file=sys.stderr)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=900)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--wait", type=float, default=40.0, help="seconds to wait for the server to close the flood")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="elearning-slow-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")} | {
        "ELEARNING_DATA_DIR": str(data_dir),
        "ELEARNING_ADMIN_TOKEN": TOKEN,
        "ELEARNING_ACCESS_LOG": "false",
        "ELEARNING_LOG_LEVEL": "WARNING",
    }
    try:
        port = _free_port()
        serve = [str(BIN / "elearning"), "serve", "--port", str(port)]
        guarded = measure("elearning serve (guarded h11)", serve, env, port, args, data_dir / "serve.log")
        port = _free_port()
        plain_cmd = [sys.executable, "-m", "uvicorn", "--factory", "elearning_http.app:server_app", "--port", str(port)]
        plain_cmd += ["--http", "h11", "--log-level", "warning"]
        plain = measure("plain uvicorn (h11)", plain_cmd, env, port, args, data_dir / "plain.log")
        port = _free_port()
        protocol_cmd = [sys.executable, "-m", "uvicorn", "--factory", "elearning_http.app:server_app"]
        protocol_cmd += ["--port", str(port), "--http", "elearning_cli._server:GuardedH11Protocol"]
        protocol_cmd += ["--log-level", "warning"]
        protocol = measure("uvicorn + the guarded protocol", protocol_cmd, env, port, args, data_dir / "proto.log")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC - catalog reads during a slow-client flood "
        f"({args.flood} sockets: half heads / stalled admin bodies; {args.requests} sequential reads per phase; SQLite)",
        "",
        "| server | p50 no flood (ms) | p99 no flood | p50 flood | p99 flood | p50 flood / no flood | "
        f"flood sockets closed by the server within {args.wait:.0f} s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (guarded, plain, protocol):
        lines.append(
            f"| {r['server']} | {r['p50_quiet']:.2f} | {r['p99_quiet']:.2f} | {r['p50_flood']:.2f} | "
            f"{r['p99_flood']:.2f} | {r['p50_flood'] / r['p50_quiet']:.2f} | {r['closed']} of {args.flood} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
