"""The payment use cases: take a verified webhook into account once, in order of progress."""

from __future__ import annotations

import enum
from collections.abc import Callable

from elearning_core.payment.model import GatewayEvent, PaymentRecord
from elearning_core.payment.ports import PaymentGateway, PaymentUnitOfWork
from elearning_core.shared.clock import Clock


class WebhookOutcome(enum.StrEnum):
    APPLIED = "applied"
    """New, and it moved the payment's record forward: one domain event is in the outbox."""
    NO_EFFECT = "no_effect"
    """New, but stale (out of order) or of a type the platform does not act on: stored, nothing else."""
    DUPLICATE = "duplicate"
    """Received before: nothing written."""


class PaymentService:
    """Payments through the configured gateway, and the webhooks that report their outcomes.

    ``gateway`` is the port the checkout and subscription code charge through; this service
    owns what comes back asynchronously. Signature checks happen before a webhook reaches it
    (the HTTP edge with the provider's adapter): what arrives here is authentic.
    """

    def __init__(self, uow: Callable[[], PaymentUnitOfWork], gateway: PaymentGateway, clock: Clock) -> None:
        self._uow, self.gateway, self._clock = uow, gateway, clock

    async def record_webhook(self, event: GatewayEvent) -> WebhookOutcome:
        """Store the event in the inbox and apply it to its payment's record, in one transaction.

        The inbox row and the domain event commit together, so a repeated delivery (even a
        concurrent one) has exactly one effect, and a crash between them is impossible.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            if not await uow.payment_webhooks.add(event, now):
                return WebhookOutcome.DUPLICATE
            changed = False
            if event.kind is not None and event.payment_id is not None and event.amount is not None:
                record = await uow.payment_records.lock(event.provider, event.payment_id, event.amount)
                changed = record.apply(event, now)
                if changed:
                    await uow.payment_records.save(record)
            await uow.commit()
        return WebhookOutcome.APPLIED if changed else WebhookOutcome.NO_EFFECT

    async def record_of(self, provider: str, payment_id: str) -> PaymentRecord | None:
        """The payment's state as its webhooks recorded it (None before any)."""
        async with self._uow() as uow:
            return await uow.payment_records.get(provider, payment_id)
