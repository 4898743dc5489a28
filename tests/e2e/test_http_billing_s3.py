"""With ``ELEARNING_STORAGE_BACKEND=s3`` an invoice's documents are kept in the bucket (SeaweedFS here), not
in the media directory, and the PDF route serves them from there: the composition root's choice, end to end."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.billing.service import document_key
from tests.e2e.assessment_helpers import person
from tests.e2e.http_helpers import Api, assert_problem, s3_settings_for, serve
from tests.e2e.test_http_billing import invoice_for

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs fixture
pytestmark = pytest.mark.asyncio(loop_scope="module")
BUCKET = "billing-documents"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedS3) -> Settings:
    return s3_settings_for(tmp_path_factory.mktemp("billing-s3"), seaweedfs, BUCKET)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


async def test_the_invoice_pdf_is_kept_in_the_bucket_and_served_from_it(
    api: Api, settings: Settings, seaweedfs: SeaweedS3
) -> None:
    ada = await person(api)
    invoice = await invoice_for(api, ada.id, f"ada-{uuid.uuid4()}")

    answer = await api.client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=ada.headers)

    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(b"%PDF-")
    stored = seaweedfs.client().get_object(Bucket=BUCKET, Key=document_key(invoice.number, "pdf"))  # type: ignore[attr-defined]
    assert stored["Body"].read() == answer.content
    media = Path(settings.resolved_media_dir)
    assert not (media / "billing").exists()


async def test_an_unreachable_store_is_a_503_problem_to_retry(settings: Settings) -> None:
    with socket.socket() as placeholder:  # a loopback port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        down = settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{placeholder.getsockname()[1]}"})
        async with serve(down) as app:
            ada = await person(app)
            invoice = await invoice_for(app, ada.id, f"ada-{uuid.uuid4()}")

            answer = await app.client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=ada.headers)

    assert_problem(answer, 503)
    assert answer.json()["type"].endswith("storage-unavailable")
    assert answer.headers["retry-after"] == "5"
