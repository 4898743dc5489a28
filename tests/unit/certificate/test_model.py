"""The credential document, its VC-JWT claims, the status list's encoding and the templates."""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.certificate.model import (
    STATUS_LIST_SIZE,
    Credential,
    CredentialState,
    CredentialUrls,
    Issuer,
    StatusListError,
    SubjectKind,
    bit_at,
    credential_document,
    decode_status_list,
    encode_status_list,
    jwt_claims,
    render_template,
    template_problem,
)
from tests.fakes import T0

ISSUER = Issuer("https://learn.example/api/v1/credentials/issuer", "Learn", "https://learn.example")
URLS = CredentialUrls(
    "https://learn.example/api/v1/credentials/c1",
    "https://learn.example/api/v1/courses/x",
    "https://learn.example/api/v1/credentials/status/2",
)


def a_credential(**fields: object) -> Credential:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "kind": SubjectKind.COURSE,
        "subject_id": uuid.uuid4(),
        "learner_name": "Ada Lovelace",
        "subject_title": "Analytical Engines",
        "status_index": STATUS_LIST_SIZE + 7,
        "issued_at": T0,
        "valid_until": T0 + timedelta(days=30),
    }
    return Credential(**(values | fields))  # type: ignore[arg-type]


def test_the_document_is_an_open_badge_credential_with_a_status_entry() -> None:
    credential = a_credential()
    document = credential_document(credential, ISSUER, URLS)
    assert document["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert document["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert document["validFrom"] == "2026-01-05T09:30:00Z"
    assert document["validUntil"] == "2026-02-04T09:30:00Z"
    subject = document["credentialSubject"]
    assert subject["id"] == f"urn:uuid:{credential.user_id}"
    assert subject["type"] == ["AchievementSubject"]
    assert subject["identifier"][0]["identityHash"] == "Ada Lovelace"
    assert subject["achievement"]["name"] == "Analytical Engines"
    assert document["credentialStatus"] == {
        "id": f"{URLS.status_list}#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": URLS.status_list,
    }
    assert credential.list_number == 2


def test_the_claims_mirror_the_credential_as_open_badges_requires() -> None:
    document = credential_document(a_credential(), ISSUER, URLS)
    claims = jwt_claims(document)
    assert claims["iss"] == ISSUER.id
    assert claims["jti"] == URLS.credential
    assert claims["sub"] == document["credentialSubject"]["id"]
    assert claims["nbf"] == int(T0.timestamp())
    assert claims["exp"] == int((T0 + timedelta(days=30)).timestamp())
    assert "vc" not in claims  # VC data model 2.0: the credential is the payload
    without_expiry = jwt_claims(credential_document(a_credential(valid_until=None), ISSUER, URLS))
    assert "exp" not in without_expiry
    assert "validUntil" not in without_expiry


def test_state_follows_revocation_and_time() -> None:
    credential = a_credential()
    assert credential.state(T0) is CredentialState.VALID
    assert credential.state(T0 - timedelta(seconds=1)) is CredentialState.NOT_YET_VALID
    assert credential.state(T0 + timedelta(days=30)) is CredentialState.EXPIRED
    assert credential.revoke(T0, "fraud", None)
    assert not credential.revoke(T0, "again", None)
    assert credential.state(T0) is CredentialState.REVOKED
    assert [e.type for e in credential.pull_events()] == ["certificate.revoked.v1"]


@given(st.sets(st.integers(min_value=0, max_value=STATUS_LIST_SIZE - 1), max_size=50))
def test_the_status_list_round_trips_exactly_the_set_bits(positions: set[int]) -> None:
    encoded = encode_status_list(positions)
    assert encoded.startswith("u")
    bits = decode_status_list(encoded)
    assert len(bits) * 8 == STATUS_LIST_SIZE
    probes = positions | {0, STATUS_LIST_SIZE - 1, 12_345}
    assert {p for p in probes if bit_at(bits, p)} == positions


def test_the_encoding_is_gzip_then_base64url_with_the_first_bit_leftmost() -> None:
    encoded = encode_status_list({0, 9})
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert raw[:2] == bytes([0x80, 0x40])
    assert len(raw) == 16 * 1024


def test_a_bad_or_short_list_is_refused() -> None:
    with pytest.raises(StatusListError):
        decode_status_list("u!!!not-base64")
    short = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(100))).decode().rstrip("=")
    with pytest.raises(StatusListError, match="fewer than the minimum"):
        decode_status_list(short)
    with pytest.raises(ValueError, match="outside"):
        encode_status_list({STATUS_LIST_SIZE})


def test_templates_escape_values_and_name_bad_placeholders() -> None:
    body = render_template("<h1>$title</h1><p>$learner_name</p>", {"title": "A & B", "learner_name": "<script>"})
    assert body == "<h1>A &amp; B</h1><p>&lt;script&gt;</p>"
    assert template_problem("<p>$learner_name $$5</p>") is None
    assert "unknown placeholder $who" in (template_problem("<p>$who</p>") or "")
    assert "starts no placeholder" in (template_problem("<p>$ 5</p>") or "")
