"""Security adapters: password hashing."""

from elearning_adapters.security.passwords import Argon2PasswordHasher

__all__ = ["Argon2PasswordHasher"]
