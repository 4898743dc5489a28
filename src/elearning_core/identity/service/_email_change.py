"""Changing an account's email address.

The address moves only when the link mailed to the NEW address is opened
(proof the user reads that mailbox), and a notice goes to the OLD one, so its
owner learns of a change they did not ask for while they can still act. A
password account confirms the request with its current password, so a
stolen session alone cannot move the account (and with it the password reset
channel) elsewhere. The newest request wins: asking again kills the earlier
links. Confirming also kills every link mailed to the old address
(verification, reset). The new address must be free when asked for and
again when confirmed.

Sessions are kept: the password, the credential, is unchanged, and the
request already required it; a user who did not ask for the change is told
by the notice to change the password, which ends every session.
"""

from __future__ import annotations

import uuid

from elearning_core.auth.model import Permission
from elearning_core.identity.commands import ChangeEmail
from elearning_core.identity.model import TokenPurpose, User, UserStatus, check_email, email_key
from elearning_core.identity.service._base import INVALID_LINK, _IdentityBase, _user_of, throttle, token_digest
from elearning_core.identity.service._mails import email_change_mail, email_change_notice
from elearning_core.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from elearning_core.shared.ports import Principal, require

TAKEN = "another account uses this email address"
LINKS_OF_THE_OLD_ADDRESS = (TokenPurpose.VERIFY_EMAIL, TokenPurpose.PASSWORD_RESET, TokenPurpose.EMAIL_CHANGE)


class _EmailChange(_IdentityBase):
    async def request_email_change(self, actor: Principal, cmd: ChangeEmail) -> str:
        """Mail a confirmation link to the new address and a notice to the current one; the new address."""
        user_id = _user_of(actor)
        address = _new_address(cmd.new_email)
        # Throttled before anything is checked: the answer says whether an address is taken, so probing is bounded.
        await throttle(
            self._limiter, f"email-change:user:{user_id}", self._config.reset_per_account, "email change requests"
        )
        async with self._uow() as uow:
            user = await self._active_user(uow, user_id)
            if user.password_hash is not None and (
                cmd.current_password is None or not await self._hasher.verify(user.password_hash, cmd.current_password)
            ):
                raise ValidationFailed(
                    "the current password is not correct", [FieldError("current_password", "is not correct")]
                )
            if email_key(address) == user.email_key:
                raise ValidationFailed(
                    "this already is the account's email address", [FieldError("new_email", "is the current address")]
                )
            if await uow.users.email_taken(address):
                raise Conflict(TAKEN)
            now = self._clock.now()
            await uow.one_time_tokens.revoke_all(user.id, TokenPurpose.EMAIL_CHANGE, now)
            token = await self._new_token(uow, user.id, TokenPurpose.EMAIL_CHANGE, new_email=address)
            user.email_change_requested(now)
            await uow.commit()
        url = self._config.public_url
        self._mail.send_later(email_change_mail(user, address, token, url, self._config.email_change_ttl))
        self._mail.send_later(email_change_notice(user.email, user.display_name, address, url))
        return address

    async def confirm_email_change(self, token: str) -> User:
        """Move the account to the address the mailed link confirms (single use, expiring)."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.one_time_tokens.consume_email_change(token_digest(token), now)
            user = await uow.users.get(found[0]) if found is not None else None
            if found is None or user is None or not user.is_active:
                raise ValidationFailed(INVALID_LINK, [FieldError("token", INVALID_LINK)])
            address = found[1]
            if email_key(address) != user.email_key and await uow.users.email_taken(address):
                raise Conflict(f"{TAKEN} now (it was free when the change was asked for); ask again with another")
            user.change_email(address, now, by="user")
            for purpose in LINKS_OF_THE_OLD_ADDRESS:
                await uow.one_time_tokens.revoke_all(user.id, purpose, now)
            await uow.commit()
        return user

    async def set_email(self, actor: Principal, user_id: uuid.UUID, email: str) -> User:
        """An administrator moves an account to another address at once (verified: they vouch for it);
        the old address gets a notice."""
        require(self._policy, actor, Permission.USER_MANAGE)
        address = check_email(email)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            old_email = user.email
            if email_key(address) != user.email_key and await uow.users.email_taken(address):
                raise Conflict(TAKEN)
            user.change_email(address, now, by="admin")
            for purpose in LINKS_OF_THE_OLD_ADDRESS:
                await uow.one_time_tokens.revoke_all(user.id, purpose, now)
            await uow.commit()
        if email_key(old_email) != email_key(address):
            notice = email_change_notice(old_email, user.display_name, address, self._config.public_url, by_admin=True)
            self._mail.send_later(notice)
        return user


def _new_address(value: str) -> str:
    try:
        return check_email(value)
    except ValidationFailed as exc:
        errors = [FieldError("new_email", e.message) for e in exc.errors]
        raise ValidationFailed(exc.detail.replace("email", "new_email", 1), errors) from None
