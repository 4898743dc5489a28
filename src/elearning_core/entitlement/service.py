"""The entitlement check as a use case (who is asking, then ``decide``), and the changes its sources make.

The check reads through the ``Offers`` and ``Grants`` ports, which the platform serves from a cache
(it runs on every content read); the changes go through the unit of work, each with its event, so
every process's cache drops what a change made stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from elearning_core.auth.model import COURSE_STAFF, Permission, ResourceRef
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant, SetOffer, effective_start
from elearning_core.entitlement.events import EntitlementChanged, EntitlementGranted, OfferChanged
from elearning_core.entitlement.model import CourseOffer, Grant, GrantStatus, Verdict, decide, priced
from elearning_core.entitlement.ports import AccessCheck, EnrolledSince, EntitlementUnitOfWork, Grants, Offers
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound, Unauthenticated
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Policy, Principal, require

STAFF_PERMISSION = COURSE_STAFF
"""Who counts as the course's staff here: those who may see its drafts (content gating's rule too)."""
GRANT_PERMISSION = Permission.BILLING_MANAGE
"""Who may grant or take back access by hand: the platform's admins (checkout and subscriptions act as SYSTEM)."""


@dataclass(frozen=True, slots=True)
class CourseEntitlement:
    """One course of "my entitlements": the verdict now, and the grants behind it (any status)."""

    course_id: uuid.UUID
    verdict: Verdict
    grants: list[Grant]


class EntitlementService:
    def __init__(
        self,
        offers: Offers,
        grants: Grants,
        enrollments: EnrolledSince,
        resources: ResourceDirectory,
        policy: Policy,
        clock: Clock,
        *,
        uow: Callable[[], EntitlementUnitOfWork] | None = None,
        cursors: CursorCodec | None = None,
        access: AccessCheck | None = None,
    ) -> None:
        self._offers, self._grants, self._enrollments = offers, grants, enrollments
        self._resources, self._policy, self._clock = resources, policy, clock
        self._uow_factory, self._cursors = uow, cursors
        # The content gates' check (offer and grants in one cache round trip, the enrollment read only when
        # it can matter); without it, the reads above one by one.
        self._access = access

    # -- the check ---------------------------------------------------------------------------

    async def check(self, actor: Principal, course_id: uuid.UUID) -> Verdict:
        """May ``actor`` access the course now, and why: the one answer every content route asks."""
        ref = await self._course(course_id)
        if self._policy.authorize(actor, STAFF_PERMISSION, ref).allowed:
            return decide(None, (), self._clock.now(), staff=True)
        if self._access is not None:
            return await self._access.verdict(actor.user_id, course_id)
        offer = await self._offers.offer(course_id)
        if offer is None or not offer.paid or actor.user_id is None:
            # Anonymous callers of a paid course are refused like anyone without a grant.
            return decide(offer, (), self._clock.now())
        user_id = actor.user_id
        grants = await self._grants.grants(user_id, course_id)
        enrolled_at = await self._enrollments.enrolled_since(user_id, course_id)
        return decide(offer, grants, self._clock.now(), enrolled_at=enrolled_at)

    async def mine(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[CourseEntitlement]:
        """Per course the caller holds a grant or an enrollment in (course id order): the verdict and grants."""
        if actor.user_id is None:
            raise Unauthenticated("entitlements belong to a user's sign-in")
        limit = check_page_size(limit)
        listing = scope_of("my-entitlements", actor.user_id)
        cursors = self._cursor_codec()
        after = cursors.after(listing, cursor, uuid_key)
        async with self._uow() as uow:
            courses = await uow.entitlements.courses_of_user(actor.user_id, after, limit + 1)
            held = await uow.entitlements.grants_of_user(actor.user_id)
        rows = []
        for course_id in courses:
            verdict = await self.check(actor, course_id)
            rows.append(CourseEntitlement(course_id, verdict, [g for g in held if g.covers(course_id)]))
        return cursors.page(listing, rows, limit, lambda row: [str(row.course_id)])

    # -- offers ------------------------------------------------------------------------------

    async def offer(self, actor: Principal, course_id: uuid.UUID) -> CourseOffer:
        """The course's offer as its staff sees it (a course with none recorded is free)."""
        ref = await self._course(course_id)
        require(self._policy, actor, Permission.COURSE_EDIT, ref)
        current = await self._offers.offer(course_id)
        return current if current is not None else CourseOffer(course_id)

    async def set_offer(self, actor: Principal, course_id: uuid.UUID, cmd: SetOffer) -> CourseOffer:
        ref = await self._course(course_id)
        require(self._policy, actor, Permission.COURSE_EDIT, ref)
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.entitlements.offer(course_id)
            offer = priced(current, course_id, cmd.paid, cmd.audit_track, now)
            if offer == (current or CourseOffer(course_id)):
                return offer
            await uow.entitlements.save_offer(offer, now)
            uow.entitlements.record(OfferChanged.of(offer, now))
            await uow.commit()
        return offer

    # -- grants ------------------------------------------------------------------------------

    async def give(self, actor: Principal, cmd: GiveGrant) -> Grant:
        """Record a grant (checkout, a subscription's period, a seat, or an admin by hand)."""
        require(self._policy, actor, GRANT_PERMISSION)
        if cmd.course_id is not None:
            await self._course(cmd.course_id)
        now = self._clock.now()
        grant = Grant(
            cmd.user_id,
            cmd.course_id,
            cmd.source,
            GrantStatus.ACTIVE,
            effective_start(cmd, now),
            cmd.ends_at,
            cmd.reference,
        )
        async with self._uow() as uow:
            await uow.entitlements.add_grant(grant, now)
            uow.entitlements.record(EntitlementGranted.of(grant, now))
            await uow.commit()
        return grant

    async def change(self, actor: Principal, cmd: ChangeGrant) -> Grant:
        """A grant's new status: a refund, cancellation, failed renewal or revocation ends access (at the
        next check in every process); nothing else is touched, so the learner's progress stays."""
        require(self._policy, actor, GRANT_PERMISSION)
        now = self._clock.now()
        async with self._uow() as uow:
            grant = await uow.entitlements.grant(cmd.grant_id)
            if grant is None:
                raise NotFound("grant", cmd.grant_id)
            ends_at = cmd.ends_at if cmd.ends_at is not None else grant.ends_at
            if (grant.status, grant.ends_at) == (cmd.status, ends_at):
                return grant  # already so: a repeated refund or webhook changes nothing
            changed = grant.with_status(cmd.status, ends_at)
            await uow.entitlements.save_grant(changed, now)
            uow.entitlements.record(EntitlementChanged.of(grant, changed, now))
            await uow.commit()
        return changed

    async def grants_of(self, actor: Principal, user_id: uuid.UUID, course_id: uuid.UUID) -> list[Grant]:
        """A user's grants for a course, for an admin (support, the CLI's ``show``)."""
        require(self._policy, actor, GRANT_PERMISSION)
        await self._course(course_id)
        async with self._uow() as uow:
            return list(await uow.entitlements.grants(user_id, course_id))

    # -- helpers -----------------------------------------------------------------------------

    async def _course(self, course_id: uuid.UUID) -> ResourceRef:
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        return ref

    def _uow(self) -> EntitlementUnitOfWork:
        if self._uow_factory is None:
            raise RuntimeError("this EntitlementService was built for checks only (no unit of work)")
        return self._uow_factory()

    def _cursor_codec(self) -> CursorCodec:
        if self._cursors is None:
            raise RuntimeError("this EntitlementService was built without a cursor codec")
        return self._cursors
