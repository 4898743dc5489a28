"""Reconciliation: the gateway's records of captured money and refunds against the ledger's postings.

The ledger books a gateway payment under the key ``payment:<gateway payment id>`` and a refund paid
out under ``refund:<gateway refund id>`` (docs/modules/billing.md), so the two sides meet on those
ids. Both sides are read for one window; each record on one side is looked for on the other
whenever it was made there, because the books may show a movement some time after the gateway:

- a gateway record created in ``[since, until)`` is looked up in the ledger by its key, whenever booked;
- a ledger posting made in ``[since, until)`` is looked for among the gateway's records created from
  ``since - GATEWAY_LOOKBACK``: a posting booked longer than that after its gateway record shows up as
  missing at the gateway (the window says which records are compared, not when money moved).

Only captured money counts at the gateway: a payment that did not succeed, or a refund that failed or
was cancelled, is as good as absent. Amounts are integers of minor units on both sides.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from elearning_core.billing.ledger import PostingKind
from elearning_core.payment.model import Payment, PaymentStatus, Refund
from elearning_core.shared.errors import Conflict

GATEWAY_LOOKBACK = timedelta(days=2)
"""How long before the window the gateway's records are read, to match postings booked late."""
GATEWAY_PAGE = 1_000
"""Records asked of the gateway per call."""
MAX_GATEWAY_PAGES = 10_000
"""A bound on the paging loop: ten million records is no window anyone reconciles at once."""
REFUND_NOT_MOVED = frozenset({"failed", "canceled"})
"""Gateway refund states in which no money went back (Stripe's names; the fake says ``succeeded``)."""


class DifferenceKind(enum.StrEnum):
    MISSING_IN_LEDGER = "missing-in-ledger"
    """The gateway captured money the books do not show."""
    MISSING_AT_GATEWAY = "missing-at-gateway"
    """The books show a payment the gateway does not have (or did not capture)."""
    AMOUNT_MISMATCH = "amount-mismatch"
    CURRENCY_MISMATCH = "currency-mismatch"
    """A payment's or a refund's currency differs between the two sides."""
    REFUND_MISSING_IN_LEDGER = "refund-missing-in-ledger"
    REFUND_MISSING_AT_GATEWAY = "refund-missing-at-gateway"
    REFUND_AMOUNT_MISMATCH = "refund-amount-mismatch"


@dataclass(frozen=True, slots=True)
class LedgerMovement:
    """One payment or refund posting as reconciliation sees it: the gateway clearing side of it."""

    key: str
    kind: PostingKind
    """``payment`` or ``refund``."""
    occurred_at: datetime
    invoice_id: uuid.UUID | None
    amount: int
    """Minor units moved through gateway clearing (positive for both kinds)."""
    currency: str

    @property
    def reference(self) -> str:
        """The gateway's id the posting names (the key without its ``payment:``/``refund:`` prefix)."""
        return self.key.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class Difference:
    kind: DifferenceKind
    reference: str
    """The gateway's id of the payment or refund."""
    at: datetime
    """When the gateway created it, or (when the gateway has none) when the ledger booked it."""
    gateway_amount: int | None
    gateway_currency: str | None
    ledger_amount: int | None
    ledger_currency: str | None
    payment_id: str | None = None
    """For a refund: the payment it pays back, as the gateway says."""
    invoice_id: uuid.UUID | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    since: datetime
    until: datetime
    gateway_payments: int
    """Captured payments the gateway created in the window."""
    gateway_refunds: int
    ledger_movements: int
    """Payment and refund postings the ledger made in the window."""
    differences: list[Difference]


class MovementReader(Protocol):
    """The ledger reads reconciliation needs (``LedgerReports`` provides them)."""

    async def gateway_movements(self, since: datetime, until: datetime) -> list[LedgerMovement]: ...

    async def gateway_movements_by_key(self, keys: Sequence[str]) -> list[LedgerMovement]: ...


def payment_key(payment_id: str) -> str:
    return f"payment:{payment_id}"


def refund_key(refund_id: str) -> str:
    return f"refund:{refund_id}"


Record = TypeVar("Record", Payment, Refund)


async def read_since(
    fetch: Callable[[datetime, int], Awaitable[list[Record]]],
    since: datetime,
    until: datetime,
    progress: Callable[[int], None] | None = None,
    *,
    page: int = GATEWAY_PAGE,
) -> list[Record]:
    """Every record created in ``[since, until)``, asking ``fetch(from, limit)`` (oldest first) page after
    page from the last creation time seen. A page's last instant is asked again (ids dedupe it), so an
    instant split across two pages loses nothing; a full page of one instant could never advance, and is
    refused rather than looped on."""
    found: dict[str, Record] = {}
    start = since
    for _ in range(MAX_GATEWAY_PAGES):
        batch = await fetch(start, page)
        fresh = [r for r in batch if r.id not in found and r.created_at < until]
        found.update((r.id, r) for r in fresh)
        if progress is not None:
            progress(len(found))
        if len(batch) < page or batch[-1].created_at >= until:
            return list(found.values())
        if batch[-1].created_at == start and not fresh:
            raise Conflict(f"the gateway has more than {page} records created at {start.isoformat()}; cannot page on")
        start = batch[-1].created_at
    raise Conflict(f"more than {MAX_GATEWAY_PAGES} pages of gateway records; reconcile a shorter window")


def compare(
    since: datetime,
    until: datetime,
    payments: Iterable[Payment],
    refunds: Iterable[Refund],
    ledger: Iterable[LedgerMovement],
) -> Reconciliation:
    """The differences between the gateway's records and the ledger's postings (see the module doc).

    ``payments`` and ``refunds`` may reach back before ``since`` (to match late postings); ``ledger``
    holds the postings made in the window and those keyed by the gateway's records in it.
    """
    captured = {p.id: p for p in payments if p.status is PaymentStatus.SUCCEEDED}
    paid_back = {r.id: r for r in refunds if r.status not in REFUND_NOT_MOVED}
    booked = {m.key: m for m in ledger}
    in_window = [p for p in captured.values() if since <= p.created_at < until]
    refunds_in_window = [r for r in paid_back.values() if since <= r.created_at < until]
    differences: list[Difference] = []
    compared: set[str] = set()
    for payment in in_window:
        compared.add(key := payment_key(payment.id))
        differences.extend(_payment_differences(payment, booked.get(key)))
    for refund in refunds_in_window:
        compared.add(key := refund_key(refund.id))
        differences.extend(_refund_differences(refund, booked.get(key)))
    for movement in booked.values():
        if movement.key in compared or not since <= movement.occurred_at < until:
            continue
        if movement.kind is PostingKind.PAYMENT:
            differences.extend(_payment_differences(captured.get(movement.reference), movement))
        else:
            differences.extend(_refund_differences(paid_back.get(movement.reference), movement))
    ledger_count = sum(1 for m in booked.values() if since <= m.occurred_at < until)
    differences.sort(key=lambda d: (d.at, d.reference, d.kind.value))
    return Reconciliation(since, until, len(in_window), len(refunds_in_window), ledger_count, differences)


def _payment_differences(payment: Payment | None, movement: LedgerMovement | None) -> list[Difference]:
    if payment is None:
        assert movement is not None
        return [_unmatched(DifferenceKind.MISSING_AT_GATEWAY, movement, "no captured payment with this id")]
    kinds = (DifferenceKind.MISSING_IN_LEDGER, DifferenceKind.AMOUNT_MISMATCH)
    return _matched(kinds, payment.id, payment.created_at, payment.amount.amount, payment.amount.currency, movement)


def _refund_differences(refund: Refund | None, movement: LedgerMovement | None) -> list[Difference]:
    if refund is None:
        assert movement is not None
        return [_unmatched(DifferenceKind.REFUND_MISSING_AT_GATEWAY, movement, "no refund with this id")]
    kinds = (DifferenceKind.REFUND_MISSING_IN_LEDGER, DifferenceKind.REFUND_AMOUNT_MISMATCH)
    at, amount, currency = refund.created_at, refund.amount.amount, refund.amount.currency
    return _matched(kinds, refund.id, at, amount, currency, movement, payment_id=refund.payment_id)


def _matched(
    kinds: tuple[DifferenceKind, DifferenceKind],
    reference: str,
    at: datetime,
    amount: int,
    currency: str,
    movement: LedgerMovement | None,
    *,
    payment_id: str | None = None,
) -> list[Difference]:
    """The difference, if any, between a gateway record and its posting (None: not booked)."""
    missing, mismatch = kinds
    if movement is None:
        return [Difference(missing, reference, at, amount, currency, None, None, payment_id, detail="not booked")]
    if movement.currency != currency:
        kind, detail = DifferenceKind.CURRENCY_MISMATCH, f"gateway {currency}, ledger {movement.currency}"
    elif movement.amount != amount:
        kind, detail = mismatch, f"gateway {amount}, ledger {movement.amount} (minor units)"
    else:
        return []
    return [
        Difference(
            kind,
            reference,
            at,
            amount,
            currency,
            movement.amount,
            movement.currency,
            payment_id,
            movement.invoice_id,
            detail,
        )
    ]


def _unmatched(kind: DifferenceKind, movement: LedgerMovement, detail: str) -> Difference:
    return Difference(
        kind,
        movement.reference,
        movement.occurred_at,
        None,
        None,
        movement.amount,
        movement.currency,
        invoice_id=movement.invoice_id,
        detail=detail,
    )


async def reconcile(
    gateway_payments: Callable[[datetime, int], Awaitable[list[Payment]]],
    gateway_refunds: Callable[[datetime, int], Awaitable[list[Refund]]],
    ledger: MovementReader,
    since: datetime,
    until: datetime,
    progress: Callable[[int], None] | None = None,
) -> Reconciliation:
    """Read both sides of ``[since, until)`` and compare them; ``progress`` hears how many gateway records
    were read so far (payments, then payments and refunds)."""
    start = since - GATEWAY_LOOKBACK
    report = progress or (lambda _read: None)
    payments = await read_since(gateway_payments, start, until, report)
    refunds = await read_since(gateway_refunds, start, until, lambda read: report(len(payments) + read))
    keys = [payment_key(p.id) for p in payments if since <= p.created_at < until]
    keys += [refund_key(r.id) for r in refunds if since <= r.created_at < until]
    movements = {m.key: m for m in await ledger.gateway_movements(since, until)}
    movements.update((m.key, m) for m in await ledger.gateway_movements_by_key(keys) if m.key not in movements)
    return compare(since, until, payments, refunds, movements.values())
