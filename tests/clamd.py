"""A real ClamAV daemon for the virus-scan tests: ``clamd`` from Debian's ``clamav-daemon``.

The official signatures cannot be downloaded here (no internet), so the daemon loads a database of our own
from a temporary ``DatabaseDirectory``: body signatures (``.ndb``) for the EICAR test string and for
``MALWARE_MARKER``, so a file holding either is FOUND and every other file is OK. One daemon per test
session (one per xdist worker), on a free loopback TCP port and a unix socket, from a generated
``clamd.conf`` (``Foreground``), ready once it answers ``PING`` (bounded by ``READY_TIMEOUT``); SIGTERM
at teardown. In CI (``CI`` set) a missing binary fails; elsewhere the tests skip with the reason.

Import the fixture into a test module::

    pytest_plugins = ["tests.clamd"]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.processes import stop_process_group

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
STREAM_MAX_BYTES = 2 * 1024 * 1024
"""clamd's StreamMaxLength here: small, so a test can pass it."""

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
MALWARE_MARKER = b"ELEARNING-TEST-MALWARE-3f9c1e"
SIGNATURES = {"Elearning.Test.EICAR": EICAR, "Elearning.Test.Marker": MALWARE_MARKER}


@dataclass(frozen=True)
class Clamd:
    port: int
    socket_path: Path

    @property
    def tcp_address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def unix_address(self) -> str:
        return f"unix://{self.socket_path}"


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"clamd is required in CI: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


def write_config(root: Path, port: int) -> Path:
    database = root / "db"
    database.mkdir()
    lines = [f"{name}:0:*:{pattern.hex()}" for name, pattern in SIGNATURES.items()]
    (database / "elearning-test.ndb").write_text("\n".join(lines) + "\n")
    config = root / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                "Foreground yes",
                f"DatabaseDirectory {database}",
                "TCPAddr 127.0.0.1",
                f"TCPSocket {port}",
                f"LocalSocket {root / 'clamd.sock'}",
                f"PidFile {root / 'clamd.pid'}",
                f"LogFile {root / 'clamd.log'}",
                f"StreamMaxLength {STREAM_MAX_BYTES}",
                "MaxThreads 4",
                "",
            ]
        )
    )
    return config


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    binary = os.environ.get("ELEARNING_TEST_CLAMD") or shutil.which("clamd") or "/usr/sbin/clamd"
    if not Path(binary).is_file():
        _unavailable("no clamd binary: apt-get install -y clamav-daemon (or set ELEARNING_TEST_CLAMD)")
    root = tmp_path_factory.mktemp("clamd")
    port = _free_port()
    config = write_config(root, port)
    with (root / "clamd.out").open("ab") as log:
        process = subprocess.Popen(
            [binary, f"--config-file={config}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=root,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _pings(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "clamd.out").read_text(errors="replace")[-2000:]
                _unavailable(f"clamd did not come up on 127.0.0.1:{port} within {READY_TIMEOUT:.0f} s: {tail}")
            time.sleep(0.2)
        yield Clamd(port, root / "clamd.sock")
    finally:
        stop_process_group(process, STOP_TIMEOUT)
