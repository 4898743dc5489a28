"""Inputs of the identity use cases.

Every command forbids unknown fields: a registration that sends ``role`` or
``status`` is refused outright rather than silently stripped, so a client
probing for mass assignment learns that it does not work.
"""

from __future__ import annotations

import uuid

from pydantic import ConfigDict, Field

from elearning_core.shared.inputs import InputModel


class _Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=4096)


class RegisterUser(_Command):
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)
    display_name: str = Field(max_length=100)
    locale: str = Field(default="en", max_length=35)
    time_zone: str = Field(default="UTC", max_length=64)


class CreateUser(_Command):
    """An administrator creates an account (verified email; a password, or none for external sign-in only)."""

    email: str = Field(max_length=254)
    display_name: str = Field(max_length=100)
    password: str | None = Field(default=None, max_length=256)
    locale: str = Field(default="en", max_length=35)
    time_zone: str = Field(default="UTC", max_length=64)


class UpdateProfile(_Command):
    display_name: str | None = Field(default=None, max_length=100)
    locale: str | None = Field(default=None, max_length=35)
    time_zone: str | None = Field(default=None, max_length=64)
    bio: str | None = Field(default=None, max_length=2000)

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class ChangePassword(_Command):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class ChangeEmail(_Command):
    """Move the caller's account to ``new_email``; a password account confirms with its current password."""

    new_email: str = Field(max_length=254, description="The new sign-in address (a link is mailed to it)")
    current_password: str | None = Field(
        default=None, max_length=256, description="Required when the account has a password"
    )


class ConfirmPasswordReset(_Command):
    token: str = Field(max_length=200)
    new_password: str = Field(max_length=256)


class CreateOrganization(_Command):
    slug: str = Field(max_length=63)
    name: str = Field(max_length=200)
    time_zone: str = Field(
        default="UTC", max_length=64, description="IANA time zone its reports count days in, e.g. Europe/Paris"
    )


class UpdateOrganization(_Command):
    """Rename an organization or move it to another time zone; a field left out is kept."""

    name: str | None = Field(default=None, max_length=200)
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA time zone its reports count days in, e.g. Europe/Paris"
    )


class RoleGrantSpec(_Command):
    role: str = Field(max_length=40)
    scope: str = Field(default="platform", max_length=20)
    scope_id: uuid.UUID | None = None
