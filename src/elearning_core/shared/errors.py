"""The error hierarchy every use case raises.

Runtimes map these onto their own vocabulary in one place each (HTTP problem
details, a CLI exit code), so the core never knows about status codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field: a dotted path and what is wrong with it."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""

    code: str = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, kind: str, key: Any) -> None:
        super().__init__(f"{kind} {key} was not found")
        self.kind = kind
        self.key = key


class Conflict(DomainError):
    """The request clashes with the current state (a taken slug, a stale version, a rule)."""

    code = "conflict"


class ValidationFailed(DomainError):
    code = "validation_failed"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = list(errors or [])


class PermissionDenied(DomainError):
    code = "permission_denied"

    def __init__(self, action: str, reason: str = "") -> None:
        super().__init__(f"not allowed to {action}" + (f": {reason}" if reason else ""))
        self.action = action
        self.reason = reason


class EmailVerificationRequired(PermissionDenied):
    """The account must confirm its email address before it may do this (enroll on its own, post).

    A refusal about the caller, not about the resource: the same request succeeds once they verify.
    """

    code = "email_verification_required"


class Unauthenticated(DomainError):
    """Credentials were missing, wrong or expired. The detail never says which part was wrong."""

    code = "unauthenticated"


class TooManyAttempts(DomainError):
    """A throttle refused the attempt; ``retry_after_seconds`` says when the next one may succeed."""

    code = "too_many_attempts"

    def __init__(self, detail: str, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class ContentLocked(PermissionDenied):
    """Content the caller may know exists but may not open yet; ``reason`` says why.

    ``reason`` is ``enrollment-required``, ``not-yet-released``, ``locked-by-requirement`` or, for a paid
    course, the entitlement check's reason (``payment-required``, ``refunded``, ``audit-track``...) (the problem
    type's last part); ``available_at`` says when released content opens for this caller, and
    ``unmet_requirements`` what a locked lesson waits for (conditional release). A refusal like any
    ``PermissionDenied``, but always a 403, signed in or not: signing in alone would not open it.
    """

    code = "content_locked"

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        available_at: datetime | None = None,
        unmet_requirements: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__("open this content", detail)
        self.detail = detail
        self.reason = reason
        self.available_at = available_at
        self.unmet_requirements = unmet_requirements


class DeadlineExceeded(DomainError):
    """A dependency did not answer within the budget of this kind of work, and the work was abandoned.

    ``what`` names what ran out (``statement-timeout``, ``lock-timeout``, ``pool-timeout``): the last part of
    the problem ``type``. Whatever the unit of work had written is rolled back; the same request may succeed
    when retried after ``retry_after_seconds``.
    """

    code = "deadline_exceeded"

    def __init__(self, what: str, detail: str, *, retry_after_seconds: float = 1.0) -> None:
        super().__init__(detail)
        self.what = what
        self.retry_after_seconds = retry_after_seconds
