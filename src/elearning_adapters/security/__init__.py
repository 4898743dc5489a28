"""Security adapters: password hashing, the platform's token service on the shared signing keys."""

from elearning_adapters.security.passwords import Argon2PasswordHasher
from elearning_adapters.security.platform_tokens import PlatformTokens

__all__ = ["Argon2PasswordHasher", "PlatformTokens"]
