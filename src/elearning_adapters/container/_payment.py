"""The payment module's wiring: the gateway the settings choose, the providers' webhook endpoints, the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.payments.fake import FakePaymentGateway
from elearning_adapters.payments.stripe_gateway import StripePaymentGateway
from elearning_adapters.payments.webhooks import (
    FAKE_SIGNATURE_HEADER,
    STRIPE_SIGNATURE_HEADER,
    WebhookEndpoint,
    WebhookEndpoints,
    parse_fake_event,
    parse_stripe_event,
    split_secrets,
)
from elearning_adapters.settings import Settings
from elearning_core.payment.ports import PaymentGateway
from elearning_core.payment.service import PaymentService
from elearning_core.shared.clock import Clock


def _gateway(settings: Settings, clock: Clock) -> PaymentGateway:
    if settings.payments_provider == "stripe":
        assert settings.stripe_api_key is not None  # Settings refuses stripe without a key
        return StripePaymentGateway(settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)
    return FakePaymentGateway(clock)


def _endpoints(settings: Settings, clock: Clock) -> WebhookEndpoints:
    """One endpoint per provider whose webhook secret is set (whichever gateway charges: a provider
    switched off still reports the outcomes of the payments it took)."""
    tolerance = settings.payments_webhook_tolerance_seconds
    endpoints = []
    if settings.stripe_webhook_secret is not None:
        secrets = split_secrets(settings.stripe_webhook_secret.get_secret_value())
        endpoints.append(WebhookEndpoint("stripe", STRIPE_SIGNATURE_HEADER, secrets, parse_stripe_event, tolerance))
    if settings.fake_webhook_secret is not None:
        secrets = split_secrets(settings.fake_webhook_secret.get_secret_value())
        endpoints.append(WebhookEndpoint("fake", FAKE_SIGNATURE_HEADER, secrets, parse_fake_event, tolerance))
    return WebhookEndpoints(endpoints, clock)


def _closers(gateway: PaymentGateway) -> list[Callable[[], Awaitable[None]]]:
    return [gateway.aclose] if isinstance(gateway, StripePaymentGateway) else []


class PaymentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    gateway = providers.Singleton(_gateway, settings, shared.clock)
    webhook_endpoints = providers.Singleton(_endpoints, settings, shared.clock)
    service = providers.Singleton(PaymentService, uow=shared.unit_of_work.provider, gateway=gateway, clock=shared.clock)

    closers = providers.Singleton(_closers, gateway)
