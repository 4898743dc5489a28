"""The checkout benchmark's server: the production app plus ``GET /bench/charges``, the fake gateway's count of
charges that reached the "card network" (the gateway lives in this process, so only it can tell).

Started by ``benchmarks/checkout.py`` through ``auth.run_server(..., app="_checkout_server:create_bench_app")``.
"""

from __future__ import annotations

from litestar import Litestar, get

from elearning_adapters.container import build_container
from elearning_adapters.payments.fake import FakePaymentGateway
from elearning_adapters.settings import Settings
from elearning_http.app import create_app
from elearning_http.observability import configure_logging


def create_bench_app() -> Litestar:
    settings = Settings(access_log=False, log_level="WARNING")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    container = build_container(settings)
    app = create_app(settings, container, freeze_startup_objects=True)  # as server_app() does
    gateway = container.payment.gateway()
    assert isinstance(gateway, FakePaymentGateway), "the checkout benchmark runs the fake gateway"

    @get("/bench/charges", include_in_schema=False, opt={"public": True})
    async def charges() -> dict[str, int]:
        return {"charges": gateway.charges}

    app.register(charges)
    return app
