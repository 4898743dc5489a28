"""The billing use cases on the fakes: issuing (once per order), payments (once per reference),
refunds through credit notes, the documents kept, and who may do what."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from elearning_core.billing.commands import (
    EvidenceInput,
    IssueInvoice,
    LineInput,
    ProfileInput,
    RecordPayment,
    Refund,
)
from elearning_core.billing.ledger import Account
from elearning_core.billing.model import EvidenceKind, OverCredit, TaxTreatment
from elearning_core.billing.ports import DuplicatePosting
from elearning_core.billing.service import Overpayment, document_key, month_range
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.ports import Principal
from tests.billing_fakes import BillingStore, InMemoryDocumentStore, a_billing_service
from tests.fakes import ADMIN, T0

COURSE_A, COURSE_B = f"course:{uuid.uuid4()}", f"course:{uuid.uuid4()}"


def an_order(
    customer: uuid.UUID, order: str = "order-1", country: str = "FR", tax_id: str | None = None
) -> IssueInvoice:
    return IssueInvoice(
        customer_id=customer,
        order_ref=order,
        currency="EUR",
        profile=ProfileInput(
            name="Ada Lovelace",
            address="1 Rue, Paris",
            country=country,
            evidence=[EvidenceInput(kind=EvidenceKind.BILLING_ADDRESS, country=country)],
            tax_id=tax_id,
        ),
        lines=[
            LineInput(description="Course A", unit_price=4999, reference=COURSE_A),
            LineInput(description="Course B", quantity=2, unit_price=1000, reference=COURSE_B),
        ],
    )


@pytest.fixture
def store() -> BillingStore:
    return BillingStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


async def test_an_invoice_is_numbered_taxed_booked_and_kept(store: BillingStore, clock: FixedClock) -> None:
    documents = InMemoryDocumentStore()
    service = a_billing_service(store, clock, documents)
    customer = uuid.uuid4()
    invoice = await service.issue_invoice(ADMIN, an_order(customer))
    second = await service.issue_invoice(ADMIN, an_order(customer, "order-2"))
    assert (invoice.number, second.number) == ("INV-2026-000001", "INV-2026-000002")
    assert invoice.tax.rate_bp == 2000
    assert invoice.tax_inclusive
    assert invoice.gross.amount == 6999
    assert invoice.net + invoice.tax_total == invoice.gross
    assert [e.type for e in store.outbox] == ["billing.invoice_issued.v1"] * 2
    assert documents.files == {}  # rendered after the commit, by the billing-documents subscription
    await service.keep_documents(invoice.id)
    assert documents.files[document_key(invoice.number, "pdf")].startswith(b"%PDF-")
    assert b"69.99 EUR" in documents.files[document_key(invoice.number, "html")]
    balances = {b.account: b.amount for b in await service.balances(ADMIN)}
    assert balances[Account.RECEIVABLES] == 2 * 6999
    assert balances[Account.REVENUE] + balances[Account.TAX_PAYABLE] == -2 * 6999


async def test_an_order_is_invoiced_once(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    customer = uuid.uuid4()
    first = await service.issue_invoice(ADMIN, an_order(customer))
    again = await service.issue_invoice(ADMIN, an_order(customer))
    assert again.id == first.id
    assert len(store.invoices) == 1
    assert len(store.transactions) == 1
    assert store.sequences[("INV", 2026)] == 1


async def test_a_refused_invoice_takes_no_number(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    bad = an_order(uuid.uuid4()).model_copy(update={"lines": [LineInput(description=" ", unit_price=1)]})
    with pytest.raises(ValidationFailed, match="description"):
        await service.issue_invoice(ADMIN, bad)
    with pytest.raises(ValidationFailed, match="currency"):
        await service.issue_invoice(ADMIN, an_order(uuid.uuid4()).model_copy(update={"currency": "EURO"}))
    assert store.sequences == {}
    assert store.invoices == {}


async def test_reverse_charge_and_outside_the_eu(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    business = await service.issue_invoice(ADMIN, an_order(uuid.uuid4(), "b2b", "FR", "FR12345678901"))
    american = await service.issue_invoice(ADMIN, an_order(uuid.uuid4(), "us", "US"))
    assert business.tax.treatment is TaxTreatment.REVERSE_CHARGE
    assert business.tax_total.amount == 0
    assert american.tax.treatment is TaxTreatment.OUTSIDE_SCOPE
    assert american.gross.amount == 6999


async def test_a_payment_is_booked_once_and_never_beyond_what_is_due(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    invoice = await service.issue_invoice(ADMIN, an_order(uuid.uuid4()))
    first = await service.record_payment(
        ADMIN, RecordPayment(invoice_id=invoice.id, amount=6000, payment_ref="pi_1", fee=200)
    )
    replay = await service.record_payment(
        ADMIN, RecordPayment(invoice_id=invoice.id, amount=6000, payment_ref="pi_1", fee=200)
    )
    assert first == replay
    assert first.receivable == 999
    with pytest.raises(Overpayment, match=r"9\.99 EUR due"):
        await service.record_payment(ADMIN, RecordPayment(invoice_id=invoice.id, amount=1000, payment_ref="pi_2"))
    balances = {b.account: b.amount for b in await service.balances(ADMIN)}
    assert balances[Account.GATEWAY_FEES] == 200
    assert balances[Account.GATEWAY_CLEARING] == 5800


async def test_refunds_are_credit_notes_that_never_exceed_the_invoice(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    invoice = await service.issue_invoice(ADMIN, an_order(uuid.uuid4()))
    await service.record_payment(ADMIN, RecordPayment(invoice_id=invoice.id, amount=6999, payment_ref="pi_1"))
    partial = await service.refund(
        ADMIN, Refund(invoice_id=invoice.id, amount=1000, reason="goodwill", refund_ref="re_1")
    )
    assert partial.credit_note.number == "CRN-2026-000001"
    assert partial.refunded.amount == 1000
    with pytest.raises(DuplicatePosting):
        await service.refund(ADMIN, Refund(invoice_id=invoice.id, amount=1000, reason="goodwill", refund_ref="re_1"))
    with pytest.raises(OverCredit, match=r"59\.99 EUR left"):
        await service.refund(ADMIN, Refund(invoice_id=invoice.id, amount=6000, reason="too much"))
    rest = await service.refund(ADMIN, Refund(invoice_id=invoice.id, reason="cancelled"))
    assert rest.credit_note.number == "CRN-2026-000002"
    assert rest.credit_note.gross.amount == 5999
    with pytest.raises(OverCredit, match="credited in full"):
        await service.refund(ADMIN, Refund(invoice_id=invoice.id, reason="again"))
    notes = [partial.credit_note, rest.credit_note]
    assert sum(n.tax_total.amount for n in notes) == invoice.tax_total.amount  # the tax reversed exactly
    assert sum(n.net.amount for n in notes) == invoice.net.amount
    assert [e.type for e in store.outbox][-1] == "billing.credit_note_issued.v1"
    assert store.outbox[-1].full is True  # type: ignore[attr-defined]
    balances = {b.account: b.amount for b in await service.balances(ADMIN)}
    assert balances.get(Account.RECEIVABLES, 0) == 0
    assert balances.get(Account.GATEWAY_CLEARING, 0) == 0
    assert balances[Account.TAX_PAYABLE] == 0


async def test_revenue_per_course_and_month(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    invoice = await service.issue_invoice(ADMIN, an_order(uuid.uuid4()))
    clock.advance(timedelta(days=40))  # February
    await service.refund(ADMIN, Refund(invoice_id=invoice.id, reason="cancelled"))
    january = {row.reference: row for row in await service.revenue(ADMIN, "2026-01")}
    february = {row.reference: row for row in await service.revenue(ADMIN, "2026-02")}
    assert january[COURSE_A].revenue == 4166
    assert january[COURSE_A].refunds == 0
    assert february[COURSE_A].refunds == 4166
    assert february[COURSE_A].revenue == 0
    assert january[COURSE_B].net + february[COURSE_B].net == 0
    with pytest.raises(ValidationFailed, match="YYYY-MM"):
        await service.revenue(ADMIN, "2026-13")


async def test_a_customer_reads_their_invoices_and_nobody_elses(store: BillingStore, clock: FixedClock) -> None:
    service = a_billing_service(store, clock)
    customer, other = uuid.uuid4(), uuid.uuid4()
    mine = [await service.issue_invoice(ADMIN, an_order(customer, f"o{i}")) for i in range(3)]
    theirs = await service.issue_invoice(ADMIN, an_order(other, "x"))
    learner = Principal(subject=str(customer), user_id=customer)
    page = await service.mine(learner, limit=2)
    rest = await service.mine(learner, cursor=page.next_cursor, limit=2)
    assert [i.id for i in page.items + rest.items] == [i.id for i in reversed(mine)]
    assert rest.next_cursor is None
    assert (await service.document(learner, mine[0].id, "pdf")).startswith(b"%PDF-")
    with pytest.raises(NotFound):
        await service.document(learner, theirs.id, "pdf")
    with pytest.raises(PermissionDenied):
        await service.issue_invoice(learner, an_order(customer, "self-service"))
    with pytest.raises(PermissionDenied):
        await service.revenue(learner, "2026-01")


async def test_a_refund_reference_is_recorded_once_even_on_an_unpaid_invoice(
    store: BillingStore, clock: FixedClock
) -> None:
    service = a_billing_service(store, clock)
    invoice = await service.issue_invoice(ADMIN, an_order(uuid.uuid4()))
    outcome = await service.refund(ADMIN, Refund(invoice_id=invoice.id, amount=100, reason="r", refund_ref="re_9"))
    assert outcome.refunded.amount == 0  # nothing was paid: nothing goes back
    with pytest.raises(DuplicatePosting):
        await service.refund(ADMIN, Refund(invoice_id=invoice.id, amount=100, reason="r", refund_ref="re_9"))
    assert len(store.credit_notes) == 1


def test_month_ranges() -> None:
    start, end = month_range("2026-12")
    assert (start.year, start.month, end.year, end.month) == (2026, 12, 2027, 1)
