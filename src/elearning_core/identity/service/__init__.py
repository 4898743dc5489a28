"""Identity use cases: accounts, profiles, email changes, organizations, role grants.

Credentials that travel by mail (email verification, password reset, email
change) are random 256-bit tokens of which only the SHA-256 digest is stored,
each with a purpose, an expiry and a ``used_at`` that one atomic update sets: a
token is good once, for one thing, for a while. Mail leaves after the
transaction commits, on a background task, so neither a slow mail server nor
the difference between "account exists" and "no such account" shows in the
time a request takes.

Answers that could tell an outsider whether an email has an account
(register, request a reset) are the same either way: the owner of the
address learns by mail, nobody else learns anything.
"""

from __future__ import annotations

from elearning_core.identity.service._accounts import _Accounts
from elearning_core.identity.service._base import (
    INVALID_LINK,
    TOKEN_BYTES,
    IdentityConfig,
    MailQueue,
    Throttle,
    throttle,
    token_digest,
)
from elearning_core.identity.service._email_change import _EmailChange
from elearning_core.identity.service._organizations import _Organizations


class IdentityService(_Accounts, _EmailChange, _Organizations):
    """The module's use cases, one async method each (grouped by subject in the private parts)."""


__all__ = [
    "INVALID_LINK",
    "TOKEN_BYTES",
    "IdentityConfig",
    "IdentityService",
    "MailQueue",
    "Throttle",
    "throttle",
    "token_digest",
]
