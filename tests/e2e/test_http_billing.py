"""``GET /api/v1/me/invoices`` and an invoice's PDF, as a customer sees them: their own invoices only,
paged, amounts in minor units; someone else's invoice is not found."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput
from elearning_core.billing.model import EvidenceKind, Invoice
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import person
from tests.e2e.http_helpers import BACKENDS, Api, assert_problem, backend_settings, open_read_pool, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("billing"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


async def invoice_for(api: Api, customer: str, order: str) -> Invoice:
    return await api.platform.billing.issue_invoice(
        SYSTEM,
        IssueInvoice(
            customer_id=uuid.UUID(customer),
            order_ref=order,
            currency="EUR",
            profile=ProfileInput(
                name="Ada", country="DE", evidence=[EvidenceInput(kind=EvidenceKind.CARD_COUNTRY, country="DE")]
            ),
            lines=[LineInput(description="Course", unit_price=11_900, reference="course:x")],
        ),
    )


async def test_a_customer_lists_their_invoices_newest_first_in_pages(api: Api) -> None:
    ada, bob = await person(api), await person(api)
    issued = [await invoice_for(api, ada.id, f"ada-{uuid.uuid4()}") for _ in range(3)]
    await invoice_for(api, bob.id, f"bob-{uuid.uuid4()}")
    first = await api.client.get("/api/v1/me/invoices", params={"limit": 2}, headers=ada.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [i["number"] for i in body["items"]] == [issued[2].number, issued[1].number]
    assert body["items"][0]["gross"] == 11_900
    assert body["items"][0]["tax"] == 1_900
    assert body["items"][0]["lines"][0]["tax_rate_bp"] == 1900
    rest = await api.client.get(
        "/api/v1/me/invoices", params={"limit": 2, "cursor": body["next_cursor"]}, headers=ada.headers
    )
    assert [i["number"] for i in rest.json()["items"]] == [issued[0].number]
    assert rest.json()["next_cursor"] is None


async def test_the_pdf_is_for_its_customer_only(api: Api) -> None:
    ada, bob = await person(api), await person(api)
    invoice = await invoice_for(api, ada.id, f"ada-{uuid.uuid4()}")
    mine = await api.client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=ada.headers)
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "application/pdf"
    assert mine.content.startswith(b"%PDF-")
    assert_problem(await api.client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=bob.headers), 404)
    assert_problem(await api.client.get("/api/v1/me/invoices"), 401)
