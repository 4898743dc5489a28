"""``elearning serve`` as a real process on loopback, for the tests of the server runtime (and benchmarks).

Every wait is bounded; no timing is asserted by the helpers.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.processes import stop_process_group

ELEARNING = str(Path(sys.executable).parent / "elearning")
TOKEN = "served-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


@dataclass
class Served:
    base: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def serve_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server process: no ``ELEARNING_*`` from outside, a data directory, a fixed token."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
    return (
        base
        | {
            "ELEARNING_DATA_DIR": str(data_dir),
            "ELEARNING_ADMIN_TOKEN": TOKEN,
            "ELEARNING_LOG_JSON": "false",
            "ELEARNING_ACCESS_LOG": "false",
        }
        | {f"ELEARNING_{k.upper()}": v for k, v in settings.items()}
    )


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def serving(
    env: dict[str, str], log: Path, *args: str, argv: Callable[[int], list[str]] | None = None
) -> Iterator[Served]:
    """Start ``elearning serve`` (or ``argv(port)``) and wait for /ready; SIGTERM (then SIGKILL) at the end."""
    port = free_port()
    command = argv(port) if argv is not None else [ELEARNING, "serve", "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(f"http://127.0.0.1:{port}", port, process, log)
    try:
        wait_for(lambda: ready(served.base) or process.poll() is not None, "the server to answer /ready")
        assert process.poll() is None, served.output()
        yield served
    finally:
        stop_process_group(process, 60)


def read_until_closed(socks: list[socket.socket], seconds: float) -> dict[socket.socket, bytes | None]:
    """What each (non-blocking) socket received until the server closed it; ``None`` for one still open at the end."""
    received: dict[socket.socket, bytearray] = {s: bytearray() for s in socks}
    closed: set[socket.socket] = set()
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    chunk = b""
                except BlockingIOError:
                    continue
                if chunk:
                    received[sock] += chunk
                else:
                    closed.add(sock)
                    selector.unregister(sock)
    return {s: (bytes(received[s]) if s in closed else None) for s in socks}
