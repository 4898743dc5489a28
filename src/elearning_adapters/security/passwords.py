"""Argon2id password hashing (argon2-cffi), off the event loop and bounded in memory."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
from collections.abc import Callable
from typing import Any, Final, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from elearning_core.identity.ports import PasswordHasher

T = TypeVar("T")

# OWASP's Argon2id minimum (m=19 MiB, t=2, p=1), the most memory-hard of its equivalent
# configurations that fits the 50 ms budget here with headroom. Measured on the development
# machine (2 AMD EPYC cores, argon2-cffi 25.1, Python 3.11, idle; benchmarks/passwords.py,
# 50 verifies): median 24.9 ms, p95 28.4 ms, max 29.3 ms; two at once (the default bound on
# 2 CPUs) median 27.5 ms, p95 41.9 ms. Rejected, same machine, several runs: m=24 MiB, t=2
# (median 30-38 ms, p95 up to 47 ms); m=19 MiB, t=3 (median 36-44 ms, p95 up to 51 ms);
# m=46 MiB, t=1 (median 84 ms).
DEFAULT_TIME_COST: Final = 2
DEFAULT_MEMORY_COST_KIB: Final = 19 * 1024
DEFAULT_PARALLELISM: Final = 1

# Argon2 first runs the whole password through BLAKE2b (and we copy it to the worker
# thread), so the cost grows with the length: a limit far above any real passphrase
# keeps one request from buying megabytes of hashing.
MAX_PASSWORD_BYTES: Final = 1024

# A stored hash names its own cost. These caps (raised to the current parameters if
# those are higher) stop one corrupted or planted row from making a login allocate
# gigabytes or spawn thousands of threads: the semaphore bounds how many verifies run,
# these bound what each one may cost.
MAX_STORED_MEMORY_KIB: Final = 256 * 1024
MAX_STORED_TIME_COST: Final = 16
MAX_STORED_PARALLELISM: Final = 16
MAX_STORED_HASH_CHARS: Final = 512


class Argon2PasswordHasher(PasswordHasher):
    """Argon2id with explicit parameters; all hashing runs in threads, at most ``max_concurrency`` at once.

    argon2-cffi releases the GIL, so hashes run in parallel on the loop's default
    executor. Each one holds ``memory_cost_kib`` KiB while it runs, so the bound
    (default: one per CPU) is what keeps a burst of logins from allocating without
    limit, and more than one per CPU would only queue inside the kernel instead.
    """

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost_kib: int = DEFAULT_MEMORY_COST_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
        max_concurrency: int | None = None,
        max_password_bytes: int = MAX_PASSWORD_BYTES,
    ) -> None:
        concurrency = (os.cpu_count() or 1) if max_concurrency is None else max_concurrency
        if concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {concurrency}")
        if max_password_bytes < 1:
            raise ValueError(f"max_password_bytes must be at least 1, not {max_password_bytes}")
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._max_password_bytes = max_password_bytes
        self._max_stored_memory_kib = max(memory_cost_kib, MAX_STORED_MEMORY_KIB)
        self._max_stored_time_cost = max(time_cost, MAX_STORED_TIME_COST)
        self._max_stored_parallelism = max(parallelism, MAX_STORED_PARALLELISM)
        self._slots = asyncio.Semaphore(concurrency)
        self.max_concurrency: Final = concurrency
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        encoded = self._encode(password)
        if encoded is None:
            raise ValueError(
                f"password is longer than {self._max_password_bytes} bytes in UTF-8, or is not valid Unicode text"
            )
        return await self._off_loop(functools.partial(self._hash_blocking, encoded))

    async def verify(self, password_hash: str, password: str) -> bool:
        encoded = self._encode(password)
        if encoded is None or not self._acceptable(password_hash):
            return False
        return await self._off_loop(functools.partial(self._verify_blocking, password_hash, encoded))

    def needs_rehash(self, password_hash: str) -> bool:
        if not password_hash.isascii():
            return True
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_unknown(self, password: str) -> bool:
        # An over-long or unencodable password fails verify() before any hashing, so here too.
        encoded = self._encode(password)
        if encoded is not None:
            await self._off_loop(functools.partial(self._verify_unknown_blocking, encoded))
        return False

    def _hash_blocking(self, password: bytes) -> str:
        return self._argon2.hash(password)

    def _verify_blocking(self, password_hash: str, password: bytes) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _verify_unknown_blocking(self, password: bytes) -> None:
        dummy = self._dummy_hash
        if dummy is None:
            # Made on first use rather than in __init__ (which may run on the event loop). Hashing
            # costs what a verify with the same parameters costs, so even this first call is not
            # faster than a wrong password; a concurrent first call may make a second dummy: harmless.
            self._dummy_hash = self._hash_blocking(secrets.token_bytes(32))
            return
        self._verify_blocking(dummy, password)

    def _encode(self, password: str) -> bytes | None:
        if len(password) > self._max_password_bytes:  # every character is at least one byte
            return None
        try:
            encoded = password.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return None
        return encoded if len(encoded) <= self._max_password_bytes else None

    def _acceptable(self, password_hash: str) -> bool:
        """Whether the hash is worth handing to libargon2, which trusts the costs it names."""
        if len(password_hash) > MAX_STORED_HASH_CHARS or not password_hash.isascii():
            return False
        try:
            stored = argon2.extract_parameters(password_hash)
        except InvalidHashError:
            return False
        return (
            stored.memory_cost <= self._max_stored_memory_kib
            and stored.time_cost <= self._max_stored_time_cost
            and stored.parallelism <= self._max_stored_parallelism
        )

    async def _off_loop(self, work: Callable[[], T]) -> T:
        """Run ``work`` in a thread while holding a slot until the thread is done.

        The slot is released by the thread's completion, not by the awaiting task:
        a cancelled login (client gone, request timeout) cannot free its slot while
        its hash still runs, so cancellations cannot push the bound.
        """
        await self._slots.acquire()
        try:
            done = asyncio.get_running_loop().run_in_executor(None, work)
        except BaseException:
            self._slots.release()
            raise
        done.add_done_callback(self._release)
        return await asyncio.shield(done)

    def _release(self, done: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not done.cancelled():
            done.exception()  # retrieved, so an abandoned failure is not logged as "never retrieved"
