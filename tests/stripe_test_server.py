"""A real local Stripe-compatible server for the Stripe adapter's tests: ``localstripe`` (PyPI, in the dev extra).

The session fixture starts ``tests/localstripe_server.py`` on a free loopback port, waits (bounded)
until it answers, and stops it with SIGTERM at the end. In CI a server that cannot start fails the
tests; elsewhere they skip, saying why.

Import the fixture into a test module::

    from tests.stripe_test_server import localstripe  # noqa: F401
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import stop_process_group

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
API_KEY = "sk_test_localstripe"
SERVER = Path(__file__).with_name("localstripe_server.py")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(base: str) -> bool:
    try:
        response = httpx.get(f"{base}/v1/balance", auth=(API_KEY, ""), timeout=0.5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running localstripe (``http://127.0.0.1:PORT``), empty at the start of the session."""
    if importlib.util.find_spec("localstripe") is None:
        message = "localstripe is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not answer on {base}: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield base
    finally:
        stop_process_group(process, STOP_TIMEOUT)
