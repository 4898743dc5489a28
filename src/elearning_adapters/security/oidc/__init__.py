"""Sign-in through trusted external OpenID Connect providers (authorization code + PKCE).

``HttpOidcProvider`` implements the core's ``OidcProvider`` port with httpx and
PyJWT. The choices that make it safe, each tested in
``tests/integration/test_oidc_provider.py`` (against a real provider process,
and a scripted one for the answers a real provider would not give):

- the discovery document is loaded lazily, once, and refused unless its
  ``issuer`` is exactly the configured one (OpenID Connect Discovery 4.3), so a
  document served from the right host cannot hand us another issuer's tokens;
- the ID token is verified the way OpenID Connect Core 3.1.3.7 asks: signature
  by a key from the provider's JWKS, ``iss`` exact, ``aud`` naming our client
  (several audiences only with ``azp`` = our client), ``exp``/``iat`` against
  an injected clock with a small leeway, and ``nonce`` equal to the one the
  sign-in started with; PKCE (S256) binds the code to the browser that started;
- only asymmetric algorithms from the configured allowlist verify (never
  ``none`` or HMAC); the key is looked up in the provider's JWKS by ``kid``,
  never taken from the token: headers that carry or point at a key (``jku``,
  ``x5u``, ``jwk``, ``x5c``) and every header member we do not understand
  (``crit``, ``b64``, ...) are refused before any lookup; RSA keys under 2048
  bits are refused;
- a bearer token presented to the API must name the configured ``audience``,
  is capped at 8 KiB before anything is parsed, and must not be an ID token
  (``at_hash``/``c_hash``/``s_hash`` only appear in ID tokens): an ID token is
  meant for the client that asked for it and travels in places an access token
  does not (``id_token_hint`` in logout URLs), so it is never a credential;
- every HTTP call has a bounded total time and a bounded response size, and
  follows no redirects.

``JwksCache`` keeps the keys by ``kid`` for ``ttl``; an unknown ``kid`` makes it
refetch (keys rotate at the provider), but at most once per
``min_refresh_interval``, and concurrent refreshes share one fetch, so a flood
of tokens with random kids cannot make us hammer the provider.

Errors: a failed sign-in raises ``ExternalSignInError`` with a short message safe
to show the user; a refused bearer token raises ``InvalidToken``. The precise
cause goes to the log (never a token, a code or a secret).
"""

from elearning_adapters.security.oidc._discovery import ProviderMetadata
from elearning_adapters.security.oidc._jwks import JwksCache, JwksUnavailable
from elearning_adapters.security.oidc._pkce import code_challenge, new_code_verifier, new_nonce, new_state
from elearning_adapters.security.oidc._provider import (
    MISCONFIGURED,
    REFUSED,
    UNAVAILABLE,
    UNVERIFIED,
    HttpOidcProvider,
)
from elearning_adapters.security.oidc_config import (
    DEFAULT_ALGORITHMS,
    DEFAULT_SCOPES,
    SIGNATURE_ALGORITHMS,
    OidcClaims,
    OidcProviderConfig,
)

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_SCOPES",
    "MISCONFIGURED",
    "REFUSED",
    "SIGNATURE_ALGORITHMS",
    "UNAVAILABLE",
    "UNVERIFIED",
    "HttpOidcProvider",
    "JwksCache",
    "JwksUnavailable",
    "OidcClaims",
    "OidcProviderConfig",
    "ProviderMetadata",
    "code_challenge",
    "new_code_verifier",
    "new_nonce",
    "new_state",
]
