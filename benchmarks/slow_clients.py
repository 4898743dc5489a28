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
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: its tests' server helper

from tests.served import ADMIN, read_until_closed, serve_env, serving

from catalog import LIMITS_OUT_OF_REACH


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


def measure(name: str, env: dict[str, str], log: Path, args: argparse.Namespace, http: str | None) -> dict[str, object]:
    """One server: reads with no flood, reads during the flood, then how many flood sockets it closed."""
    argv = None
    if http is not None:
        app = [sys.executable, "-m", "uvicorn", "--factory", "elearning_http.app:server_app", "--log-level", "warning"]

        def argv(port: int) -> list[str]:
            return [*app, "--port", str(port), "--http", http]

    with serving(env, log, argv=argv) as server:
        latencies(server.base, 20)  # warm-up
        quiet = latencies(server.base, args.requests)
        socks = flood(server.port, args.flood)
        try:
            loud = latencies(server.base, args.requests)
            answers = read_until_closed(socks, args.wait)
        finally:
            for sock in socks:
                sock.close()
    row: dict[str, object] = {
        "server": name,
        "p50_quiet": statistics.median(quiet),
        "p99_quiet": statistics.quantiles(quiet, n=100)[98],
        "p50_flood": statistics.median(loud),
        "p99_flood": statistics.quantiles(loud, n=100)[98],
        "closed": sum(answer is not None for answer in answers.values()),
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
    env = serve_env(data_dir / "data", log_level="WARNING") | LIMITS_OUT_OF_REACH
    try:
        guarded = measure("elearning serve (guarded h11)", env, data_dir / "serve.log", args, None)
        plain = measure("plain uvicorn (h11)", env, data_dir / "plain.log", args, "h11")
        protocol = measure(
            "uvicorn + the guarded protocol",
            env,
            data_dir / "proto.log",
            args,
            "elearning_cli._server:GuardedH11Protocol",
        )
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
