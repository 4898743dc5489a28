"""``/api/v1/users`` (the caller's account, and accounts for administrators), ``/api/v1/me/permissions``,
``/api/v1/organizations``. Every decision is the identity service's, through the one role policy."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from pydantic import ConfigDict, Field

from elearning_core.identity.commands import (
    ChangeEmail,
    ChangePassword,
    CreateOrganization,
    CreateUser,
    RoleGrantSpec,
    UpdateOrganization,
    UpdateProfile,
)
from elearning_core.identity.model import Organization, User, UserStatus, grant_views
from elearning_core.identity.ports import UserListFilter
from elearning_core.identity.service import IdentityService
from elearning_core.shared.errors import FieldError, Unauthenticated, ValidationFailed
from elearning_core.shared.inputs import InputModel
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.openapi import alternative
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


class _Body(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeleteAccount(_Body):
    password: str | None = Field(default=None, max_length=256, description="Required when the account has one")


class Suspension(_Body):
    reason: str = Field(default="", max_length=500)


@dataclass(frozen=True, slots=True)
class GrantView:
    role: str
    scope: str
    scope_id: str | None


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    email: str
    display_name: str
    locale: str
    time_zone: str
    bio: str
    status: str
    email_verified: bool
    created_at: dt.datetime
    grants: list[GrantView]


@dataclass(frozen=True, slots=True)
class EmailChangeRequested:
    status: str
    new_email: str
    detail: str


@dataclass(frozen=True, slots=True)
class OrganizationView:
    id: str
    slug: str
    name: str
    created_at: dt.datetime
    time_zone: str
    member_count: int | None = None


@dataclass(frozen=True, slots=True)
class PermissionView:
    permission: str
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class PermissionReport:
    resource: str
    subject: str
    permissions: list[PermissionView]


def user_view(user: User) -> UserView:
    return UserView(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        locale=user.locale,
        time_zone=user.time_zone,
        bio=user.bio,
        status=user.status.value,
        email_verified=user.email_verified,
        created_at=user.created_at,
        grants=[GrantView(g["role"] or "", g["scope"] or "", g["scope_id"]) for g in grant_views(user.grants)],
    )


def org_view(organization: Organization, members: int | None = None) -> OrganizationView:
    return OrganizationView(
        str(organization.id),
        organization.slug,
        organization.name,
        organization.created_at,
        organization.time_zone,
        members,
    )


def _me(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Unauthenticated("this needs a user's sign-in (a service account has no account of its own)")
    return principal.user_id


UserId = FromPath[uuid.UUID]
Req = Request[Any, Any, Any]


class MeController(Controller):
    path = "/api/v1/users/me"
    tags = ["users"]

    @get("/", summary="The caller's account", responses=ERRORS)
    async def me(
        self, identity_service: NamedDependency[IdentityService], principal: NamedDependency[Principal]
    ) -> UserView:
        return user_view(await identity_service.get_user(principal, _me(principal)))

    @patch("/", summary="Update the caller's profile", responses=ERRORS)
    async def update_me(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        data: JSONBody[UpdateProfile],
    ) -> UserView:
        return user_view(await identity_service.update_profile(principal, _me(principal), data))

    @post(
        "/password",
        status_code=HTTP_204_NO_CONTENT,
        summary="Change the caller's password",
        responses=ERRORS,
        description="Every session of the account ends, this one included: sign in again.",
    )
    async def change_password(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        data: JSONBody[ChangePassword],
    ) -> None:
        await identity_service.change_password(principal, data)

    @post(
        "/email",
        status_code=HTTP_202_ACCEPTED,
        summary="Change the caller's email address (confirmed through a link mailed to the new one)",
        responses={**ERRORS, **problem_responses(429)},
        description="A password account sends its `current_password`. The address changes only when the link "
        "mailed to the new address is opened (single use, 24 hours); the current address gets a notice. "
        "409 when another account uses the new address (checked again at confirmation). Sessions are kept.",
    )
    async def change_email(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        data: JSONBody[ChangeEmail],
    ) -> EmailChangeRequested:
        address = await identity_service.request_email_change(principal, data)
        return EmailChangeRequested(
            "pending", address, "open the link mailed to the new address to complete the change"
        )

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete the caller's account",
        responses=ERRORS,
        description="Anonymises the account: personal data is erased, learning records stay (under the id).",
    )
    async def delete_me(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        data: JSONBody[DeleteAccount | None] = None,
    ) -> None:
        await identity_service.delete_account(principal, _me(principal), password=data.password if data else None)


@get(
    "/api/v1/me/permissions", tags=["users"], summary="What the caller may do on a resource, and why", responses=ERRORS
)
async def my_permissions(
    identity_service: NamedDependency[IdentityService],
    principal: NamedDependency[Principal],
    resource: Annotated[
        str, QueryParameter(max_length=100, description="platform, organization:<id> or course:<id>")
    ] = "platform",
) -> PermissionReport:
    if principal.is_anonymous:
        # Nobody may do anything; and a report (200) on a course id where an unknown one gets 404
        # would tell strangers which draft courses and organizations exist, which no other route does.
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
    kind, _, raw_id = resource.partition(":")
    resource_id = None
    if raw_id:
        try:
            resource_id = uuid.UUID(raw_id)
        except ValueError:
            raise ValidationFailed(
                "resource id is not a UUID", [FieldError("resource", "must be <kind>:<uuid>")]
            ) from None
    ref, decisions = await identity_service.explain_permissions(principal, kind, resource_id)
    return PermissionReport(
        resource=str(ref),
        subject=principal.subject,
        permissions=[PermissionView(p.value, allowed, reason) for p, allowed, reason in decisions],
    )


class AdminUserController(Controller):
    path = "/api/v1/admin/users"
    tags = ["admin"]

    @get(
        "/",
        summary="List accounts",
        description="In id order (oldest first); paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_users(
        self,
        request: Req,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        status: Annotated[UserStatus | None, QueryParameter()] = None,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        organization_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[UserView]]:
        where = UserListFilter(status=status, text=q, organization_id=organization_id)
        return paged(
            request, await identity_service.list_users(principal, where, cursor=cursor, limit=limit), user_view
        )

    @post("/", status_code=HTTP_201_CREATED, summary="Create an account (email verified)", responses=ERRORS)
    async def create_user(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        data: JSONBody[CreateUser],
    ) -> UserView:
        return user_view(await identity_service.create_user(principal, data))

    @get("/{user_id:uuid}", summary="One account", responses=ERRORS)
    async def get_user(
        self, identity_service: NamedDependency[IdentityService], principal: NamedDependency[Principal], user_id: UserId
    ) -> UserView:
        return user_view(await identity_service.get_user(principal, user_id))

    @post("/{user_id:uuid}/suspend", status_code=HTTP_200_OK, summary="Suspend (ends every session)", responses=ERRORS)
    async def suspend(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        user_id: UserId,
        data: JSONBody[Suspension | None] = None,
    ) -> UserView:
        user = await identity_service.set_status(principal, user_id, suspended=True, reason=data.reason if data else "")
        return user_view(user)

    @post("/{user_id:uuid}/reactivate", status_code=HTTP_200_OK, summary="Lift a suspension", responses=ERRORS)
    async def reactivate(
        self, identity_service: NamedDependency[IdentityService], principal: NamedDependency[Principal], user_id: UserId
    ) -> UserView:
        return user_view(await identity_service.set_status(principal, user_id, suspended=False))

    @delete(
        "/{user_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Delete (anonymise) an account", responses=ERRORS
    )
    async def delete_user(
        self, identity_service: NamedDependency[IdentityService], principal: NamedDependency[Principal], user_id: UserId
    ) -> None:
        await identity_service.delete_account(principal, user_id)

    @post(
        "/{user_id:uuid}/roles",
        summary="Grant a role",
        responses={**ERRORS, **alternative(HTTP_200_OK, UserView, "The user already held the role")},
        description="201 when granted, 200 when the user already held it. The granter needs role.grant on "
        "the grant's scope.",
        status_code=HTTP_201_CREATED,
    )
    async def grant_role(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        user_id: UserId,
        data: JSONBody[RoleGrantSpec],
    ) -> Response[UserView]:
        user, changed = await identity_service.grant_role(principal, user_id, data)
        return Response(user_view(user), status_code=HTTP_201_CREATED if changed else HTTP_200_OK)

    @delete("/{user_id:uuid}/roles", status_code=HTTP_204_NO_CONTENT, summary="Revoke a role", responses=ERRORS)
    async def revoke_role(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        user_id: UserId,
        role: Annotated[str, QueryParameter(max_length=40)],
        scope_kind: Annotated[str, QueryParameter(name="scope", max_length=20)] = "platform",
        scope_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
    ) -> None:
        await identity_service.revoke_role(
            principal, user_id, RoleGrantSpec(role=role, scope=scope_kind, scope_id=scope_id)
        )


class OrganizationController(Controller):
    path = "/api/v1/organizations"
    tags = ["organizations"]

    @get(
        "/",
        summary="Organizations (all for platform admins, the caller's own for others)",
        description="In id order (oldest first); paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_organizations(
        self,
        request: Req,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[OrganizationView]]:
        if principal.is_anonymous:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        page = await identity_service.list_organizations(principal, cursor=cursor, limit=limit)
        return paged(request, page, org_view)

    @post("/", status_code=HTTP_201_CREATED, summary="Create an organization", responses=ERRORS)
    async def create_organization(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        data: JSONBody[CreateOrganization],
    ) -> OrganizationView:
        return org_view(await identity_service.create_organization(principal, data), 0)

    @get("/{organization_id:uuid}", summary="One organization", responses=ERRORS)
    async def get_organization(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        organization_id: FromPath[uuid.UUID],
    ) -> OrganizationView:
        if principal.is_anonymous:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        organization, members = await identity_service.get_organization(principal, organization_id)
        return org_view(organization, members)

    @patch(
        "/{organization_id:uuid}",
        summary="Rename an organization or change its time zone",
        description="Platform admins and the organization's admins; a field left out is kept. The time zone "
        "(IANA, e.g. Europe/Paris) is where the organization's reports start and end their days.",
        responses=ERRORS,
    )
    async def update_organization(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        organization_id: FromPath[uuid.UUID],
        data: JSONBody[UpdateOrganization],
    ) -> OrganizationView:
        if principal.is_anonymous:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        organization = await identity_service.update_organization(principal, organization_id, data)
        return org_view(organization)

    @put(
        "/{organization_id:uuid}/members/{user_id:uuid}",
        summary="Add a member",
        responses={**ERRORS, **alternative(HTTP_201_CREATED, dict[str, bool], "Added")},
        description="201 when added, 200 when already a member.",
    )
    async def add_member(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        organization_id: FromPath[uuid.UUID],
        user_id: UserId,
    ) -> Response[dict[str, bool]]:
        added = await identity_service.add_member(principal, organization_id, user_id)
        return Response({"added": added}, status_code=HTTP_201_CREATED if added else HTTP_200_OK)

    @delete(
        "/{organization_id:uuid}/members/{user_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member",
        responses=ERRORS,
    )
    async def remove_member(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        organization_id: FromPath[uuid.UUID],
        user_id: UserId,
    ) -> None:
        await identity_service.remove_member(principal, organization_id, user_id)
