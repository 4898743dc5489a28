"""Server CPU per request of uvicorn's h11 protocol and of ``GuardedH11Protocol``, in one interleaved run.

Each round starts ``python -m uvicorn --app-dir benchmarks _tiny_app:app`` with ``--http h11`` and then
with ``--http elearning_cli._server:GuardedH11Protocol``, sends ``--requests`` sequential GETs on one
kept-alive connection, and reads the server process's CPU time (``/proc/<pid>/stat``, utime + stime)
before and after. Reported: the median over ``--rounds`` of microseconds of server CPU per request.

    python benchmarks/protocol_cost.py
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROTOCOLS = {"uvicorn h11": "h11", "GuardedH11Protocol": "elearning_cli._server:GuardedH11Protocol"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(http: str, requests: int) -> float:
    port = _free_port()
    app_dir = str(Path(__file__).parent)
    command = [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "_tiny_app:app", "--port", str(port)]
    server = subprocess.Popen([*command, "--http", http, "--log-level", "warning", "--no-access-log"])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for _ in range(300):  # warm-up
                client.get("/")
            before = cpu_seconds(server.pid)
            for _ in range(requests):
                client.get("/")
            return (cpu_seconds(server.pid) - before) / requests * 1e6
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name in PROTOCOLS}
    for _ in range(args.rounds):
        for name, http in PROTOCOLS.items():
            results[name].append(one(http, args.requests))
    base = statistics.median(results["uvicorn h11"])
    print(f"server CPU per request, median of {args.rounds} rounds x {args.requests} requests (a bare ASGI app):")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name}: {median:.1f} us ({median / base:.2f} of uvicorn h11); rounds: {[round(v) for v in values]}")


if __name__ == "__main__":
    main()
