"""Documents, payments, billing, subscriptions and checkout."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class CommerceSettings(BaseSettings):
    """Documents, payments, billing, subscriptions and checkout: one group of ``Settings`` (``ELEARNING_*``)."""

    certificate_issuer_name: str = Field(
        default="E-learning platform",
        min_length=1,
        max_length=200,
        description="The issuer name certificates (Open Badges 3.0 credentials) carry and their pages show",
    )
    payments_provider: Literal["fake", "stripe"] = Field(
        default="fake",
        description="The payment gateway: fake (the embedded default, outcomes by test card number) or stripe",
    )
    stripe_api_key: SecretStr | None = Field(default=None, description="Stripe secret key (payments_provider=stripe)")
    stripe_api_base: str | None = Field(
        default=None,
        max_length=300,
        description="Another Stripe API base URL, e.g. a local test server (localstripe); unset = Stripe's",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The Stripe webhook endpoint's signing secret(s), comma-separated while one is rolled; "
        "unset = POST /api/v1/webhooks/payments/stripe answers 404",
    )
    fake_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The fake provider's webhook signing secret(s), comma-separated; "
        "unset = POST /api/v1/webhooks/payments/fake answers 404",
    )
    payments_webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="How far a webhook's signed timestamp may be from now, either side, before it is refused",
    )
    billing_seller_country: str = Field(
        default="DE",
        pattern=r"^[A-Z]{2}$",
        description="The seller's country (ISO 3166-1 alpha-2): decides EU VAT and reverse charge on invoices",
    )
    billing_seller_name: str = Field(
        default="E-learning platform", min_length=1, max_length=200, description="The seller named on invoices"
    )
    billing_seller_address: str = Field(default="", max_length=1000, description="The seller's address on invoices")
    dunning_retry_days: str = Field(
        default="1,3,5",
        pattern=r"^(\d{1,2}(,\d{1,2}){0,9})?$",
        description="When to retry a failed renewal, in days after its period started, comma-separated ascending "
        "(empty: no retry); after the last failure the subscription becomes ELEARNING_DUNNING_FINAL",
    )
    dunning_final: Literal["unpaid", "canceled"] = Field(
        default="unpaid",
        description="What a subscription becomes when every retry failed: unpaid (suspended, access past due) "
        "or canceled",
    )
    trial_notice_days: int = Field(
        default=3, ge=0, le=30, description="How many days before a trial ends subscription.trial_ending.v1 is sent"
    )
    subscription_renew_seconds: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="Period of the scheduled jobs `subscriptions.renew` and `subscriptions.dunning` (0: never by "
        "themselves; `elearning jobs run` still does); access granted until a period's end lapses for at most this "
        "long before its renewal is charged",
    )
    checkout_hold_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="How long a checkout holds a seat of a course with a capacity while its payment is pending",
    )
    checkout_expire_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How often checkout.expire-holds runs (expired holds, owed automatic refunds); 0: by hand only",
    )
