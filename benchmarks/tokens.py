#!/usr/bin/env python
"""Micro-benchmark: ``JwtTokenService.verify_access`` against cheap baselines, in one process and one run.

One command::

    python benchmarks/tokens.py                    # EdDSA (the default ring), 7 rounds x 20,000 calls
    python benchmarks/tokens.py --algorithm ES256  # the other supported algorithm

Every request that carries a bearer token will pay one ``verify_access``, so the
question is what it costs next to things of known cost, timed in alternating
rounds in the same process:

- ``verify_access``: the whole check (size, header allowlist, kid lookup, PyJWT
  decode and signature, required claims, time against the clock);
- ``signature only``: the bare ``public_key.verify`` of the same token by
  ``cryptography``: the floor no JWT library can go under;
- ``hmac-sha256``: a bare HMAC of the token bytes (what a symmetric token would cost);
- ``json.loads``: parsing the token's payload JSON (already base64-decoded);
- ``issue_access``: signing a fresh token, for completeness.

It prints the median µs per call and calls per second, and the ratios of
``verify_access`` to each baseline (in time per call), then appends a section to
``benchmarks/RESULTS.md`` unless ``--no-record``. Nothing here needs a server.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def per_call(call: Callable[[], object], calls: int) -> float:
    """Wall seconds per call of ``call`` over ``calls`` sequential calls."""
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls


def git_describe() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/elearning_adapters/security", "src/elearning_core/auth"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted token/auth files" if dirty else head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", default="EdDSA", choices=["EdDSA", "ES256"])
    parser.add_argument("--calls", type=int, default=20_000, help="sequential calls per path and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()

    import cryptography
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.hashes import SHA256

    from elearning_adapters.security.tokens import JwtTokenService, KeyRing

    ttl = timedelta(minutes=15)
    ring = KeyRing.generate(args.algorithm, retention=ttl + timedelta(seconds=10))
    service = JwtTokenService(ring, issuer="https://learn.example.org", audience="elearning-api", access_ttl=ttl)
    token = service.issue_access("3f8a7c52-4e0b-4d7e-9a43-2b1f0c9d6e71", scope=["courses:read", "progress:write"])
    signing_input, _, signature_b64 = token.rpartition(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    payload_b64 = signing_input.split(".")[1]
    payload_json = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
    public_key = ring.active.public_key
    token_bytes, signing_bytes, secret = token.encode(), signing_input.encode(), os.urandom(32)

    if isinstance(public_key, Ed25519PublicKey):

        def signature_only() -> None:
            public_key.verify(signature, signing_bytes)
    else:
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half]), int.from_bytes(signature[half:]))

        def signature_only() -> None:
            public_key.verify(der, signing_bytes, ECDSA(SHA256()))

    def first_use() -> object:
        service._verified.clear()  # the full check, as for a token this process has not seen yet
        return service.verify_access(token)

    paths: dict[str, Callable[[], object]] = {
        "verify_access": first_use,
        "verify_access, token seen before": lambda: service.verify_access(token),
        "signature only": signature_only,
        "hmac-sha256": lambda: hmac.new(secret, token_bytes, hashlib.sha256).digest(),
        "json.loads": lambda: json.loads(payload_json),
        "issue_access": lambda: service.issue_access("3f8a7c52-4e0b-4d7e-9a43-2b1f0c9d6e71"),
    }
    assert service.verify_access(token).subject.startswith("3f8a")
    for call in paths.values():  # warm up
        per_call(call, 1_000)

    results: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(args.rounds):
        for name, call in paths.items():
            results[name].append(per_call(call, args.calls))
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)
    medians = {name: statistics.median(times) for name, times in results.items()}
    verify = medians["verify_access"]

    rows = [
        f"| {name} | {seconds * 1e6:,.2f} | {1 / seconds:,.0f} | "
        + ("1.00" if name == "verify_access" else f"{verify / seconds:,.1f}x")
        + " |"
        for name, seconds in medians.items()
    ]
    table = "\n".join(["| path | µs/call | calls/s | verify_access time / path time |", "|---|---:|---:|---:|", *rows])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"""

## {stamp} - Access-token verification ({args.algorithm}), micro-benchmark

- Command: `python benchmarks/tokens.py --algorithm {args.algorithm} --rounds {args.rounds} --calls {args.calls}`
- Code: {git_describe()}; python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; PyJWT {jwt.__version__}, cryptography {cryptography.__version__}
- One process, paths timed in alternating rounds; medians of {args.rounds} rounds x {args.calls:,} sequential calls (wall time). Token: {len(token)} bytes, subject + 2 scopes.
- Headline: **verify_access {verify * 1e6:,.1f} µs ({1 / verify:,.0f}/s per core)**, {verify / medians["signature only"]:.2f}x the bare signature check, {verify / medians["hmac-sha256"]:.0f}x a bare HMAC of the token, {verify / medians["json.loads"]:.0f}x json.loads of its payload; a token this process verified before (every later request of a client): **{medians["verify_access, token seen before"] * 1e6:,.1f} µs** (expiry and key checked, the signature not again).

{table}
"""
    print(section)
    if not args.no_record:
        with args.results.open("a", encoding="utf-8") as results_file:
            results_file.write(section)
        print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
