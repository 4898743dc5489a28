"""A real learning record store for the forwarder's tests: Ralph (Open edX's LRS, ``ralph-malph``) with its
filesystem backend (set to append: see ``SERVE``), on a free loopback port, with an HTTP Basic user from an
auth file.

Ralph runs from a virtual environment of its own: its ``lrs`` extra pins ``uvicorn==0.30.6`` and
``httpx==0.28.1``, older than the platform's (``elearning serve`` subclasses uvicorn's protocol), so it
cannot share the project's environment. ``.ci/run`` makes it::

    python3 -m venv /opt/ralph-lrs && /opt/ralph-lrs/bin/pip install 'ralph-malph[lrs]==5.1.0' requests

(``requests``: ralph 5.1.0's OIDC module imports it without declaring it). Another interpreter:
``ELEARNING_TEST_RALPH_PYTHON``. Without it the tests skip, in CI (``CI`` set) they fail.

Import the fixture into a test module: ``pytest_plugins = ["tests.integration.ralph_lrs"]``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.processes import stop_process_group

IN_CI = bool(os.environ.get("CI"))
RALPH_PYTHON = os.environ.get("ELEARNING_TEST_RALPH_PYTHON", "/opt/ralph-lrs/bin/python")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
USERNAME, PASSWORD = "platform", "forwarding-secret"
MAX_PAGES = 100
SERVE = """
import sys
import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
"""Ralph's LRS app under uvicorn, its filesystem backend appending: in ralph 5.1.0 that backend creates its one
file on every write (``default_operation_type = CREATE``), so its second ``POST /xAPI/statements`` fails with
500 ("fs_lrs.jsonl already exists"). Only the storage mode changes; validation, the id checks (a known id
with the same content is skipped, other content is a 409) and the reads are Ralph's own."""


@dataclass(frozen=True)
class RalphLrs:
    url: str
    """The xAPI base URL (``<url>/statements`` is the statements resource)."""
    username: str
    password: str

    def statements(self) -> list[dict[str, Any]]:
        """Every statement Ralph holds, read back through ``GET /xAPI/statements`` (its ``more`` pages)."""
        found: list[dict[str, Any]] = []
        base = self.url.removesuffix("/xAPI")
        next_url: str | None = f"{self.url}/statements?limit=100"
        with httpx.Client(auth=(self.username, self.password), headers={"X-Experience-API-Version": "1.0.3"}) as client:
            for _ in range(MAX_PAGES):
                if not next_url:
                    return found
                response = client.get(next_url, timeout=10)
                response.raise_for_status()
                body = response.json()
                found += body["statements"]
                more = body.get("more")
                next_url = f"{base}{more}" if more else None
        raise AssertionError(f"more than {MAX_PAGES} pages of statements at Ralph")


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"Ralph (a real LRS) is required in CI: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _auth_file(path: Path) -> None:
    """Ralph's users file: one user allowed everything (``all``, so its ``authority`` is kept as sent)."""
    script = "import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())"
    hashed = subprocess.run(
        [RALPH_PYTHON, "-c", script, PASSWORD], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    user = {"username": USERNAME, "hash": hashed, "scopes": ["all"], "agent": {"mbox": "mailto:platform@example.org"}}
    path.write_text(json.dumps([user]))


@pytest.fixture(scope="module")
def ralph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RalphLrs]:
    """Ralph serving ``/xAPI`` on loopback from an empty directory (one per test module), stopped with SIGTERM."""
    if not Path(RALPH_PYTHON).is_file():
        _unavailable(f"no Ralph environment at {RALPH_PYTHON} (see tests/integration/ralph_lrs.py)")
    root = tmp_path_factory.mktemp("ralph")
    (root / "data").mkdir()
    try:
        _auth_file(root / "auth.json")
    except (subprocess.SubprocessError, OSError) as exc:
        _unavailable(f"{RALPH_PYTHON} cannot hash a password with bcrypt: {exc}")
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "RALPH_APP_DIR": str(root),
        "RALPH_AUTH_FILE": str(root / "auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(root / "data"),
        "RALPH_BACKENDS__DATA__FS__DEFAULT_DIRECTORY_PATH": str(root / "data"),
    }
    log_path = root / "ralph.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [RALPH_PYTHON, "-c", SERVE, str(port)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                _unavailable(f"Ralph exited with {process.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/__heartbeat__", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                _unavailable(f"Ralph did not answer on {url} within {READY_TIMEOUT}s: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield RalphLrs(f"{url}/xAPI", USERNAME, PASSWORD)
    finally:
        stop_process_group(process, STOP_TIMEOUT)
