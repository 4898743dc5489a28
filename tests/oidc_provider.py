"""A real OpenID Connect provider process for the tests, and the user's part of the sign-in without a browser.

The provider is ``oidc-provider-mock`` (PyPI; a Flask app built on Authlib),
run in its own process by this module (``python -m tests.oidc_provider --fd N``)
on a loopback socket that the test process binds and hands down. Keeping the
socket in the parent means the provider can be restarted on the same address,
so its issuer stays the same while its signing key changes (a key rotation),
and no other process can take the port in between.

What the mock lacks is added around it, in the provider process only:

- PKCE (RFC 7636, S256 only) is enforced with two Flask hooks, since the mock
  ignores ``code_challenge``: an authorization request without an S256
  challenge is refused, and a code is redeemed only with the verifier that
  matches its challenge (a code refused once stays refused);
- ``nonce`` is required (the mock's own ``require_nonce``);
- public clients (token endpoint authentication ``none``) are accepted beside
  ``client_secret_basic`` and ``client_secret_post``, through Authlib's
  documented ``TOKEN_ENDPOINT_AUTH_METHODS`` of the code grant.

The mock issues RS256 ID tokens without ``kid`` and opaque access tokens.
Without the package installed, the tests that need the process skip, saying
why; in CI (``CI`` set) they fail.

Use::

    from tests.oidc_provider import oidc_provider_fixture  # noqa: F401  (the oidc_provider fixture)

    location = await sign_in_at_provider(auth_url, subject="ada", claims={"email": "ada@example.org"})
    code, state = callback_params(location)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.processes import stop_process_group

IN_CI = bool(os.environ.get("CI"))
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
REPO_ROOT = Path(__file__).resolve().parent.parent


class OidcProviderProcess:
    """The provider process the tests own: its issuer, and stop/start/restart on the same socket."""

    def __init__(self, log_path: Path) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        # The mock names itself after the Host header it is reached by: this exact string.
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        fd = self._socket.fileno()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.oidc_provider", "--fd", str(fd)],
                cwd=REPO_ROOT,
                env=env,
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: stop() reaches anything it spawns
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited with {self._process.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.discovery_url, timeout=0.5, trust_env=False).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the OIDC provider did not answer within {READY_TIMEOUT}s: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time; the listening socket stays ours."""
        process, self._process = self._process, None
        stop_process_group(process, STOP_TIMEOUT)

    def restart(self) -> None:
        """A new process on the same address: same issuer, a new signing key, no users or codes."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._socket.close()

    def log_tail(self, limit: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session", name="oidc_provider")
def oidc_provider_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProviderProcess]:
    """The provider process, for the whole session (tests make their own users and clients on it)."""
    if importlib.util.find_spec("oidc_provider_mock") is None:
        reason = "oidc-provider-mock is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(f"the OIDC provider is required in CI: {reason}")
        pytest.skip(reason)
    provider = OidcProviderProcess(tmp_path_factory.mktemp("oidc") / "oidc-provider.log")
    try:
        provider.start()
        yield provider
    finally:
        provider.close()


async def sign_in_at_provider(
    authorization_url: str,
    *,
    subject: str,
    claims: Mapping[str, Any] | None = None,
    http_timeout: float = 5.0,
) -> str:
    """Do what the user's browser does at the provider; return where the provider sends it back.

    ``claims`` (email, email_verified, name, ...) are stored for ``subject`` first,
    through the mock's ``PUT /users/{sub}``; without them the mock makes the user
    up with ``email`` = ``subject``. The authorization page is loaded (the mock
    checks the client's parameters there), then its form is posted with ``sub``.
    The answer must be a redirect; its ``Location`` is returned: our redirect
    URI with ``code`` and ``state`` (or ``error``).
    """
    parts = urlsplit(authorization_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    async with httpx.AsyncClient(timeout=http_timeout, follow_redirects=False, trust_env=False) as client:
        if claims is not None:
            stored = await client.put(f"{origin}/users/{quote(subject, safe='')}", json=dict(claims))
            stored.raise_for_status()
        page = await client.get(authorization_url)
        if page.status_code != 200:
            raise AssertionError(f"the authorization page answered {page.status_code}: {page.text[:500]}")
        answer = await client.post(authorization_url, data={"sub": subject})
        if answer.status_code not in (302, 303):
            raise AssertionError(f"the authorization form answered {answer.status_code}: {answer.text[:500]}")
        return answer.headers["location"]


def callback_params(location: str) -> tuple[str, str]:
    """``code`` and ``state`` from the redirect back to us (an ``error`` there fails the test)."""
    query = parse_qs(urlsplit(location).query)
    if "error" in query:
        raise AssertionError(f"the provider answered with an error: {query}")
    return query["code"][0], query["state"][0]


# ---------------------------------------------------------------------------
# The provider process itself
# ---------------------------------------------------------------------------


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _build_app() -> Any:
    """The mock's Flask app, requiring a nonce, with PKCE enforced (see the module docstring)."""
    import flask
    import oidc_provider_mock
    from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant

    # Public clients (no secret, PKCE only): Authlib's documented switch is the grant's list of
    # token endpoint authentication methods, which the mock's grant inherits unchanged.
    AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    app = oidc_provider_mock.app(require_nonce=True)
    challenges: dict[str, str] = {}
    refused: set[str] = set()
    lock = threading.Lock()

    def error(description: str, code: str = "invalid_request") -> Any:
        return flask.jsonify(error=code, error_description=description), 400

    @app.before_request
    def pkce() -> Any:
        request = flask.request
        authorizing = request.path == "/oauth2/authorize" and request.method == "POST" and request.form.get("sub")
        challenged = request.args.get("code_challenge_method") == "S256" and request.args.get("code_challenge")
        if authorizing and not challenged:
            return error("PKCE with code_challenge_method=S256 is required")
        if request.path == "/oauth2/token" and request.form.get("grant_type") == "authorization_code":
            code = request.form.get("code", "")
            with lock:
                challenge = challenges.pop(code, None)
                if challenge is None and code in refused:
                    return error("the code was already refused", "invalid_grant")
                verifier = request.form.get("code_verifier", "")
                if challenge is not None and not secrets.compare_digest(_s256(verifier), challenge):
                    refused.add(code)
                    return error("PKCE verification failed", "invalid_grant")
        return None

    @app.after_request
    def remember_challenge(response: Any) -> Any:
        request = flask.request
        if request.path == "/oauth2/authorize" and request.method == "POST" and response.status_code in (302, 303):
            code = parse_qs(urlsplit(response.headers.get("Location", "")).query).get("code")
            if code:
                with lock:
                    challenges[code[0]] = request.args["code_challenge"]
        return response

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="oidc-provider-mock on an inherited listening socket")
    parser.add_argument("--fd", type=int, required=True, help="a listening TCP socket's file descriptor")
    args = parser.parse_args()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback
    import uvicorn

    uvicorn.run(_build_app(), interface="wsgi", fd=args.fd, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
