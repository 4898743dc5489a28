"""Pseudonyms for the statements of deleted accounts (issue 18, point 5).

A deleted account's statements must stop naming the person, while the counts built from them (distinct
learners, per-learner funnels) stay true. So every statement of one user gets the SAME pseudonym in place
of the user id: ``Pseudonyms.of(user_id)`` is HMAC-SHA256 of the id under a key derived from the
platform's secret, its first 16 bytes shaped as a UUID of version 8 (RFC 9562's custom version; user ids
are version 7, so a pseudonym is never mistaken for an account). Without the key it cannot be turned back
into the user id, nor linked to one; with the key, someone holding a candidate user id can check it (the
nature of a keyed pseudonym, as against a random one). It is a function of the id, so a statement of the
user's that arrives after the deletion (a late or redelivered event) gets the same pseudonym without
anything being stored.

``pseudonymise(data, ...)`` rewrites one statement's JSON: every Agent identified by the user's platform
account (the actor, an Agent object, ``context.instructor``, anywhere) gets the pseudonym as its account
name and loses its ``name`` (a display name an external tool may have sent). ``accounts_named(data, ...)``
finds which accounts of the platform a statement names, anywhere, before it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

_DERIVATION = b"elearning-analytics-pseudonym-v1"


class Pseudonyms:
    """The keyed, stable pseudonym of a user id."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("a pseudonym key needs a non-empty secret")
        # A key of its own, so the pseudonyms say nothing about the secret that signs cursors and links.
        self._key = hmac.new(secret, _DERIVATION, hashlib.sha256).digest()

    def of(self, user_id: uuid.UUID) -> uuid.UUID:
        digest = hmac.new(self._key, user_id.bytes, hashlib.sha256).digest()
        value = int.from_bytes(digest[:16], "big")
        value &= ~(0xF << 76)
        value |= 0x8 << 76  # version 8
        value &= ~(0x3 << 62)
        value |= 0x2 << 62  # RFC 9562 variant
        return uuid.UUID(int=value)


def account_key(home_page: str, name: str) -> str:
    """The ``actor`` column's value of an account agent (``Agent.key()``)."""
    return f"account:{home_page}|{name}"


def pseudonymise(data: Any, home_page: str, user_id: str, pseudonym: str) -> tuple[Any, bool]:
    """``data`` (a statement's JSON, or any part of it) with every agent of the account ``home_page``/``user_id``
    renamed to ``pseudonym`` and stripped of its display name; and whether anything changed."""
    if isinstance(data, list):
        items = [pseudonymise(item, home_page, user_id, pseudonym) for item in data]
        return [item for item, _ in items], any(changed for _, changed in items)
    if not isinstance(data, dict):
        return data, False
    account = data.get("account")
    if isinstance(account, dict) and account.get("homePage") == home_page and account.get("name") == user_id:
        agent = {key: value for key, value in data.items() if key != "name"}
        agent["account"] = {**account, "name": pseudonym}
        return agent, True
    changed = False
    rewritten: dict[str, Any] = {}
    for key, value in data.items():
        rewritten[key], part = pseudonymise(value, home_page, user_id, pseudonym)
        changed = changed or part
    return (rewritten, True) if changed else (data, False)


def accounts_named(data: Any, home_page: str) -> set[str]:
    """The names (user ids as text) of every agent of the platform, ``home_page``, that ``data`` (a statement's
    JSON) names anywhere: the actor, an Agent object, ``context.instructor``, a group's member."""
    found: set[str] = set()
    _collect_accounts(data, home_page, found)
    return found


def _collect_accounts(data: Any, home_page: str, found: set[str]) -> None:
    if isinstance(data, list):
        for item in data:
            _collect_accounts(item, home_page, found)
        return
    if not isinstance(data, dict):
        return
    account = data.get("account")
    if isinstance(account, dict) and account.get("homePage") == home_page and isinstance(account.get("name"), str):
        found.add(account["name"])
    for value in data.values():
        _collect_accounts(value, home_page, found)
