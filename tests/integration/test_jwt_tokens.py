"""The access-token service: round trips, key rotation, and every token attack the issue lists, refused.

Attack tokens are built by hand (PyJWT where it will sign them, raw base64 and
HMAC where it will not), most of them signed with the ring's REAL key so that
the refusal is known to come from the check under test, not from a bad signature.
Pure Python: no services needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elearning_adapters.security.tokens import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_BYTES,
    JwtTokenService,
    KeyRing,
    SigningKey,
    UnknownKeyId,
)
from elearning_core.auth.ports import InvalidToken, TokenService
from elearning_core.shared.clock import FixedClock

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
ISSUER = "https://learn.example.org"
AUDIENCE = "elearning-api"


@dataclass
class Setup:
    clock: FixedClock
    ring: KeyRing
    service: JwtTokenService


def make(algorithm: str = "EdDSA") -> Setup:
    clock = FixedClock(T0)
    ring = KeyRing.generate(algorithm, retention=TTL + DEFAULT_LEEWAY, clock=clock)
    return Setup(clock, ring, JwtTokenService(ring, issuer=ISSUER, audience=AUDIENCE, access_ttl=TTL, clock=clock))


@pytest.fixture
def env() -> Setup:
    return make()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """Valid access claims at T0; a change to ``None`` removes the claim."""
    now = int(T0.timestamp())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + int(TTL.total_seconds()),
        "jti": str(uuid.uuid4()),
        "token_type": "access",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(env: Setup, payload: dict[str, Any], **header: Any) -> str:
    """Sign with the ring's real active key; ``header`` adds or (with None) removes header members."""
    key = env.ring.active
    headers = {k: v for k, v in {"kid": key.kid, "typ": "at+jwt", **header}.items() if v is not None}
    return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers=headers)


def hs256(env: Setup, secret: bytes) -> str:
    header = {"alg": "HS256", "typ": "at+jwt", "kid": env.ring.active.kid}
    signing_input = f"{segment(header)}.{segment(claims())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def public_pem(env: Setup) -> bytes:
    return env.ring.active.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_raw(env: Setup) -> bytes:
    return env.ring.active.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def unsigned(env: Setup, alg: str) -> str:
    return f"{segment({'alg': alg, 'typ': 'at+jwt', 'kid': env.ring.active.kid})}.{segment(claims())}."


def tampered(env: Setup) -> str:
    header, _, signature = env.service.issue_access("user-1").split(".")
    return f"{header}.{segment(claims(sub='admin'))}.{signature}"


def foreign(env: Setup, algorithm: str) -> str:
    """A well-formed token signed by an attacker's own key under our kid."""
    key = SigningKey.generate(algorithm, now=T0)
    headers = {"kid": env.ring.active.kid, "typ": "at+jwt"}
    return jwt.encode(claims(), key.private_key, algorithm=algorithm, headers=headers)


def spliced_jwk(env: Setup) -> str:
    """An attacker's key embedded in the header, the token signed with it."""
    key = SigningKey.generate(now=T0)
    return jwt.encode(claims(), key.private_key, algorithm="EdDSA", headers={"jwk": key.public_jwk(), "typ": "at+jwt"})


FUTURE = int((T0 + timedelta(minutes=1)).timestamp())
PAST = int((T0 - DEFAULT_LEEWAY - timedelta(seconds=1)).timestamp())

ATTACKS: dict[str, Callable[[Setup], str]] = {
    # algorithm confusion
    "alg none, empty signature": lambda e: unsigned(e, "none"),
    "alg None (mixed case)": lambda e: unsigned(e, "None"),
    "HS256 keyed with the public key PEM": lambda e: hs256(e, public_pem(e)),
    "HS256 keyed with the raw public key": lambda e: hs256(e, public_raw(e)),
    "HS256 keyed with the JWK x member": lambda e: hs256(e, e.service.jwks()["keys"][0]["x"].encode()),
    "ES256 by a foreign key under our kid": lambda e: foreign(e, "ES256"),
    "EdDSA by a foreign key under our kid": lambda e: foreign(e, "EdDSA"),
    # key selection
    "unknown kid": lambda e: sign(e, claims(), kid="no-such-key"),
    "missing kid": lambda e: sign(e, claims(), kid=None),
    "jku header": lambda e: sign(e, claims(), jku="https://evil.example/jwks.json"),
    "x5u header": lambda e: sign(e, claims(), x5u="https://evil.example/cert.pem"),
    "jwk header": lambda e: sign(e, claims(), jwk=e.ring.active.public_jwk()),
    "jwk header with the attacker's key": spliced_jwk,
    "x5c header": lambda e: sign(e, claims(), x5c=["MIIB..."]),
    "crit header": lambda e: sign(e, claims(), crit=["exp"]),
    "untyped header (typ JWT)": lambda e: sign(e, claims(), typ="JWT"),
    # integrity
    "tampered payload": tampered,
    "garbage": lambda e: "not-a-token",
    "two segments": lambda e: ".".join(e.service.issue_access("user-1").split(".")[:2]),
    "empty": lambda e: "",
    "non-ASCII": lambda e: e.service.issue_access("user-1") + "\u00e9",
    # time
    "expired beyond the leeway": lambda e: sign(e, claims(iat=PAST - 900, exp=PAST)),
    "issued in the future": lambda e: sign(e, claims(iat=FUTURE, exp=FUTURE + 900)),
    "not yet valid (nbf)": lambda e: sign(e, claims(nbf=FUTURE)),
    "exp as a string": lambda e: sign(e, claims(exp=str(int(T0.timestamp()) + 900))),
    # audience and issuer
    "wrong aud": lambda e: sign(e, claims(aud="another-api")),
    "missing aud": lambda e: sign(e, claims(aud=None)),
    "aud list including ours": lambda e: sign(e, claims(aud=[AUDIENCE, "another-api"])),
    "wrong iss": lambda e: sign(e, claims(iss="https://evil.example")),
    "missing iss": lambda e: sign(e, claims(iss=None)),
    # required claims
    "missing exp": lambda e: sign(e, claims(exp=None)),
    "missing iat": lambda e: sign(e, claims(iat=None)),
    "missing sub": lambda e: sign(e, claims(sub=None)),
    "empty sub": lambda e: sign(e, claims(sub="")),
    "numeric sub": lambda e: sign(e, claims(sub=42)),
    "missing jti": lambda e: sign(e, claims(jti=None)),
    "missing token_type": lambda e: sign(e, claims(token_type=None)),
    "numeric sid": lambda e: sign(e, claims(sid=42)),
    "empty sid": lambda e: sign(e, claims(sid="")),
    # token type
    "refresh token used as access token": lambda e: sign(e, claims(token_type="refresh")),
    # size
    "oversized, validly signed": lambda e: sign(e, claims(pad="x" * DEFAULT_MAX_TOKEN_BYTES)),
    "oversized garbage": lambda e: "a" * (DEFAULT_MAX_TOKEN_BYTES + 1),
}


@pytest.mark.parametrize(("name", "build"), ATTACKS.items(), ids=ATTACKS.keys())
def test_attack_tokens_are_refused(env: Setup, name: str, build: Callable[[Setup], str]) -> None:
    with pytest.raises(InvalidToken) as refused:
        env.service.verify_access(build(env))
    # The public reason says "expired" for a genuine expired token and nothing more precise for the rest.
    assert refused.value.reason == ("expired" if name == "expired beyond the leeway" else "invalid token")


def test_the_signing_helper_makes_tokens_the_service_accepts(env: Setup) -> None:
    """The attack table is only meaningful if its unmodified tokens verify."""
    assert env.service.verify_access(sign(env, claims())).subject == "user-1"
    assert env.service.verify_access(sign(env, claims(nbf=int(T0.timestamp())))).subject == "user-1"


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_issue_and_verify_round_trip(algorithm: str) -> None:
    env = make(algorithm)
    service: TokenService = env.service
    token = service.issue_access("user-7", scope=["courses:read", "grades:write"])
    header = jwt.get_unverified_header(token)
    assert header == {"alg": algorithm, "typ": "at+jwt", "kid": env.ring.active.kid}

    got = service.verify_access(token)

    assert got.subject == "user-7"
    assert got.scope == ("courses:read", "grades:write")
    assert (got.issuer, got.audience, got.token_type) == (ISSUER, AUDIENCE, "access")
    assert (got.issued_at, got.expires_at) == (T0, T0 + TTL)
    assert uuid.UUID(got.token_id).version == 4
    assert service.verify_access(service.issue_access("user-7")).token_id != got.token_id


def test_a_resource_server_verifies_with_the_published_jwks(env: Setup) -> None:
    token = env.service.issue_access("user-1")
    [published] = env.service.jwks()["keys"]
    payload = jwt.decode(
        token,
        jwt.PyJWK(published).key,
        algorithms=[published["alg"]],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert payload["sub"] == "user-1"


def test_leeway_tolerates_small_clock_skew(env: Setup) -> None:
    token = env.service.issue_access("user-1")
    env.clock.advance(TTL + DEFAULT_LEEWAY - timedelta(seconds=1))
    assert env.service.verify_access(token).subject == "user-1"
    env.clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidToken, match="expired"):
        env.service.verify_access(token)
    issued = int((env.clock.now() + DEFAULT_LEEWAY).timestamp()) - 1  # a signer whose clock runs ahead
    ahead = sign(env, claims(iat=issued, exp=issued + 900))
    assert env.service.verify_access(ahead).subject == "user-1"


def test_rotation_keeps_old_tokens_valid_until_they_expire_then_drops_the_old_key(env: Setup) -> None:
    env.clock.advance(timedelta(minutes=5))
    old_key = env.ring.active
    signed_before = env.service.issue_access("user-1")  # expires at T0 + 20 min

    new_key = env.ring.rotate()
    signed_after = env.service.issue_access("user-2")

    assert new_key.kid != old_key.kid
    assert env.ring.active == new_key
    assert jwt.get_unverified_header(signed_after)["kid"] == new_key.kid
    assert {k["kid"] for k in env.service.jwks()["keys"]} == {old_key.kid, new_key.kid}

    env.clock.advance(TTL)  # T0 + 20 min: the last token of the old key expires now, within the leeway
    assert env.service.verify_access(signed_before).subject == "user-1"
    assert env.service.verify_access(signed_after).subject == "user-2"

    env.clock.advance(DEFAULT_LEEWAY)  # every token of the old key has expired: the key goes
    with pytest.raises(InvalidToken):
        env.service.verify_access(signed_before)
    assert env.ring.verification_key(old_key.kid) is None
    assert [k["kid"] for k in env.service.jwks()["keys"]] == [new_key.kid]
    assert [k.kid for k in env.ring.prune()] == [old_key.kid]
    assert [k.kid for k in env.ring.keys] == [new_key.kid]
    assert env.service.verify_access(env.service.issue_access("user-3")).subject == "user-3"


def test_rotating_twice_keeps_both_retired_keys_while_their_tokens_live(env: Setup) -> None:
    first = env.service.issue_access("user-1")
    env.ring.rotate()
    second = env.service.issue_access("user-2")
    env.ring.rotate()
    assert len(env.service.jwks()["keys"]) == 3
    assert [env.service.verify_access(t).subject for t in (first, second)] == ["user-1", "user-2"]


def test_a_foreign_key_reusing_our_kid_is_refused(env: Setup) -> None:
    with pytest.raises(InvalidToken, match="invalid token"):
        env.service.verify_access(foreign(env, "EdDSA"))


def test_jwks_holds_public_keys_only() -> None:
    for algorithm in ("EdDSA", "ES256"):
        env = make(algorithm)
        env.ring.rotate()
        keys = env.service.jwks()["keys"]
        assert len(keys) == 2
        for key in keys:
            assert "d" not in key
            assert set(key) <= {"kty", "crv", "x", "y", "kid", "alg", "use"}
            assert (key["alg"], key["use"]) == (algorithm, "sig")
        assert "PRIVATE" not in json.dumps(keys)


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_signing_keys_survive_pem_and_jwk_round_trips(algorithm: str) -> None:
    key = SigningKey.generate(algorithm, now=T0).retired(T0 + TTL)
    from_pem = SigningKey.from_pem(key.kid, key.private_pem(), created_at=key.created_at, retired_at=key.retired_at)
    from_jwk = SigningKey.from_private_jwk(key.private_jwk(), created_at=key.created_at, retired_at=key.retired_at)
    for loaded in (from_pem, from_jwk):
        assert loaded.public_jwk() == key.public_jwk()
        assert (loaded.kid, loaded.retired_at) == (key.kid, key.retired_at)
    assert "d" in key.private_jwk()
    assert "BEGIN" not in repr(key)


def test_a_ring_restored_from_storage_verifies_tokens_of_the_original(env: Setup) -> None:
    token = env.service.issue_access("user-1")
    stored = [(k.kid, k.private_pem(), k.created_at, k.retired_at) for k in env.ring.keys]
    keys = [SigningKey.from_pem(kid, pem, created_at=c, retired_at=r) for kid, pem, c, r in stored]
    restored = KeyRing(keys, retention=env.ring.retention, clock=env.clock)
    service = JwtTokenService(restored, issuer=ISSUER, audience=AUDIENCE, access_ttl=TTL, clock=env.clock)
    assert service.verify_access(token).subject == "user-1"


def test_misconfiguration_is_refused_at_construction() -> None:
    clock = FixedClock(T0)
    short = KeyRing.generate(retention=TTL, clock=clock)
    with pytest.raises(ValueError, match="tokens would die with their key"):
        JwtTokenService(short, issuer=ISSUER, audience=AUDIENCE, access_ttl=TTL, clock=clock)
    two_active = [SigningKey.generate(now=T0), SigningKey.generate(now=T0)]
    with pytest.raises(ValueError, match="exactly one active key"):
        KeyRing(two_active, retention=TTL)
    with pytest.raises(ValueError, match="same algorithm"):
        KeyRing([SigningKey.generate("ES256", now=T0), SigningKey.generate(now=T0).retired(T0)], retention=TTL)
    with pytest.raises(ValueError, match="unsupported"):
        SigningKey("k", ec.generate_private_key(ec.SECP384R1()), T0)
    with pytest.raises(ValueError, match="spaces"):
        make().service.issue_access("user-1", scope=["two words"])


def test_the_size_limit_alone_refuses_the_oversized_signed_token(env: Setup) -> None:
    """Proof that the attack table's oversized token is refused for its size, not for another flaw."""
    token = sign(env, claims(pad="x" * DEFAULT_MAX_TOKEN_BYTES))
    roomy = JwtTokenService(
        env.ring, issuer=ISSUER, audience=AUDIENCE, access_ttl=TTL, max_token_bytes=len(token), clock=env.clock
    )
    assert roomy.verify_access(token).subject == "user-1"


def test_the_session_id_travels_as_the_sid_claim(env: Setup) -> None:
    service: TokenService = env.service
    token = service.issue_access("user-1", scope=["courses:read"], session_id="6f1c0c8e-session")
    assert jwt.decode(token, options={"verify_signature": False})["sid"] == "6f1c0c8e-session"
    got = service.verify_access(token)
    assert (got.subject, got.session_id, got.scope) == ("user-1", "6f1c0c8e-session", ("courses:read",))


def test_a_token_without_a_session_has_no_sid(env: Setup) -> None:
    token = env.service.issue_access("user-1")
    assert "sid" not in jwt.decode(token, options={"verify_signature": False})
    assert env.service.verify_access(token).session_id is None
    assert env.service.verify_access(sign(env, claims(sid="from-elsewhere"))).session_id == "from-elsewhere"


def test_an_empty_session_id_is_refused_at_issue(env: Setup) -> None:
    with pytest.raises(ValueError, match="session id"):
        env.service.issue_access("user-1", session_id="")


def test_only_a_kid_the_ring_never_held_is_an_unknown_kid(env: Setup) -> None:
    """``UnknownKeyId`` is what makes a shared ring reload: a missing kid or a key past its window is not one."""
    with pytest.raises(UnknownKeyId) as unknown:
        env.service.verify_access(sign(env, claims(), kid="made-elsewhere"))
    assert (unknown.value.kid, unknown.value.reason) == ("made-elsewhere", "invalid token")
    with pytest.raises(InvalidToken) as missing:
        env.service.verify_access(sign(env, claims(), kid=None))
    assert not isinstance(missing.value, UnknownKeyId)

    old = env.ring.active
    env.ring.rotate()
    env.clock.advance(env.ring.retention)  # the old key is held (not pruned) but past its window
    assert env.ring.holds(old.kid)
    now = int(env.clock.now().timestamp())
    late = jwt.encode(
        claims(iat=now, exp=now + 60), old.private_key, algorithm="EdDSA", headers={"kid": old.kid, "typ": "at+jwt"}
    )
    with pytest.raises(InvalidToken) as retired:
        env.service.verify_access(late)
    assert not isinstance(retired.value, UnknownKeyId)


def test_replacing_the_keys_of_a_ring_swaps_them_whole(env: Setup) -> None:
    token = env.service.issue_access("user-1")
    fresh = SigningKey.generate(now=T0)
    env.ring.replace_keys([env.ring.active.retired(T0), fresh])
    assert env.ring.active == fresh
    assert env.service.verify_access(token).subject == "user-1"
    assert jwt.get_unverified_header(env.service.issue_access("user-2"))["kid"] == fresh.kid
    with pytest.raises(ValueError, match="exactly one active key"):
        env.ring.replace_keys([fresh.retired(T0)])
    assert env.ring.active == fresh  # a refused replacement leaves the ring as it was


def test_a_token_verified_once_is_still_checked_against_the_clock_and_its_key_on_every_use(env: Setup) -> None:
    """The per-process memory of verified tokens skips only the signature work: expiry, a retired key and a
    replaced ring still refuse a token that verified before, and a tampered copy is verified in full."""
    token = env.service.issue_access("user-1")
    assert env.service.verify_access(token).subject == "user-1"
    assert env.service.verify_access(token).subject == "user-1"  # from memory
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidToken):
        env.service.verify_access(f"{head}.{body}.{flipped}")

    env.clock.advance(TTL + DEFAULT_LEEWAY)
    with pytest.raises(InvalidToken, match="expired"):
        env.service.verify_access(token)

    fresh = make()
    other = fresh.service.issue_access("user-2")
    assert fresh.service.verify_access(other).subject == "user-2"
    fresh.ring.replace_keys([SigningKey.generate(now=T0)])  # the key that signed it is gone
    with pytest.raises(InvalidToken):
        fresh.service.verify_access(other)


def test_the_memory_of_verified_tokens_is_bounded(env: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    from elearning_adapters.security import tokens as module

    monkeypatch.setattr(module, "VERIFIED_TOKENS_KEPT", 3)
    issued = [env.service.issue_access(f"user-{n}") for n in range(5)]
    assert [env.service.verify_access(t).subject for t in issued] == [f"user-{n}" for n in range(5)]
    assert list(env.service._verified) == issued[2:]
