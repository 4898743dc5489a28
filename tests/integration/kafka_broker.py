"""A real Kafka-protocol broker for integration tests.

Starts ``noida-db`` (a single binary that speaks the Kafka wire protocol, from
PyPI) on a free loopback port with a temporary data directory. Nothing outside
this module knows which broker runs: point the tests at a real Kafka with
``ELEARNING_TEST_KAFKA_BOOTSTRAP`` instead (fault tests that stop the broker
then skip). In CI (``CI`` set) a missing broker fails; elsewhere the tests
skip with the reason.

Import the fixtures into a test module::

    from tests.integration.kafka_broker import kafka_broker, kafka_control  # noqa: F401
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from confluent_kafka.admin import AdminClient

from tests.processes import stop_process_group

IN_CI = bool(os.environ.get("CI"))
EXTERNAL_BOOTSTRAP = os.environ.get("ELEARNING_TEST_KAFKA_BOOTSTRAP")
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def _noida_binary() -> str | None:
    """The real binary: the ``noida-db`` console script is a Python wrapper that would not pass SIGTERM on."""
    explicit = os.environ.get("ELEARNING_TEST_NOIDA_DB")
    if explicit:
        return explicit
    spec = importlib.util.find_spec("noida_db")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "noida-db"
        if candidate.is_file():
            candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    return shutil.which("noida-db")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=timeout)
    except Exception:
        return False
    return True


class KafkaBroker:
    """A broker process the tests own: stop, start and restart it for fault tests (same port, same data)."""

    def __init__(self, binary: str, data_dir: Path, port: int) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir.parent / f"noida-db-{port}.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "start",
                    "--only",
                    "kafka",
                    "--host",
                    "127.0.0.1",
                    "--kafka-port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: stop() reaches any child it spawns
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"noida-db exited with {self._process.returncode}: {self._tail_log()}")
            if broker_reachable(self.bootstrap, timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"noida-db did not answer on {self.bootstrap} within {READY_TIMEOUT}s: {self._tail_log()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process_group(process, STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _tail_log(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"a Kafka-protocol broker is required in CI: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_broker_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker | None]:
    """The broker this session started, or None when an external one is configured."""
    if EXTERNAL_BOOTSTRAP:
        if not broker_reachable(EXTERNAL_BOOTSTRAP, timeout=5.0):
            message = f"Kafka at {EXTERNAL_BOOTSTRAP} (ELEARNING_TEST_KAFKA_BOOTSTRAP) is unreachable"
            _unavailable(message)
        yield None
        return
    binary = _noida_binary()
    if binary is None:
        message = (
            "no Kafka-protocol broker: install noida-db (pip install noida-db) or set ELEARNING_TEST_KAFKA_BOOTSTRAP"
        )
        _unavailable(message)
    root = tmp_path_factory.mktemp("kafka")
    broker = KafkaBroker(binary, root / "data", _free_port())
    try:
        broker.start()
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(kafka_broker_process: KafkaBroker | None) -> str:
    """The bootstrap address (``host:port``) of a running Kafka-protocol broker."""
    if kafka_broker_process is None:
        assert EXTERNAL_BOOTSTRAP is not None
        return EXTERNAL_BOOTSTRAP
    return kafka_broker_process.bootstrap


@pytest.fixture
def kafka_control(kafka_broker_process: KafkaBroker | None) -> Iterator[KafkaBroker]:
    """The broker handle for fault tests; it is running again after the test whatever happened."""
    if kafka_broker_process is None:
        pytest.skip("fault tests need a broker the tests can stop (unset ELEARNING_TEST_KAFKA_BOOTSTRAP)")
    try:
        yield kafka_broker_process
    finally:
        kafka_broker_process.start()


@pytest.fixture
def own_kafka_broker(tmp_path: Path) -> Iterator[str]:
    """A broker of this test's own, for tests that leave members behind in consumer groups.

    A consumer killed with -9 stays a member of its group on noida-db (it does not expire members whose
    session timed out), holding its partitions until the broker restarts; on the shared broker that would
    starve later tests' consumers of the same group. With ``ELEARNING_TEST_KAFKA_BOOTSTRAP`` the external
    broker is used (a real Kafka expires such a member after its session timeout).
    """
    if EXTERNAL_BOOTSTRAP:
        if not broker_reachable(EXTERNAL_BOOTSTRAP, timeout=5.0):
            _unavailable(f"Kafka at {EXTERNAL_BOOTSTRAP} (ELEARNING_TEST_KAFKA_BOOTSTRAP) is unreachable")
        yield EXTERNAL_BOOTSTRAP
        return
    binary = _noida_binary()
    if binary is None:
        _unavailable("no Kafka-protocol broker: install noida-db (pip install noida-db)")
    broker = KafkaBroker(binary, tmp_path / "own-kafka" / "data", _free_port())
    broker.data_dir.parent.mkdir()
    try:
        broker.start()
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
