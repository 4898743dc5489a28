"""PKCE (RFC 7636) code verifiers and S256 challenges, and the ``state`` and ``nonce`` of a sign-in."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_code_verifier() -> str:
    """A fresh PKCE code verifier: 64 characters of the unreserved set, 384 bits of entropy."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """The S256 challenge of ``verifier``: BASE64URL(SHA256(ASCII(verifier))), unpadded."""
    if not VERIFIER.match(verifier):
        raise ValueError("a code verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    """An unguessable ``state`` for one sign-in (CSRF protection of the callback)."""
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    """An unguessable ``nonce`` for one sign-in (binds the ID token to it)."""
    return secrets.token_urlsafe(32)
