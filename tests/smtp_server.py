"""A real SMTP server process for the tests of the mail adapters.

The server is aiosmtpd (a dev dependency) run by this very file as a script
with ``sys.executable``, on a free 127.0.0.1 port, in a process of its own: a
mailer under test talks to it over a real socket and cannot share state with
it. Every message the server accepts becomes one JSON line (envelope sender,
recipients, raw content, who authenticated, whether TLS was on) in a file that
``SmtpServer`` reads; the line is written before the server answers 250, so a
message is readable as soon as the client's send has returned.

Options: ``credentials`` makes the server require AUTH (PLAIN and LOGIN, or the
``mechanisms`` given) with that one username and password; ``tls`` serves a
self-signed certificate (``self_signed_certificate``) either after STARTTLS
(then AUTH and mail require it) or from the first byte.

Name this module in a test module to get its fixtures::

    pytest_plugins = ["tests.smtp_server"]

``smtp_server`` (open) and ``smtp_auth_server`` (AUTH required) are one
process each for the session, with the earlier tests' messages forgotten;
``start_smtp_server(...)`` starts a server of the test's own (other AUTH
mechanisms, TLS with ``smtp_tls_files``), stopped at teardown. Import the
classes for annotations only (under ``TYPE_CHECKING``): importing this module
before pytest loads it as a plugin would keep its asserts from being rewritten.
Without aiosmtpd the tests skip with the reason, and fail in CI (``CI`` set).
"""

from __future__ import annotations

import base64
import datetime
import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal, NoReturn, Protocol, Self

import pytest

HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
WAIT_TIMEOUT = 10.0
USERNAME = "mailer"
PASSWORD = "s3cret-Pa55word"
IN_CI = bool(os.environ.get("CI"))

Tls = Literal["starttls", "implicit"]


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    authenticated_as: str | None  # "<MECHANISM>:<login>", or None without AUTH
    tls: bool

    @property
    def message(self) -> EmailMessage:
        """The raw content parsed back into a message (headers decoded, body via ``get_content()``).

        Line ends become ``\n`` first, as a mail store does: on the wire they are CRLF.
        """
        parsed = BytesParser(policy=policy.default).parsebytes(self.content.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate only (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_certificate(directory: Path, host: str = HOST) -> TlsFiles:
    """A fresh key and a certificate for ``host`` (an IP address), valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp test server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    """An aiosmtpd process the test owns; ``start`` waits until it listens, ``stop`` ends it."""

    def __init__(
        self,
        workdir: Path,
        *,
        credentials: tuple[str, str] | None = None,
        mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        tls: Tls | None = None,
        tls_files: TlsFiles | None = None,
    ) -> None:
        if tls is not None and tls_files is None:
            raise ValueError("a TLS server needs tls_files (see self_signed_certificate)")
        self.workdir = workdir
        self.credentials = credentials
        self.mechanisms = mechanisms
        self.tls = tls
        self.tls_files = tls_files
        self.host = HOST
        self.port = 0
        self.mailbox = workdir / "received.jsonl"
        self._ready = workdir / "ready"
        self._log = workdir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._seen = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start on a free port; a port taken between choosing and binding is retried with another."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            if self._start_on(free_port()):
                return
        raise RuntimeError(f"the SMTP test server did not start: {self._tail_log()}")

    def _start_on(self, port: int) -> bool:
        self._ready.unlink(missing_ok=True)
        env = dict(os.environ)
        env.pop("SMTP_TEST_USERNAME", None)
        env.pop("SMTP_TEST_PASSWORD", None)
        if self.credentials is not None:  # in the environment, not on a command line anyone can list
            env["SMTP_TEST_USERNAME"], env["SMTP_TEST_PASSWORD"] = self.credentials
        command = [sys.executable, __file__, "--port", str(port), "--mailbox", str(self.mailbox)]
        command += ["--ready", str(self._ready), "--mechanisms", ",".join(self.mechanisms)]
        if self.tls is not None and self.tls_files is not None:
            command += ["--tls", self.tls, "--cert", str(self.tls_files.cert), "--key", str(self.tls_files.key)]
        with self._log.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # its own process group, so stop() reaches all of it
            )
        self._process = process
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._ready.exists():
                self.port = port
                return True
            if process.poll() is not None:
                self._process = None
                return False
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the SMTP test server was not ready within {READY_TIMEOUT}s: {self._tail_log()}")

    def restart(self) -> None:
        """Start again on the port it had (a mail server back after an outage); the mailbox is kept."""
        if self.running:
            return
        if not self.port or not self._start_on(self.port):
            raise RuntimeError(f"the SMTP test server did not start again on {self.port}: {self._tail_log()}")

    def stop(self) -> None:
        """SIGTERM to the process group, then SIGKILL if it has not ended within STOP_TIMEOUT."""
        # Imported here: this file also runs as the server script itself, where ``tests`` is not importable.
        from tests.processes import stop_process_group

        process, self._process = self._process, None
        stop_process_group(process, STOP_TIMEOUT)

    def _all(self) -> list[ReceivedMail]:
        try:
            data = self.mailbox.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        received = []
        for line in data.splitlines(keepends=True):
            if not line.endswith("\n"):  # a line still being written
                break
            record = json.loads(line)
            received.append(
                ReceivedMail(
                    mail_from=record["mail_from"],
                    rcpt_tos=tuple(record["rcpt_tos"]),
                    content=base64.b64decode(record["content_b64"]),
                    authenticated_as=record["authenticated_as"],
                    tls=record["tls"],
                )
            )
        return received

    def clear(self) -> None:
        """Forget the messages received so far: ``messages`` and ``wait_for`` count from here."""
        self._seen = len(self._all())

    def messages(self) -> list[ReceivedMail]:
        """The messages received since the last ``clear``."""
        return self._all()[self._seen :]

    def wait_for(
        self,
        count: int = 1,
        *,
        where: Callable[[ReceivedMail], bool] = lambda mail: True,
        timeout: float = WAIT_TIMEOUT,
    ) -> list[ReceivedMail]:
        """At least ``count`` received messages that match ``where``, polling for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [mail for mail in self.messages() if where(mail)]
            if len(matching) >= count:
                return matching
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{len(matching)} of {count} expected messages arrived at {self.host}:{self.port} "
                    f"within {timeout}s (running: {self.running}); server log: {self._tail_log()}"
                )
            time.sleep(0.02)

    def _tail_log(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:] or "(empty)"
        except OSError:
            return "(no log)"


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"the SMTP test server is required in CI: {message}")
    pytest.skip(message)


def _start_or_skip(server: SmtpServer) -> SmtpServer:
    if importlib.util.find_spec("aiosmtpd") is None:
        _unavailable("aiosmtpd is not installed (pip install -e '.[dev]')")
    try:
        server.start()
    except RuntimeError as exc:
        _unavailable(str(exc))
    return server


def _running(server: SmtpServer) -> Iterator[SmtpServer]:
    try:
        yield _start_or_skip(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """One open SMTP server (no AUTH, no TLS) for the session."""
    yield from _running(SmtpServer(tmp_path_factory.mktemp("smtp-open")))


@pytest.fixture(scope="session")
def smtp_auth_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """One SMTP server for the session that requires AUTH (PLAIN or LOGIN) as USERNAME / PASSWORD, without TLS."""
    yield from _running(SmtpServer(tmp_path_factory.mktemp("smtp-auth"), credentials=(USERNAME, PASSWORD)))


@pytest.fixture(scope="session")
def smtp_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and its key."""
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


class StartSmtpServer(Protocol):
    def __call__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        tls: Tls | None = None,
        tls_files: TlsFiles | None = None,
    ) -> SmtpServer: ...


@pytest.fixture
def start_smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartSmtpServer]:
    """Start servers of the test's own (arguments as for ``SmtpServer``); all are stopped at teardown."""
    started: list[SmtpServer] = []

    def start(
        *,
        credentials: tuple[str, str] | None = None,
        mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        tls: Tls | None = None,
        tls_files: TlsFiles | None = None,
    ) -> SmtpServer:
        server = SmtpServer(
            tmp_path_factory.mktemp("smtp"),
            credentials=credentials,
            mechanisms=mechanisms,
            tls=tls,
            tls_files=tls_files,
        )
        started.append(server)
        return _start_or_skip(server)

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def smtp_server(smtp_server_process: SmtpServer) -> SmtpServer:
    """The open server, with the messages of earlier tests forgotten."""
    smtp_server_process.clear()
    return smtp_server_process


@pytest.fixture
def smtp_auth_server(smtp_auth_server_process: SmtpServer) -> SmtpServer:
    """The AUTH-requiring server, with the messages of earlier tests forgotten."""
    smtp_auth_server_process.clear()
    return smtp_auth_server_process


def _serve(argv: list[str]) -> None:
    """The server process: aiosmtpd's Controller until SIGTERM (or until its parent is gone)."""
    import argparse
    import threading

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mailbox", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--mechanisms", default="PLAIN,LOGIN")
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    args = parser.parse_args(argv)
    username = os.environ.get("SMTP_TEST_USERNAME")
    password = os.environ.get("SMTP_TEST_PASSWORD")
    parent = os.getppid()

    class Handler:
        async def handle_RCPT(
            self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
        ) -> str:
            # A permanent refusal for the tests of bounces: any recipient whose address starts with "bounce".
            if address.lower().startswith("bounce"):
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            transport = getattr(server, "transport", None)
            on_tls = session.ssl is not None or (
                transport is not None and transport.get_extra_info("ssl_object") is not None
            )
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content_b64": base64.b64encode(envelope.original_content or b"").decode("ascii"),
                "authenticated_as": session.auth_data if session.authenticated else None,
                "tls": on_tls,
            }
            with args.mailbox.open("a", encoding="utf-8") as mailbox:
                mailbox.write(json.dumps(record) + "\n")
                mailbox.flush()
            return "250 2.0.0 OK: queued"

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        valid = (
            isinstance(auth_data, LoginPassword)
            and username is not None
            and password is not None
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        if not valid:
            return AuthResult(success=False, handled=False)
        assert isinstance(auth_data, LoginPassword)
        return AuthResult(success=True, auth_data=f"{mechanism}:{auth_data.login.decode()}")

    options: dict[str, Any] = {"server_hostname": "smtp.test"}
    tls_context = None
    if args.tls is not None:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            options.update(tls_context=tls_context, require_starttls=True)
        else:
            options.update(ssl_context=tls_context)
    if username is not None:
        offered = {mechanism.strip().upper() for mechanism in args.mechanisms.split(",")}
        options.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=args.tls == "starttls",
            auth_exclude_mechanism=[mechanism for mechanism in ("PLAIN", "LOGIN") if mechanism not in offered],
        )
    controller = Controller(Handler(), hostname=HOST, port=args.port, **options)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()  # raises when the port is taken: the parent sees the exit and tries another
    try:
        partial = args.ready.with_suffix(".partial")
        partial.write_text(str(args.port))
        partial.rename(args.ready)
        while not stop.wait(0.2):
            if os.getppid() != parent:  # the test run died without stopping us
                break
    finally:
        controller.stop()


if __name__ == "__main__":
    _serve(sys.argv[1:])
