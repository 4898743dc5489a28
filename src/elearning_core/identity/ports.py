"""What the identity module needs from outside: a password hasher."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    """Turns passwords into stored hashes and checks them, without ever leaking which check failed.

    Every method that does the expensive work is async because a hash that is
    slow enough to resist offline guessing is far too slow to run on the event
    loop: an adapter does it elsewhere and bounds how many run at once.

    The login flow this is built for (``verify`` or ``verify_unknown``, then
    ``needs_rehash`` on success) lets parameters be raised over time without a
    migration, and gives an attacker the same answer, after the same work, for
    an unknown email as for a wrong password.
    """

    async def hash(self, password: str) -> str:
        """A salted hash to store; raises ``ValueError`` for a password above the adapter's length limit.

        Refusing (rather than truncating) keeps what the user typed and what is
        checked the same, and stops one request from buying megabytes of hashing.
        """
        ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``.

        False, never an exception, also for a malformed, truncated or foreign
        hash and for an over-long password: a stored value the adapter cannot
        read is a failed login, and an exception here would give a different
        response (and timing) from a wrong password.
        """
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones (or cannot be read).

        Called after a successful ``verify``, the only moment the plain
        password is at hand to store a new hash.
        """
        ...

    async def verify_unknown(self, password: str) -> bool:
        """Always False, after as much work as ``verify`` of a wrong password.

        For a login whose email matches no account: skipping the hash would
        answer measurably faster and tell an attacker which emails exist.
        """
        ...
