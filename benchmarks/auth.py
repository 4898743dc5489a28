"""Authentication's cost on a request, and sign-in latency, on PostgreSQL.

    python benchmarks/auth.py             # 5 rounds x 10 s per endpoint, then 30 s of logins at 5/s

The issue's figures:

1. An authenticated ``GET /api/v1/users/me`` at >= 0.6 of the bare endpoint's requests/s in the
   same run. The bare endpoint is ``GET /bench/me-unauthenticated``: the same handler work (the
   account loaded through the identity service and rendered as the same ``UserView``) without any
   credential, so the ratio is what verifying the bearer token and reading the caller's status,
   grants and session cost. ``wrk`` alternates the two endpoints round by round on loopback.
2. Sign-in (``POST /api/v1/auth/login``, Argon2id verify included) p95 <= 80 ms at 5 logins/s:
   an open-loop client starts one login every 200 ms (whatever the previous one is doing), each
   for another of the seeded accounts, and records each request's latency.

The run creates a throwaway database (dropped afterwards), seeds accounts with passwords, starts
one uvicorn process with the production app (``_auth_server.py``) and appends a section to
RESULTS.md. The login throttles are raised for the run (one client IP makes every request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog import (
    DEFAULT_ADMIN_URL,
    NOISY,
    OUT,
    RESULTS,
    ROOT,
    Round,
    _free_port,
    _http_get,
    environment_facts,
    log,
    run_wrk,
    throwaway_database,
)

HERE = Path(__file__).resolve().parent
PASSWORD = "benchmark-password-0"
ME_TARGET = 0.6
LOGIN_P95_TARGET_MS = 80.0


def _settings_env(database_url: str, secret: str) -> dict[str, str]:
    return {
        "ELEARNING_DATABASE_URL": database_url,
        "ELEARNING_SECRET_KEY": secret,
        "ELEARNING_ACCESS_TOKEN_TTL_SECONDS": "3600",  # no expiry mid-run
        "ELEARNING_LOGIN_LIMIT_PER_IP": "1000000",
        "ELEARNING_LOGIN_LIMIT_PER_ACCOUNT": "1000000",
        "ELEARNING_RATE_LIMIT_PER_TOKEN": "10000000",  # the request rate limit on, out of reach (catalog.py)
        "ELEARNING_RATE_LIMIT_PER_IP": "10000000",
        "ELEARNING_CACHE": "none",
        "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
        "ELEARNING_REDIS_URL": "",
    }


async def _seed(env: dict[str, str], users: int) -> list[str]:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.ports import SYSTEM

    settings = Settings(
        database_url=env["ELEARNING_DATABASE_URL"], secret_key=env["ELEARNING_SECRET_KEY"], cache="none"
    )
    async with await bootstrap(settings) as platform:
        ids = []
        for i in range(users):
            user = await platform.identity.create_user(
                SYSTEM,
                CreateUser(email=f"bench-{i:04d}@example.org", display_name=f"Bench User {i}", password=PASSWORD),
            )
            ids.append(str(user.id))
        return ids


@contextlib.contextmanager
def run_server(
    env: dict[str, str], log_path: Path, ready_timeout: float = 60.0, app: str = "_auth_server:create_bench_app"
) -> Iterator[tuple[Any, str]]:
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(HERE), app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + ready_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}; see {log_path}")
                with contextlib.suppress(OSError):
                    if _http_get(f"{base}/ready", timeout=2)[0] == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready within {ready_timeout:.0f} s; see {log_path}")
                time.sleep(0.2)
            log(f"server pid {process.pid} ready on port {port}")
            yield process, base
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)


async def _login(client: Any, email: str) -> tuple[float, int, dict[str, Any]]:
    start = time.perf_counter()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, response.status_code, response.json() if response.status_code == 200 else {}


async def login_load(base: str, users: int, rate: float, seconds: float) -> tuple[list[float], int]:
    """Open loop: one login every 1/rate s, each for the next account; latencies of the successful ones (ms)."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for i in range(3):  # warm-up: connections, the prepared statements, the hasher's thread
            await _login(client, f"bench-{i:04d}@example.org")
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            at = start + i / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            tasks.append(asyncio.create_task(_login(client, f"bench-{i % users:04d}@example.org")))
        results = await asyncio.gather(*tasks)
    latencies = [ms for ms, status, _ in results if status == 200]
    return latencies, sum(1 for _, status, _ in results if status != 200)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--login-rate", type=float, default=5.0)
    parser.add_argument("--login-seconds", type=float, default=30.0)
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    facts = environment_facts(argparse.Namespace(wrk=args.wrk))
    with throwaway_database(args.admin_url) as url:
        env = _settings_env(url, secrets.token_urlsafe(32))
        log(f"seeding {args.users} accounts (Argon2id hashes)")
        ids = asyncio.run(_seed(env, args.users))
        body_file = OUT / "auth_bare_body.json"
        env |= {"BENCH_USER_ID": ids[0], "BENCH_BARE_BODY_FILE": str(body_file)}
        body_file.write_bytes(b"{}")
        with run_server(env, OUT / "auth_server.log") as (process, base):
            _, status, tokens = asyncio.run(_login_once(base))
            if status != 200:
                raise RuntimeError(f"the benchmark account could not sign in ({status})")
            me_status, me_body = _http_get_auth(f"{base}/api/v1/users/me", tokens["access_token"])
            bare_status, bare_body = _http_get(f"{base}/bench/me-unauthenticated")
            if me_status != 200 or bare_status != 200 or json.loads(me_body) != json.loads(bare_body):
                raise RuntimeError("/users/me and its unauthenticated twin do not answer the same body")
            header = ["-H", f"Authorization: Bearer {tokens['access_token']}"]
            endpoints = {
                "unauthenticated": (f"{base}/bench/me-unauthenticated", []),
                "me": (f"{base}/api/v1/users/me", header),
            }
            rounds: list[Round] = []
            for index in range(args.rounds + 1):
                for name, (endpoint_url, wrk_header) in endpoints.items():
                    wrk_args = argparse.Namespace(**vars(args), wrk_header=wrk_header)
                    result = run_wrk(endpoint_url, name, index, wrk_args, process.pid)
                    if result.errors or result.raw.get("status_non2xx", 0):
                        raise RuntimeError(f"{name}: {result.errors} errors in round {index}: {result.raw}")
                    if index:
                        rounds.append(result)
                    log(
                        f"{'warm-up' if not index else f'round {index}'} {name}: {result.rps:,.1f} req/s, "
                        f"p99 {result.p99_ms:.1f} ms, server {result.server_ms_per_request:.2f} ms CPU/request,"
                        f" other CPU {result.other_cpu:.0%}"
                    )
            log(f"logins: {args.login_rate}/s for {args.login_seconds:.0f} s")
            latencies, failed = asyncio.run(login_load(base, args.users, args.login_rate, args.login_seconds))
    report = _report(args, rounds, latencies, failed, facts, time.perf_counter() - started, me_body)
    print("\n".join(report))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + "\n".join(report) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


async def _login_once(base: str) -> tuple[float, int, dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await _login(client, "bench-0000@example.org")


def _http_get_auth(url: str, token: str) -> tuple[int, bytes]:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def _report(
    args: argparse.Namespace,
    rounds: list[Round],
    latencies: list[float],
    failed: int,
    facts: dict[str, str],
    total_s: float,
    me_body: bytes,
) -> list[str]:
    def med(name: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in rounds if r.endpoint == name)

    base_rps, me_rps = med("unauthenticated", "rps"), med("me", "rps")
    ratio = me_rps / base_rps
    cpu_ratio = med("unauthenticated", "server_ms_per_request") / med("me", "server_ms_per_request")
    other = statistics.median(r.other_cpu for r in rounds)
    p50, p95, p99 = (_percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} - auth: `GET /api/v1/users/me` and sign-in ({args.rounds} rounds x {args.duration} s,"
        f" {args.connections} connections; logins {args.login_rate:g}/s for {args.login_seconds:.0f} s)",
        "",
        f"- Command: `{shlex.join(['python', 'benchmarks/auth.py', *sys.argv[1:]])}` (total {total_s:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}; {facts['wrk']}",
        f"- Stack: {facts['stack']}",
        f"- Machine load: median CPU of unrelated processes during the rounds {other:.0%} of a core"
        + (" - NOT idle" if other > NOISY else " (idle)"),
        f"- Data: {args.users} accounts on a throwaway PostgreSQL database; `/users/me` body {len(me_body)} bytes;"
        " one uvicorn process, production app and settings (access log off, log level WARNING, no cache)",
        "- Bare endpoint: `GET /bench/me-unauthenticated`, the same account load and `UserView` without credentials;"
        " the authenticated request adds the EdDSA signature check and one read of status, grants and session",
        "",
        "| endpoint | median req/s | median p50 (ms) | median p99 (ms) | server CPU ms/request |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("unauthenticated", "bare: `/bench/me-unauthenticated`"),
        ("me", "`/api/v1/users/me` + bearer"),
    ):
        lines.append(
            f"| {label} | {med(name, 'rps'):,.1f} | {med(name, 'p50_ms'):.2f} | {med(name, 'p99_ms'):.2f}"
            f" | {med(name, 'server_ms_per_request'):.2f} |"
        )
    verdict = "met" if ratio >= ME_TARGET else "NOT met"
    login_verdict = "met" if p95 <= LOGIN_P95_TARGET_MS and not failed else "NOT met"
    lines += [
        "",
        f"- **Ratio authenticated/bare: {ratio:.3f}** (target >= {ME_TARGET}: {verdict}); CPU ratio {cpu_ratio:.3f}",
        f"- **Sign-in at {args.login_rate:g}/s: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms,"
        f" max {max(latencies):.1f} ms** over {len(latencies)} logins, {failed} failed"
        f" (target p95 <= {LOGIN_P95_TARGET_MS:.0f} ms: {login_verdict})",
    ]
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
