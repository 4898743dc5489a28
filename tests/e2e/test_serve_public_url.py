"""``elearning serve --host/--port`` as a real process: the links and names it gives carry the address served.

With no ``ELEARNING_HOST``/``ELEARNING_PORT``/``ELEARNING_PUBLIC_BASE_URL`` in
the environment, the token issuer, the link in a mail (sent through a real
SMTP server process) and the OIDC callback all name the host and port given
on the command line; the mailed link is opened as it is, by its full URL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from elearning_adapters.settings import reachable_host
from tests.oidc_provider import OidcProviderProcess, oidc_provider_fixture  # noqa: F401  (the oidc_provider fixture)
from tests.served import ELEARNING, free_port, ready, wait_for

if TYPE_CHECKING:
    from tests.smtp_server import ReceivedMail, SmtpServer

pytest_plugins = ["tests.smtp_server"]

HOST = "localhost"  # not the default 127.0.0.1: the name must come from --host


Serve = Callable[..., str]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """None of the caller's ELEARNING_* (no host, port or public URL), a data dir of the test's own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
    return base | {
        "ELEARNING_DATA_DIR": str(tmp_path / "data"),
        "ELEARNING_ADMIN_TOKEN": "serve-public-url",
        "ELEARNING_LOG_JSON": "false",
        "ELEARNING_ACCESS_LOG": "false",
    }


@pytest.fixture
def serve(env: dict[str, str], tmp_path: Path) -> Iterator[Serve]:
    """Start ``elearning serve --host localhost --port <free>`` with extra environment; its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> str:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [ELEARNING, "serve", "--host", HOST, "--port", str(port)],
                env=env | extra,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        base = f"http://{HOST}:{port}"
        wait_for(lambda: ready(base) or process.poll() is not None, "the server to answer /ready")
        assert process.poll() is None, log.read_text()
        return base

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


def test_the_issuer_and_the_mailed_link_name_the_port_served(serve: Serve, smtp_server: SmtpServer) -> None:
    base = serve(
        ELEARNING_MAIL_BACKEND="smtp",
        ELEARNING_SMTP_HOST=smtp_server.host,
        ELEARNING_SMTP_PORT=str(smtp_server.port),
    )
    discovery = httpx.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == base
    assert discovery["jwks_uri"] == f"{base}/.well-known/jwks.json"

    address = "ada@example.org"
    body = {"email": address, "password": "correct horse battery", "display_name": "Ada"}
    assert httpx.post(f"{base}/api/v1/auth/register", json=body, timeout=10).status_code == 202

    def to_ada(mail: ReceivedMail) -> bool:
        return address in mail.rcpt_tos

    [mail] = smtp_server.wait_for(1, where=to_ada)
    text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    [link] = re.findall(r"^(https?://\S+)$", text, re.MULTILINE)
    assert link.startswith(f"{base}/api/v1/auth/verify-email?token=")
    # Clicked as it is: a browser gets a readable page.
    opened = httpx.get(link, headers={"Accept": "text/html"}, timeout=10)
    assert opened.status_code == 200, opened.text
    assert opened.headers["content-type"].startswith("text/html")
    assert "Email address confirmed" in opened.text


def test_the_oidc_callback_names_the_port_served(serve: Serve, oidc_provider: OidcProviderProcess) -> None:
    provider = {"name": "mock", "issuer": oidc_provider.issuer, "client_id": "web", "client_secret": "s3cret"}
    base = serve(ELEARNING_OIDC_PROVIDERS=json.dumps([provider]))
    started = httpx.get(f"{base}/api/v1/auth/oidc/mock/authorize", timeout=10)
    assert started.status_code == 302, started.text
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert query["redirect_uri"] == [f"{base}/api/v1/auth/oidc/mock/callback"]


@pytest.mark.parametrize(
    ("host", "shown"),
    [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("localhost", "localhost"), ("10.0.0.5", "10.0.0.5")],
)
def test_a_wildcard_address_is_named_by_its_loopback(host: str, shown: str) -> None:
    assert reachable_host(host) == shown
