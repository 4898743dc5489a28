"""Organizations, their members, and role grants (no escalation past the granter's own scope)."""

from __future__ import annotations

import uuid

from elearning_core.auth.model import Grant, Permission, ResourceRef, ScopeKind
from elearning_core.identity.commands import CreateOrganization, RoleGrantSpec, UpdateOrganization
from elearning_core.identity.model import Organization, User, UserStatus, make_grant
from elearning_core.identity.service._base import _decide, _IdentityBase, _org, _user_of
from elearning_core.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Principal, require


class _Organizations(_IdentityBase):
    async def create_organization(self, actor: Principal, cmd: CreateOrganization) -> Organization:
        require(self._policy, actor, Permission.ORGANIZATION_MANAGE)
        organization = Organization.create(slug=cmd.slug, name=cmd.name, time_zone=cmd.time_zone, at=self._clock.now())
        async with self._uow() as uow:
            if await uow.organizations.slug_taken(organization.slug):
                raise Conflict(f"the organization slug {organization.slug!r} is already taken")
            uow.organizations.add(organization)
            await uow.commit()
        return organization

    async def update_organization(
        self, actor: Principal, organization_id: uuid.UUID, cmd: UpdateOrganization
    ) -> Organization:
        """Rename an organization or change its time zone: its platform admins and its organization admins
        (``user.manage`` on it, as for its members); someone who may not see it gets a 404."""
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            if not self._policy.authorize(actor, Permission.USER_MANAGE, _org(organization_id)).allowed:
                mine = {o.id for o in await uow.organizations.organizations_of(_user_of(actor))}
                if organization_id not in mine:
                    raise NotFound("organization", organization_id)
                require(self._policy, actor, Permission.USER_MANAGE, _org(organization_id))
            if organization.update(self._clock.now(), name=cmd.name, time_zone=cmd.time_zone):
                await uow.commit()
        return organization

    async def list_organizations(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Organization]:
        """Every organization for platform admins; the caller's own ones for everyone else; in id
        order (oldest first)."""
        limit = check_page_size(limit)
        if self._policy.authorize(actor, Permission.ORGANIZATION_MANAGE).allowed:
            listing = scope_of("organizations")
            after = self._cursors.after(listing, cursor, uuid_key)
            async with self._uow() as uow:
                rows = await uow.organizations.list(after, limit + 1)
        else:
            user_id = _user_of(actor)
            listing = scope_of("organizations-of", user_id)
            after = self._cursors.after(listing, cursor, uuid_key)
            async with self._uow() as uow:
                mine = await uow.organizations.organizations_of(user_id)  # a person's few memberships
            rows = sorted((o for o in mine if after is None or o.id > after), key=lambda o: o.id)[: limit + 1]
        return self._cursors.page(listing, rows, limit, lambda o: [str(o.id)])

    async def get_organization(self, actor: Principal, organization_id: uuid.UUID) -> tuple[Organization, int]:
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            members = await uow.organizations.member_count(organization_id)
            if not self._policy.authorize(actor, Permission.USER_MANAGE, _org(organization_id)).allowed:
                mine = {o.id for o in await uow.organizations.organizations_of(_user_of(actor))}
                if organization_id not in mine:
                    raise NotFound("organization", organization_id)
        return organization, members

    async def add_member(self, actor: Principal, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        require(self._policy, actor, Permission.USER_MANAGE, _org(organization_id))
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            added = await uow.organizations.add_member(organization_id, user_id, self._clock.now())
            if added:
                organization.member_added(user_id, self._clock.now())
            await uow.commit()
        return added

    async def remove_member(self, actor: Principal, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
        require(self._policy, actor, Permission.USER_MANAGE, _org(organization_id))
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            if not await uow.organizations.remove_member(organization_id, user_id):
                raise NotFound("membership", f"of user {user_id} in organization {organization_id}")
            organization.member_removed(user_id, self._clock.now())
            await uow.commit()

    # -- role grants -------------------------------------------------------------

    async def grant_role(self, actor: Principal, user_id: uuid.UUID, spec: RoleGrantSpec) -> tuple[User, bool]:
        """Grant a role; the granter needs ``role.grant`` on the grant's own scope (no escalation past it)."""
        grant = make_grant(spec.role, spec.scope, spec.scope_id)
        await self._require_grant_rights(actor, grant)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            changed = user.grant(grant, self._clock.now(), by=actor.subject)
            await uow.commit()
        return user, changed

    async def revoke_role(self, actor: Principal, user_id: uuid.UUID, spec: RoleGrantSpec) -> User:
        grant = make_grant(spec.role, spec.scope, spec.scope_id)
        await self._require_grant_rights(actor, grant)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("user", user_id)
            if not user.revoke(grant, self._clock.now(), by=actor.subject):
                raise NotFound("role grant", str(grant))
            await uow.commit()
        return user

    async def resource(self, kind: str, resource_id: uuid.UUID | None) -> ResourceRef:
        """The policy's view of ``kind``/``resource_id``; NotFound when it does not exist."""
        if kind == ScopeKind.PLATFORM.value:
            return ResourceRef(ScopeKind.PLATFORM)
        if resource_id is None:
            raise ValidationFailed("the resource needs an id", [FieldError("resource", "must be <kind>:<uuid>")])
        if kind == ScopeKind.COURSE.value:
            course = await self._resources.course(resource_id)
            if course is None:
                raise NotFound("course", resource_id)
            return course
        if kind == ScopeKind.ORGANIZATION.value:
            if not await self._resources.organization_exists(resource_id):
                raise NotFound("organization", resource_id)
            return _org(resource_id)
        raise ValidationFailed(
            f"unknown resource kind {kind!r}",
            [FieldError("resource", "must be platform, organization:<uuid> or course:<uuid>")],
        )

    async def explain_permissions(
        self, actor: Principal, kind: str, resource_id: uuid.UUID | None
    ) -> tuple[ResourceRef, list[tuple[Permission, bool, str]]]:
        """Every permission on the resource, allowed or not, with the policy's reason."""
        resource = await self.resource(kind, resource_id)
        decisions = [(p, *_decide(self._policy, actor, p, resource)) for p in Permission]
        return resource, decisions

    async def _require_grant_rights(self, actor: Principal, grant: Grant) -> None:
        resource = await self.resource(grant.scope.kind.value, grant.scope.id)
        require(self._policy, actor, Permission.ROLE_GRANT, resource)
