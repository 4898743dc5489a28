"""What is sold and to whom: prices of courses and paths, the buyers' billing profiles, coupons."""

from __future__ import annotations

import uuid

from elearning_core.billing.commands import ProfileInput
from elearning_core.billing.model import BillingProfile
from elearning_core.checkout.commands import CreateCoupon, SetPrices
from elearning_core.checkout.model import (
    Coupon,
    ItemKind,
    ItemPrices,
)
from elearning_core.checkout.service._base import (
    MANAGE,
    _Base,
    _currency,
    _user,
)
from elearning_core.entitlement.events import OfferChanged
from elearning_core.entitlement.model import CourseOffer, priced
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal, require


class _Catalog(_Base):
    # -- prices --------------------------------------------------------------------------------

    async def set_prices(self, actor: Principal, kind: ItemKind, item_id: uuid.UUID, cmd: SetPrices) -> ItemPrices:
        """A course's prices also make its offer paid (``paid_since`` recorded the first time, as the offer does)."""
        await self._require_item_staff(actor, kind, item_id)
        amounts: dict[str, int] = {}
        for index, price in enumerate(cmd.prices):
            currency = _currency(price.currency, f"prices.{index}.currency")
            if currency in amounts:
                raise ValidationFailed(
                    f"{currency} is priced twice", [FieldError(f"prices.{index}.currency", "priced twice")]
                )
            amounts[currency] = price.amount
        prices = ItemPrices(kind, item_id, amounts, cmd.tax_inclusive)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.prices.save(prices)
            if kind is ItemKind.COURSE and amounts:
                current = await uow.entitlements.offer(item_id)
                audit = current.audit_track if current is not None else False
                offer = priced(current, item_id, True, audit, now)
                if offer != (current or CourseOffer(item_id)):
                    await uow.entitlements.save_offer(offer, now)
                    uow.entitlements.record(OfferChanged.of(offer, now))
            await uow.commit()
        return prices

    async def prices(self, kind: ItemKind, item_id: uuid.UUID) -> ItemPrices:
        async with self._uow() as uow:
            prices = await uow.prices.get(kind, item_id)
        return prices if prices is not None else ItemPrices(kind, item_id, {}, True)

    # -- billing profile ----------------------------------------------------------------------

    async def profile(self, actor: Principal) -> BillingProfile:
        user_id = _user(actor)
        async with self._uow() as uow:
            profile = await uow.billing_profiles.get(user_id)
        if profile is None:
            raise NotFound("billing profile", "of the caller")
        return profile

    async def set_profile(self, actor: Principal, cmd: ProfileInput) -> BillingProfile:
        user_id = _user(actor)
        profile = cmd.profile()
        async with self._uow() as uow:
            await uow.billing_profiles.save(user_id, profile, self._clock.now())
            await uow.commit()
        return profile

    # -- coupons ------------------------------------------------------------------------------

    async def create_coupon(self, actor: Principal, cmd: CreateCoupon) -> Coupon:
        require(self._policy, actor, MANAGE)
        amounts = {_currency(a.currency, f"amounts_off.{i}.currency"): a.amount for i, a in enumerate(cmd.amounts_off)}
        coupon = Coupon(
            code=cmd.code,
            percent_off=cmd.percent_off,
            amounts_off=amounts,
            expires_at=cmd.expires_at,
            max_redemptions=cmd.max_redemptions,
            per_customer=cmd.per_customer,
            items=tuple(cmd.items),
            active=True,
            redeemed=0,
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            if await uow.coupons.get(coupon.code) is not None:
                raise Conflict(f"coupon {coupon.code} exists already")
            await uow.coupons.add(coupon)
            await uow.commit()
        return coupon

    async def coupon(self, actor: Principal, code: str) -> Coupon:
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            coupon = await uow.coupons.get(code)
        if coupon is None:
            raise NotFound("coupon", code)
        return coupon

    async def coupons(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Coupon]:
        require(self._policy, actor, MANAGE)
        limit = check_page_size(limit)
        listing = scope_of("coupons")
        after = self._cursors.after(listing, cursor, lambda key: str(key[0]))
        async with self._uow() as uow:
            rows = await uow.coupons.list(after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda c: [c.code])

    async def deactivate_coupon(self, actor: Principal, code: str) -> Coupon:
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            if not await uow.coupons.deactivate(code):
                raise NotFound("coupon", code)
            coupon = await uow.coupons.get(code)
            await uow.commit()
        assert coupon is not None
        return coupon
