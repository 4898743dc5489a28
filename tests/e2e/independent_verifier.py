"""An independent verifier of the platform's certificates, as a third party would write one.

It shares nothing with the platform's signing code: joserfc (not PyJWT) checks the signatures,
the keys come only from the published JWKS, and the revocation bit from the published status
list, decoded here with the standard library (not with ``elearning_core``), all over HTTP.
It returns None for a valid credential, else a one-line reason.
"""

from __future__ import annotations

import base64
import gzip
import time
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

MIN_BITS = 131_072


async def verify_independently(client: Any, token: str, *, now: float | None = None) -> str | None:
    jwks = (await client.get("/api/v1/credentials/jwks.json")).json()
    keys = KeySet.import_key_set(jwks)
    try:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        return f"signature: {type(exc).__name__}"
    header, claims = decoded.header, decoded.claims
    if header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT" or set(header) - {"alg", "kid", "typ"}:
        return f"header: {header}"
    registry = JWTClaimsRegistry(
        now=int(now if now is not None else time.time()),
        iss={"essential": True, "value": claims.get("issuer", {}).get("id")},
        sub={"essential": True, "value": claims.get("credentialSubject", {}).get("id")},
        jti={"essential": True, "value": claims.get("id")},
        nbf={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        return f"claims: {type(exc).__name__}"
    if "OpenBadgeCredential" not in claims.get("type", []):
        return "not an OpenBadgeCredential"
    status = claims["credentialStatus"]
    if status.get("type") != "BitstringStatusListEntry" or status.get("statusPurpose") != "revocation":
        return "no revocation status entry"
    listed = await client.get(urlsplit(status["statusListCredential"]).path)
    if listed.status_code != 200:
        return f"status list: HTTP {listed.status_code}"
    try:
        status_list = jwt.decode(listed.text, keys, algorithms=["RS256"]).claims
    except (JoseError, ValueError) as exc:
        return f"status list signature: {type(exc).__name__}"
    if "BitstringStatusListCredential" not in status_list.get("type", []):
        return "the status list is not a BitstringStatusListCredential"
    encoded: str = status_list["credentialSubject"]["encodedList"]
    encoded = encoded[1:] if encoded.startswith("u") else encoded
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    if len(bits) * 8 < MIN_BITS:
        return "the status list is shorter than the minimum"
    index = int(status["statusListIndex"])
    if bits[index // 8] & (0x80 >> (index % 8)):
        return "revoked"
    return None
