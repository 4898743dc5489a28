"""A learner's xAPI statements, all of them, as NDJSON (one statement's JSON per line) streamed a page at a time
(the right of access, issue 18 point 5): ``GET /api/v1/me/statements/export`` for the caller's own, and
``GET /api/v1/admin/users/{user_id}/statements/export`` for platform admins. Who may is decided before the
first byte (a refusal is a problem document); the body is then written page by page (500 statements a read),
never held whole, as a file to save (``Content-Disposition: attachment``)."""

from __future__ import annotations

import uuid

from litestar import get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import Stream

from elearning_core.analytics.export import StatementExport, StatementExportService
from elearning_core.shared.errors import Unauthenticated
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses

TAGS = ["analytics"]
ERRORS = problem_responses(401, 403, 404)
NDJSON = "application/x-ndjson"
EXPORTED = {
    200: ResponseSpec(
        data_container=bytes,
        media_type=NDJSON,
        description="Every statement whose actor is the learner's account, oldest first, one xAPI 1.0.3 statement "
        "(JSON) per line, voided ones too; empty when there is none",
        generate_examples=False,
    )
}
OPT = {"success_content": [NDJSON]}
Service = NamedDependency[StatementExportService]
Caller = NamedDependency[Principal]


def _streamed(export: StatementExport) -> Stream:
    return Stream(
        export.ndjson(),
        media_type=NDJSON,
        headers={
            "Content-Disposition": f'attachment; filename="statements-{export.user_id}.ndjson"',
            "Cache-Control": "private, no-store",
        },
    )


def _signed_in(principal: Principal) -> None:
    if principal.is_anonymous:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")


@get(
    "/api/v1/me/statements/export",
    tags=TAGS,
    summary="Export the caller's xAPI statements",
    description="Every statement of the learning record store whose actor is the caller (the platform's and "
    "external tools'), oldest first, as NDJSON (a statement per line) streamed to a file. A deleted account's statements "
    "are pseudonymised and no longer the person's.",
    responses={**EXPORTED, **ERRORS},
    opt=OPT,
)
async def export_my_statements(statement_export: Service, principal: Caller) -> Stream:
    _signed_in(principal)
    if principal.user_id is None:
        raise Unauthenticated("this needs a user's sign-in (a service account has no statements of its own)")
    return _streamed(await statement_export.export(principal, principal.user_id))


@get(
    "/api/v1/admin/users/{user_id:uuid}/statements/export",
    tags=["admin", *TAGS],
    summary="Export a user's xAPI statements (platform admins)",
    description="As `GET /api/v1/me/statements/export`, for the account `user_id`: platform admins only.",
    responses={**EXPORTED, **ERRORS},
    opt=OPT,
)
async def export_user_statements(statement_export: Service, principal: Caller, user_id: FromPath[uuid.UUID]) -> Stream:
    _signed_in(principal)
    return _streamed(await statement_export.export(principal, user_id))


STATEMENT_EXPORT_HANDLERS = [export_my_statements, export_user_statements]
