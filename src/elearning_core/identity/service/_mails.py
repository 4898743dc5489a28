"""The mails identity sends: each names the person, says why it came, and gives a link a person can click.

Every link opens a page of the API itself (``public_url`` + one of the paths
below): a browser gets a small HTML page (the outcome, or the reset form), an
API client that asks for JSON gets JSON. A front end of its own can take the
token from the link's query. Notices (mails that ask nothing) carry no secret.
"""

from __future__ import annotations

from datetime import timedelta

from elearning_core.identity.model import User
from elearning_core.identity.ports import MailMessage

VERIFY_EMAIL_PATH = "/api/v1/auth/verify-email"
RESET_PASSWORD_PATH = "/api/v1/auth/password-reset/confirm"
CONFIRM_EMAIL_CHANGE_PATH = "/api/v1/auth/email-change/confirm"


def _link(public_url: str, path: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{path}?token={token}"


def _minutes(ttl: timedelta) -> str:
    minutes = int(ttl.total_seconds() // 60)
    return f"{minutes // 60} hours" if minutes >= 120 and minutes % 60 == 0 else f"{minutes} minutes"


def verification_mail(user: User, token: str, public_url: str) -> MailMessage:
    return MailMessage(
        to=user.email,
        subject="Confirm your email address",
        text=f"Hello {user.display_name},\n\nconfirm your email address by opening this link:\n\n"
        f"{_link(public_url, VERIFY_EMAIL_PATH, token)}\n\n"
        "If you did not create an account, ignore this message.\n",
    )


def already_registered(user: User, public_url: str) -> MailMessage:
    return MailMessage(
        to=user.email,
        subject="You already have an account",
        text=f"Hello {user.display_name},\n\nsomeone (maybe you) tried to create an account with this email "
        f"address, which already has one. To sign in, go to {public_url.rstrip('/')}; if you forgot the "
        "password, ask for a reset there.\n",
    )


def reset_mail(user: User, token: str, public_url: str, ttl: timedelta) -> MailMessage:
    return MailMessage(
        to=user.email,
        subject="Reset your password",
        text=f"Hello {user.display_name},\n\nopen this link within {_minutes(ttl)} to choose a new password:\n\n"
        f"{_link(public_url, RESET_PASSWORD_PATH, token)}\n\n"
        "If you did not ask for this, ignore this message; your password is unchanged.\n",
    )


def email_change_mail(user: User, new_email: str, token: str, public_url: str, ttl: timedelta) -> MailMessage:
    """To the NEW address: opening the link is what moves the account there."""
    return MailMessage(
        to=new_email,
        subject="Confirm your new email address",
        text=f"Hello {user.display_name},\n\nopen this link within {_minutes(ttl)} to make {new_email} the email "
        f"address of your account:\n\n{_link(public_url, CONFIRM_EMAIL_CHANGE_PATH, token)}\n\n"
        "Until then your account keeps its current address. If you did not ask for this, ignore this message.\n",
    )


def email_change_notice(
    old_email: str, display_name: str, new_email: str, public_url: str, *, by_admin: bool = False
) -> MailMessage:
    """To the OLD address, with no link that acts: the owner learns of the change while they can still react."""
    if by_admin:
        what = f"an administrator changed the email address of your account to {new_email}."
    else:
        what = (
            f"someone signed in to your account asked to change its email address to {new_email}. The change "
            "happens only when the link mailed to that address is opened."
        )
    return MailMessage(
        to=old_email,
        subject="Your account's email address is changing",
        text=f"Hello {display_name},\n\n{what}\n\nIf this was not you, sign in at {public_url.rstrip('/')} "
        "and change your password (that ends every session), or contact the platform's administrators.\n",
    )
