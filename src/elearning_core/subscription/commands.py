"""The input of ``plans import``: one ``PlanSpec`` per plan, in the shape ``plans list -o json`` prints."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from elearning_core.billing.money import check_currency
from elearning_core.shared.inputs import InputModel, NonNegativeInt64
from elearning_core.subscription.model import (
    CODE_PATTERN,
    MAX_CODE,
    MAX_DESCRIPTION,
    MAX_INCLUDED,
    MAX_INTERVAL_COUNT,
    MAX_NAME,
    MAX_TRIAL_DAYS,
    Interval,
    PlanStatus,
)


class PriceSpec(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(description="ISO 4217 code, e.g. EUR")
    amount: NonNegativeInt64 = Field(description="Minor units (cents for EUR, yen for JPY): never a float")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)


class IncludesSpec(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    all_courses: bool = False
    course_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_INCLUDED)] = []
    path_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_INCLUDED)] = []

    @model_validator(mode="after")
    def _check(self) -> IncludesSpec:
        if self.all_courses and (self.course_ids or self.path_ids):
            raise ValueError("a plan includes all courses or listed ones, not both")
        if not self.all_courses and not (self.course_ids or self.path_ids):
            raise ValueError("a plan must include all courses or at least one course or learning path")
        for name, ids in (("course_ids", self.course_ids), ("path_ids", self.path_ids)):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name} lists an id twice")
        return self


class PlanSpec(InputModel):
    """A plan as imported: everything but its identity and times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[str, Field(min_length=1, max_length=MAX_CODE, description="Stable slug, e.g. pro-monthly")]
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""
    interval: Interval
    interval_count: Annotated[int, Field(ge=1, le=12, description="1-12 months or 1-3 years")] = 1
    trial_days: Annotated[int, Field(ge=0, le=MAX_TRIAL_DAYS)] = 0
    prices: Annotated[list[PriceSpec], Field(min_length=1, max_length=50)]
    tax_inclusive: bool = Field(description="The prices include tax (consumer pricing) or tax is added on top")
    includes: IncludesSpec
    status: PlanStatus = PlanStatus.DRAFT

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not CODE_PATTERN.match(value):
            raise ValueError("code must be lowercase letters, digits and single hyphens, e.g. pro-monthly")
        return value

    @model_validator(mode="after")
    def _check(self) -> PlanSpec:
        limit = MAX_INTERVAL_COUNT[self.interval]
        if self.interval_count > limit:
            raise ValueError(f"interval_count must be at most {limit} for a {self.interval.value}ly plan")
        currencies = [p.currency for p in self.prices]
        if len(set(currencies)) != len(currencies):
            raise ValueError("prices list a currency twice (one price per currency)")
        return self


MAX_SEATS = 10_000
MAX_TOKEN = 255


class SavePaymentMethod(InputModel):
    """A token from the provider's client-side form (the card itself never reaches the platform)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN, description="The provider's payment method token")]
    make_default: bool = Field(default=True, description="Use it for off-session renewals")


class Subscribe(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_code: Annotated[str, Field(min_length=1, max_length=MAX_CODE)]
    currency: Annotated[str, Field(min_length=3, max_length=3, description="ISO 4217, one of the plan's prices")]
    payment_method_id: Annotated[str | None, Field(max_length=MAX_TOKEN)] = Field(
        default=None, description="One of your saved payment methods; your default one when omitted"
    )
    organization_id: uuid.UUID | None = Field(default=None, description="Subscribe this organization (its admin only)")
    seats: Annotated[int, Field(ge=1, le=MAX_SEATS)] = 1
    billing_name: Annotated[str, Field(min_length=1, max_length=200, description="Printed on the invoices")]
    billing_country: Annotated[
        str, Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, for tax")
    ]

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("billing_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("billing_name must not be blank (it is printed on the invoices)")
        return value.strip()

    @field_validator("billing_country")
    @classmethod
    def _country(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _check(self) -> Subscribe:
        if self.organization_id is None and self.seats != 1:
            raise ValueError("seats are for organization subscriptions (give organization_id)")
        return self


class CancelSubscription(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_period_end: bool = Field(default=True, description="Run until the paid period ends (false: end now)")


class ChangePlan(InputModel):
    """Another plan, another seat count (organization subscriptions), or both; prorated alike."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_code: Annotated[str | None, Field(min_length=1, max_length=MAX_CODE)] = None
    seats: Annotated[int | None, Field(ge=1, le=MAX_SEATS)] = None

    @model_validator(mode="after")
    def _something(self) -> ChangePlan:
        if self.plan_code is None and self.seats is None:
            raise ValueError("give plan_code, seats or both")
        return self


class AssignSeat(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: uuid.UUID
