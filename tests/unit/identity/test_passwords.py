"""Argon2 password hashing: never raises on bad input, stays off the event loop, and bounds its work."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import argon2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elearning_adapters.security.passwords import Argon2PasswordHasher
from elearning_core.identity.ports import PasswordHasher

T = TypeVar("T")

# Tiny parameters: the tests are about behaviour, not strength (one test checks the defaults).
SMALL: dict[str, int] = {"time_cost": 1, "memory_cost_kib": 256, "parallelism": 1}
PASSWORD = "correct horse battery staple"

# OWASP Password Storage Cheat Sheet, Argon2id: equally strong (memory KiB, iterations) pairs, parallelism 1.
OWASP_ARGON2ID_MINIMUMS = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]


class Instrumented(Argon2PasswordHasher):
    """The real hasher, recording which thread does the work and how many calls overlap.

    ``gate`` holds every call until set; ``barrier`` makes calls wait for each other.
    """

    def __init__(
        self,
        *,
        gate: threading.Event | None = None,
        barrier: threading.Barrier | None = None,
        hold_seconds: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**{**SMALL, **kwargs})
        self.gate, self.barrier, self.hold_seconds = gate, barrier, hold_seconds
        self.calls: list[tuple[str, Any]] = []
        self.threads: set[int] = set()
        self.started = threading.Semaphore(0)
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def _hash_blocking(self, password: bytes) -> str:
        return self._instrumented(("hash", password), functools.partial(super()._hash_blocking, password))

    def _verify_blocking(self, password_hash: str, password: bytes) -> bool:
        return self._instrumented(
            ("verify", password_hash), functools.partial(super()._verify_blocking, password_hash, password)
        )

    def _instrumented(self, call: tuple[str, Any], work: Callable[[], T]) -> T:
        with self._lock:
            self.calls.append(call)
            self.threads.add(threading.get_ident())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.started.release()
        try:
            if self.barrier is not None:
                self.barrier.wait()
            if self.gate is not None:
                assert self.gate.wait(timeout=10), "the test never opened the gate"
            if self.hold_seconds:
                time.sleep(self.hold_seconds)
            return work()
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(**SMALL)


@pytest.mark.parametrize("method", ["hash", "verify", "needs_rehash", "verify_unknown"])
def test_the_adapter_implements_every_method_of_the_port(method: str) -> None:
    # Subclassing a Protocol inherits its `...` bodies: a forgotten method would silently return None.
    assert getattr(Argon2PasswordHasher, method) is not getattr(PasswordHasher, method)


async def test_a_hash_verifies_its_password_and_is_argon2id(hasher: Argon2PasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert await hasher.verify(stored, PASSWORD) is True


async def test_a_wrong_password_does_not_verify(hasher: Argon2PasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)
    assert await hasher.verify(stored, PASSWORD + "!") is False
    assert await hasher.verify(stored, "") is False
    assert await hasher.verify(stored, PASSWORD.upper()) is False


async def test_unicode_passwords_round_trip(hasher: Argon2PasswordHasher) -> None:
    stored = await hasher.hash("pässwörd ☃ 密码")
    assert await hasher.verify(stored, "pässwörd ☃ 密码") is True
    assert await hasher.verify(stored, "passwort ☃ 密码") is False


async def test_each_hash_is_salted(hasher: Argon2PasswordHasher) -> None:
    first, second = await hasher.hash(PASSWORD), await hasher.hash(PASSWORD)
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]  # the salt field itself
    assert await hasher.verify(first, PASSWORD) is True
    assert await hasher.verify(second, PASSWORD) is True


def _malformed_hashes() -> list[Any]:
    real = argon2.PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(PASSWORD)
    cases = {
        "empty": "",
        "garbage": "garbage",
        "dollar": "$",
        "only-separators": "$$$$$",
        "bcrypt": "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "django-pbkdf2": "pbkdf2_sha256$600000$salt$hash",
        "truncated-argon2": real[:-10],
        "parameters-only": real[: len("$argon2id$v=19$m=256,t=1,p=1$")],
        "unknown-variant": real.replace("$argon2id$", "$argon2x$"),
        "non-numeric-cost": real.replace("m=256", "m=abc"),
        "cost-libargon2-refuses": real.replace("t=1", "t=0"),
        "extra-field": real + "$extra",
        "non-ascii": real[:20] + "é" + real[21:],
        "nul-byte": real[:20] + "\x00" + real[21:],
        "absurdly-long": real + "A" * 1000,
    }
    return [pytest.param(stored, id=name) for name, stored in cases.items()]


@pytest.mark.parametrize("stored", _malformed_hashes())
async def test_a_malformed_hash_fails_verification_without_raising(hasher: Argon2PasswordHasher, stored: str) -> None:
    assert await hasher.verify(stored, PASSWORD) is False
    assert hasher.needs_rehash(stored) is True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_corruption_of_a_hash_fails_without_raising(data: st.DataObject) -> None:
    hasher = Argon2PasswordHasher(**SMALL)
    real = argon2.PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(PASSWORD)
    position = data.draw(st.integers(0, len(real) - 1), label="position")
    replacement = data.draw(st.text(max_size=3), label="replacement")
    stored = data.draw(
        st.one_of(
            st.just(real[:position] + replacement + real[position + 1 :]),
            st.text(max_size=200),
            st.builds(lambda tail: "$argon2id$v=19$" + tail, st.text(max_size=120)),
        ),
        label="stored",
    )
    result = asyncio.run(hasher.verify(stored, PASSWORD))
    assert result is (stored == real)  # only the untouched hash verifies
    hasher.needs_rehash(stored)  # must not raise either


async def test_a_hash_naming_an_absurd_cost_is_refused_before_hashing() -> None:
    hasher = Instrumented()
    real = await hasher.hash(PASSWORD)
    hasher.calls.clear()
    for planted in (
        real.replace("m=256", "m=4194304"),  # 4 GiB
        real.replace("t=1", "t=100000"),
        real.replace("m=256,t=1,p=1", "m=262144,t=1,p=4096"),
    ):
        assert await hasher.verify(planted, PASSWORD) is False
    assert hasher.calls == []


async def test_needs_rehash_only_when_parameters_differ(hasher: Argon2PasswordHasher) -> None:
    current = await hasher.hash(PASSWORD)
    assert hasher.needs_rehash(current) is False

    stronger = await Argon2PasswordHasher(time_cost=2, memory_cost_kib=256, parallelism=1).hash(PASSWORD)
    more_memory = await Argon2PasswordHasher(time_cost=1, memory_cost_kib=512, parallelism=1).hash(PASSWORD)
    argon2i = argon2.PasswordHasher(time_cost=1, memory_cost=256, parallelism=1, type=argon2.Type.I).hash(PASSWORD)
    for other in (stronger, more_memory, argon2i):
        assert hasher.needs_rehash(other) is True
        # An old hash still logs its owner in: that login is when it gets replaced.
        assert await hasher.verify(other, PASSWORD) is True


async def test_verify_unknown_is_always_false_and_verifies_against_a_current_dummy() -> None:
    hasher = Instrumented()
    stored = await hasher.hash(PASSWORD)
    hasher.calls.clear()

    results = [await hasher.verify_unknown(PASSWORD) for _ in range(3)]

    assert results == [False, False, False]
    # The first call pays for a hash (what a verify costs), the next ones verify against that one dummy.
    kinds = [kind for kind, _ in hasher.calls]
    assert kinds == ["hash", "verify", "verify"]
    dummies = {argument for kind, argument in hasher.calls if kind == "verify"}
    assert len(dummies) == 1
    dummy = dummies.pop()
    assert dummy != stored
    assert dummy.startswith("$argon2id$")
    assert hasher.needs_rehash(dummy) is False


async def test_all_hashing_runs_off_the_event_loop_thread() -> None:
    hasher = Instrumented()
    loop_thread = threading.get_ident()

    stored = await hasher.hash(PASSWORD)
    await hasher.verify(stored, PASSWORD)
    await hasher.verify(stored, "wrong")
    await hasher.verify_unknown(PASSWORD)
    await hasher.verify_unknown(PASSWORD)

    assert len(hasher.calls) == 5
    assert hasher.threads
    assert loop_thread not in hasher.threads


async def test_at_most_the_bound_runs_at_once() -> None:
    hasher = Instrumented(max_concurrency=1, hold_seconds=0.02)
    stored = await Argon2PasswordHasher(**SMALL).hash(PASSWORD)

    results = await asyncio.gather(
        *(hasher.verify(stored, PASSWORD) for _ in range(4)),
        *(hasher.verify_unknown(PASSWORD) for _ in range(2)),
        hasher.hash(PASSWORD),
    )

    assert results[:6] == [True] * 4 + [False] * 2
    assert len(hasher.calls) == 7
    assert hasher.max_active == 1


async def test_up_to_the_bound_runs_in_parallel() -> None:
    # Three calls that each wait for the other two: they finish only if three run at once.
    hasher = Instrumented(max_concurrency=3, barrier=threading.Barrier(3, timeout=10))
    stored = await Argon2PasswordHasher(**SMALL).hash(PASSWORD)

    results = await asyncio.gather(*(hasher.verify(stored, PASSWORD) for _ in range(3)))

    assert results == [True, True, True]
    assert hasher.max_active == 3


async def test_a_cancelled_verify_keeps_its_slot_until_its_hash_is_done() -> None:
    gate = threading.Event()
    hasher = Instrumented(max_concurrency=1, gate=gate)
    stored = await Argon2PasswordHasher(**SMALL).hash(PASSWORD)

    first = asyncio.create_task(hasher.verify(stored, PASSWORD))
    assert await asyncio.to_thread(hasher.started.acquire, timeout=10)  # its hash is running
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.create_task(hasher.verify(stored, PASSWORD))
    # Had the cancellation freed the slot, the second hash would start now, beside the first.
    assert not await asyncio.to_thread(hasher.started.acquire, timeout=0.2)
    gate.set()

    assert await second is True
    assert hasher.max_active == 1
    assert len(hasher.calls) == 2


def test_the_bound_defaults_to_the_cpu_count_and_must_be_positive() -> None:
    assert Argon2PasswordHasher(**SMALL).max_concurrency == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="max_concurrency"):
        Argon2PasswordHasher(**SMALL, max_concurrency=0)


async def test_an_over_long_password_is_refused_by_hash_and_fails_verify() -> None:
    hasher = Instrumented(max_password_bytes=1024)
    at_limit = "a" * 1024
    stored = await hasher.hash(at_limit)
    assert await hasher.verify(stored, at_limit) is True
    hasher.calls.clear()

    over_in_bytes = "é" * 513  # 513 characters, 1026 bytes: the limit counts bytes
    for too_long in ("a" * 1025, over_in_bytes, "a" * 5_000_000):
        with pytest.raises(ValueError, match="1024 bytes"):
            await hasher.hash(too_long)
        assert await hasher.verify(stored, too_long) is False
        assert await hasher.verify(stored, at_limit + too_long) is False
        assert await hasher.verify_unknown(too_long) is False
    assert hasher.calls == []  # refused before any hashing


async def test_a_password_that_is_not_unicode_text_is_refused(hasher: Argon2PasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)
    with pytest.raises(ValueError, match="Unicode"):
        await hasher.hash("lone \ud800 surrogate")
    assert await hasher.verify(stored, "lone \ud800 surrogate") is False
    assert await hasher.verify_unknown("lone \ud800 surrogate") is False


async def test_the_default_parameters_meet_owasp_s_argon2id_minimum() -> None:
    hasher = Argon2PasswordHasher()
    stored = await hasher.hash(PASSWORD)  # the one test that pays for the real parameters

    used = argon2.extract_parameters(stored)
    assert used.type is argon2.Type.ID
    assert used.parallelism >= 1
    assert any(used.memory_cost >= memory and used.time_cost >= passes for memory, passes in OWASP_ARGON2ID_MINIMUMS), (
        f"m={used.memory_cost} KiB, t={used.time_cost} is below every OWASP Argon2id configuration"
    )
    assert used.salt_len >= 16
    assert used.hash_len >= 32
    assert hasher.needs_rehash(stored) is False
    assert await hasher.verify(stored, PASSWORD) is True
