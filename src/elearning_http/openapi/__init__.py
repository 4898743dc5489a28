"""The OpenAPI document as the API promises it, and the self-hosted interactive docs that show it.

See docs/openapi.md: what the document promises, the shared pass that adds it (``finalize``), and the
tests that hold every route to it (tests/e2e/test_openapi_document.py, tests/e2e/test_openapi_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from elearning_http.openapi._document import SECURITY_SCHEMES, access_of, finalize, handlers_by_operation
from elearning_http.openapi._ui import ASSET_FILES, SWAGGER_UI_VERSION, DocumentJson, SelfHostedSwagger, ServedDocument


def render_plugins() -> list[Any]:
    """The docs page at ``/schema`` and the document at ``/schema/openapi.json``, sharing one finalized copy."""
    served = ServedDocument()
    return [SelfHostedSwagger(served), DocumentJson(served)]


def document_of(app: Litestar) -> dict[str, Any]:
    """The document ``/schema/openapi.json`` serves, without a request (tests, scripts)."""
    return finalize(app.openapi_schema.to_schema(), app)


def alternative(status: int, data: Any = None, description: str = "") -> dict[int, ResponseSpec]:
    """Document a second success status of a route (``201`` created vs ``200`` already there)."""
    return {status: ResponseSpec(data_container=data, description=description, generate_examples=False)}


__all__ = [
    "ASSET_FILES",
    "SECURITY_SCHEMES",
    "SWAGGER_UI_VERSION",
    "access_of",
    "alternative",
    "document_of",
    "finalize",
    "fix_options_allow",
    "handlers_by_operation",
    "render_plugins",
]


def fix_options_allow(app: Litestar) -> None:
    """Make every automatic ``OPTIONS`` answer list all the methods of its path.

    Litestar builds a path's route again each time handlers for that path are registered (one
    controller's ``GET /`` and ``POST /`` arrive one after the other), and keeps the automatic OPTIONS
    handler of the first build, whose ``Allow`` reads that first route's methods: ``OPTIONS
    /api/v1/admin/users`` said ``OPTIONS, POST``. Pointing each such handler at its current route fixes it.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            fn = getattr(handler.fn, "__wrapped__", handler.fn)
            if getattr(fn, "__name__", "") != "options_handler" or not fn.__closure__:
                continue
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
                if name == "self" and isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents = route
