"""Account use cases: sign-up, verification, password reset and change, profiles, deletion, status.

Answers that could tell an outsider whether an email has an account (register,
request a reset) are the same either way: the owner of the address learns by
mail, nobody else learns anything.
"""

from __future__ import annotations

import uuid

from elearning_core.auth.model import Permission, ResourceRef, ScopeKind
from elearning_core.identity.commands import (
    ChangePassword,
    ConfirmPasswordReset,
    CreateUser,
    RegisterUser,
    UpdateProfile,
)
from elearning_core.identity.model import (
    TokenPurpose,
    User,
    UserStatus,
    check_display_name,
    check_email,
    check_locale,
    check_password,
    check_time_zone,
    email_key,
)
from elearning_core.identity.ports import UserListFilter
from elearning_core.identity.service._base import (
    INVALID_LINK,
    _IdentityBase,
    _self_or,
    _user_of,
    throttle,
    token_digest,
)
from elearning_core.identity.service._mails import already_registered, reset_mail, verification_mail
from elearning_core.shared.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Principal, require


class _Accounts(_IdentityBase):
    async def register(self, cmd: RegisterUser) -> None:
        """Self-service sign-up. The same answer whether or not the email already has an account."""
        if not self._config.registration_open:
            raise PermissionDenied("register", "self-service registration is closed on this platform")
        email = check_email(cmd.email)
        check_password(cmd.password, email=email)
        # Checked before the lookup: an invalid field refused for a new email only would tell a taken one apart.
        check_display_name(cmd.display_name)
        check_locale(cmd.locale)
        check_time_zone(cmd.time_zone)
        password_hash = await self._hash(cmd.password)
        now = self._clock.now()
        async with self._uow() as uow:
            existing = await uow.users.get_by_email(email)
            if existing is not None:
                self._mail.send_later(already_registered(existing, self._config.public_url))
                return
            user = User.register(
                email=email,
                display_name=cmd.display_name,
                at=now,
                password_hash=password_hash,
                locale=cmd.locale,
                time_zone=cmd.time_zone,
            )
            uow.users.add(user)
            token = await self._new_token(uow, user.id, TokenPurpose.VERIFY_EMAIL)
            await uow.commit()
        self._mail.send_later(verification_mail(user, token, self._config.public_url))

    async def create_user(self, actor: Principal, cmd: CreateUser) -> User:
        """An administrator's account creation: verified at once; a conflict names a taken email."""
        require(self._policy, actor, Permission.USER_MANAGE)
        email = check_email(cmd.email)
        password_hash = None
        if cmd.password is not None:
            check_password(cmd.password, email=email)
            password_hash = await self._hash(cmd.password)
        async with self._uow() as uow:
            if await uow.users.email_taken(email):
                raise Conflict("an account with this email already exists")
            user = User.register(
                email=email,
                display_name=cmd.display_name,
                at=self._clock.now(),
                password_hash=password_hash,
                locale=cmd.locale,
                time_zone=cmd.time_zone,
                source="admin",
                email_verified=True,
            )
            uow.users.add(user)
            await uow.commit()
        return user

    async def verify_email(self, token: str) -> User:
        async with self._uow() as uow:
            user_id = await uow.one_time_tokens.consume(
                token_digest(token), TokenPurpose.VERIFY_EMAIL, self._clock.now()
            )
            user = await uow.users.get(user_id) if user_id is not None else None
            if user is None or user.status is UserStatus.DELETED:
                raise ValidationFailed(INVALID_LINK, [FieldError("token", INVALID_LINK)])
            user.confirm_email(self._clock.now())
            await uow.commit()
        return user

    async def resend_verification(self, actor: Principal, *, again: bool = False) -> bool:
        """Mail a new verification link to the caller; False when the email is verified already, unless
        ``again``: a verified address confirmed anew (mail to it bounced and is held back until it is)."""
        user_id = _user_of(actor)
        await throttle(self._limiter, f"verify:user:{user_id}", self._config.reset_per_account, "verification mails")
        async with self._uow() as uow:
            user = await self._active_user(uow, user_id)
            if user.email_verified and not again:
                return False
            token = await self._new_token(uow, user.id, TokenPurpose.VERIFY_EMAIL)
            await uow.commit()
        self._mail.send_later(verification_mail(user, token, self._config.public_url))
        return True

    async def request_password_reset(self, email: str, *, client_ip: str) -> None:
        """Mail a reset link if the email has an active account; the same answer and time otherwise."""
        address = check_email(email)
        await throttle(self._limiter, f"reset:ip:{client_ip}", self._config.reset_per_ip, "password reset requests")
        await throttle(
            self._limiter,
            f"reset:account:{email_key(address)}",
            self._config.reset_per_account,
            "password reset requests for this account",
        )
        async with self._uow() as uow:
            user = await uow.users.get_by_email(address)
            if user is None or not user.is_active:
                return
            token = await self._new_token(uow, user.id, TokenPurpose.PASSWORD_RESET)
            await uow.commit()
        self._mail.send_later(reset_mail(user, token, self._config.public_url, self._config.reset_ttl))

    async def confirm_password_reset(self, cmd: ConfirmPasswordReset) -> User:
        """Set a new password with a reset link; ends every session and every other reset link."""
        now = self._clock.now()
        async with self._uow() as uow:
            user_id = await uow.one_time_tokens.consume(token_digest(cmd.token), TokenPurpose.PASSWORD_RESET, now)
            user = await uow.users.get(user_id) if user_id is not None else None
            if user is None or not user.is_active:
                raise ValidationFailed(INVALID_LINK, [FieldError("token", INVALID_LINK)])
            check_password(cmd.new_password, email=user.email)
            user.set_password_hash(await self._hash(cmd.new_password), now, reason="reset")
            # Whoever asked for the reset proved control of the mailbox: the email is verified.
            user.verify_email(now)
            await uow.one_time_tokens.revoke_all(user.id, TokenPurpose.PASSWORD_RESET, now)
            await uow.sessions.revoke_all_of(user.id, now, "password reset")
            await uow.commit()
        return user

    async def change_password(self, actor: Principal, cmd: ChangePassword) -> None:
        """Change the caller's password; every session of the account ends, this one included (sign in again)."""
        user_id = _user_of(actor)
        async with self._uow() as uow:
            user = await self._active_user(uow, user_id)
            if user.password_hash is None or not await self._hasher.verify(user.password_hash, cmd.current_password):
                raise ValidationFailed(
                    "the current password is not correct",
                    [FieldError("current_password", "is not correct")],
                )
            check_password(cmd.new_password, email=user.email)
            now = self._clock.now()
            user.set_password_hash(await self._hash(cmd.new_password), now, reason="change")
            await uow.sessions.revoke_all_of(user.id, now, "password changed")
            await uow.commit()

    async def get_user(self, actor: Principal, user_id: uuid.UUID) -> User:
        if not _self_or(actor, user_id):
            require(self._policy, actor, Permission.USER_MANAGE)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    async def update_profile(self, actor: Principal, user_id: uuid.UUID, cmd: UpdateProfile) -> User:
        if not _self_or(actor, user_id):
            require(self._policy, actor, Permission.USER_MANAGE)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("user", user_id)
            user.update_profile(self._clock.now(), **cmd.changes())
            await uow.commit()
        return user

    async def delete_account(self, actor: Principal, user_id: uuid.UUID, *, password: str | None = None) -> None:
        """Anonymise the account. Its owner confirms with the password (when it has one); an admin need not."""
        own = _self_or(actor, user_id)
        if not own:
            require(self._policy, actor, Permission.USER_MANAGE)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            if (
                own
                and user.password_hash is not None
                and (password is None or not await self._hasher.verify(user.password_hash, password))
            ):
                raise ValidationFailed(
                    "confirm the deletion with the account's password", [FieldError("password", "is not correct")]
                )
            now = self._clock.now()
            user.anonymise(now)
            await uow.sessions.revoke_all_of(user.id, now, "account deleted")
            await uow.external_identities.unlink_all(user.id)
            for purpose in TokenPurpose:
                await uow.one_time_tokens.revoke_all(user.id, purpose, now)
            for membership in await uow.organizations.organizations_of(user.id):
                organization = await uow.organizations.get(membership.id)
                if organization is not None and await uow.organizations.remove_member(organization.id, user.id):
                    organization.member_removed(user.id, now)
            await uow.commit()

    async def set_status(self, actor: Principal, user_id: uuid.UUID, *, suspended: bool, reason: str = "") -> User:
        require(self._policy, actor, Permission.USER_MANAGE)
        if _self_or(actor, user_id) and suspended:
            raise Conflict("you cannot suspend your own account")
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            now = self._clock.now()
            if suspended:
                user.suspend(now, reason or "suspended by an administrator")
                await uow.sessions.revoke_all_of(user.id, now, "account suspended")
            else:
                user.reactivate(now)
            await uow.commit()
        return user

    async def list_users(
        self, actor: Principal, where: UserListFilter, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[User]:
        """Accounts in id order (oldest first); ``cursor`` is the previous page's ``next_cursor``."""
        scope = ResourceRef(ScopeKind.ORGANIZATION, where.organization_id) if where.organization_id else None
        require(self._policy, actor, Permission.USER_MANAGE, scope)
        limit = check_page_size(limit)
        listing = scope_of("users", where.status, where.text, where.organization_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._users.list_users(where, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda u: [str(u.id)])
