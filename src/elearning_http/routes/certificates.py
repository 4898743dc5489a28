"""Certificate routes: the learner's certificates, the staff's lists, awards and revocation, and the
public verification resources (no sign-in): a credential's verification result, its printable page
and PDF, the revocation status lists, the issuer profile and the credential keys (JWKS).

The public resources are what a third party checks a certificate with: ``/api/v1/credentials/{id}``
is each credential's stable verification URL (its ``id`` in the credential document), the JOSE
header's ``kid`` dereferences to ``/api/v1/credentials/keys/{kid}``, and the ``statusListCredential``
of each credential is ``/api/v1/credentials/status/{list}``, a signed ``BitstringStatusListCredential``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK

from elearning_adapters.content.certificates import CSP_HEADER
from elearning_core.certificate.commands import AwardSettings, Revoke
from elearning_core.certificate.model import Award, Credential, SubjectKind
from elearning_core.certificate.service import CertificateService, Verification
from elearning_core.shared.inputs import INT32_MAX
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
PUBLIC_ERRORS = problem_responses(400, 404)
OPEN = {"public": True}
TAGS = ["certificates"]
VC_JWT = "application/vc+jwt"
PDF = "application/pdf"

Req = Request[Any, Any, Any]
Service = NamedDependency[CertificateService]
Caller = NamedDependency[Principal]


@dataclass(frozen=True, slots=True)
class CertificateOut:
    id: str
    user_id: str
    subject_kind: str
    subject_id: str
    title: str
    learner_name: str
    state: str
    issued_at: dt.datetime
    valid_until: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    replaces: str | None
    verification_url: str


@dataclass(frozen=True, slots=True)
class AwardOut:
    subject_kind: str
    subject_id: str
    enabled: bool
    available_from: dt.datetime | None
    valid_days: int | None
    template: str | None
    updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class VerificationOut:
    """The verification result of one credential, with the credential and its VC-JWT."""

    id: str
    valid: bool
    state: str
    signature_valid: bool
    problem: str | None
    title: str
    learner_name: str
    subject_kind: str
    subject_id: str
    issued_at: dt.datetime
    valid_until: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    replaces: str | None
    replaced_by: str | None
    html_url: str
    pdf_url: str
    credential: dict[str, Any]
    jwt: str


def _out(service: CertificateService, c: Credential) -> CertificateOut:
    return CertificateOut(
        id=str(c.id),
        user_id=str(c.user_id),
        subject_kind=c.kind.value,
        subject_id=str(c.subject_id),
        title=c.subject_title,
        learner_name=c.learner_name,
        state=c.state(dt.datetime.now(dt.UTC)).value,
        issued_at=c.issued_at,
        valid_until=c.valid_until,
        revoked_at=c.revoked_at,
        revoked_reason=c.revoked_reason,
        replaces=str(c.replaces) if c.replaces else None,
        verification_url=service.config.credential_url(c.id),
    )


def _award_out(a: Award) -> AwardOut:
    return AwardOut(
        a.kind.value, str(a.subject_id), a.enabled, a.available_from, a.valid_days, a.template, a.updated_at
    )


def _verification_out(service: CertificateService, v: Verification) -> VerificationOut:
    c = v.credential
    url = service.config.credential_url(c.id)
    return VerificationOut(
        id=str(c.id),
        valid=v.signature_valid and v.problem is None,
        state=v.state.value,
        signature_valid=v.signature_valid,
        problem=v.problem,
        title=c.subject_title,
        learner_name=c.learner_name,
        subject_kind=c.kind.value,
        subject_id=str(c.subject_id),
        issued_at=c.issued_at,
        valid_until=c.valid_until,
        revoked_at=c.revoked_at,
        revoked_reason=c.revoked_reason,
        replaces=service.config.credential_url(c.replaces) if c.replaces else None,
        replaced_by=service.config.credential_url(v.replaced_by) if v.replaced_by else None,
        html_url=f"{url}/html",
        pdf_url=f"{url}/pdf",
        credential=v.document,
        jwt=c.jwt,
    )


# -- the learner ---------------------------------------------------------------------------------


@get(
    "/api/v1/me/certificates",
    tags=TAGS,
    summary="The caller's certificates",
    description="Newest first, revoked ones included (with their state); paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_certificates(
    request: Req,
    certificate_service: Service,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[CertificateOut]]:
    page = await certificate_service.mine(principal, cursor=cursor, limit=limit)
    return paged(request, page, lambda c: _out(certificate_service, c))


# -- staff ---------------------------------------------------------------------------------------


# A course and a learning path each have the same three staff routes (their certificates, and their award
# read and set); one factory builds them, so the two kinds cannot drift apart. The path parameter keeps its
# name per kind (``course_id``, ``path_id``): a dependency per kind reads it and hands it on as ``subject_id``.

SubjectId = NamedDependency[uuid.UUID]
AWARD_TIMING = "Completions before `available_from` are issued when it passes (docs/modules/certificate.md)."


def _course_id(course_id: FromPath[uuid.UUID]) -> uuid.UUID:
    return course_id


def _path_id(path_id: FromPath[uuid.UUID]) -> uuid.UUID:
    return path_id


@dataclass(frozen=True, slots=True)
class _Subject:
    kind: SubjectKind
    name: str
    """In the handlers' names (and so the operation ids): ``course_certificates``, ``get_path_award``."""
    noun: str
    """In the summaries."""
    base: str
    subject_id: Provide


COURSE = _Subject(
    SubjectKind.COURSE,
    "course",
    "course",
    "/api/v1/courses/{course_id:uuid}",
    Provide(_course_id, sync_to_thread=False),
)
PATH = _Subject(
    SubjectKind.PATH,
    "path",
    "learning path",
    "/api/v1/learning-paths/{path_id:uuid}",
    Provide(_path_id, sync_to_thread=False),
)


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    return fn


def _subject_handlers(subject: _Subject) -> list[HTTPRouteHandler]:
    kind = subject.kind

    async def certificates(
        request: Req,
        certificate_service: Service,
        principal: Caller,
        subject_id: SubjectId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[CertificateOut]]:
        page = await certificate_service.of_subject(principal, kind, subject_id, cursor=cursor, limit=limit)
        return paged(request, page, lambda c: _out(certificate_service, c))

    async def get_award(certificate_service: Service, principal: Caller, subject_id: SubjectId) -> AwardOut:
        return _award_out(await certificate_service.award(principal, kind, subject_id))

    async def put_award(
        certificate_service: Service, principal: Caller, subject_id: SubjectId, data: JSONBody[AwardSettings]
    ) -> AwardOut:
        return _award_out(await certificate_service.set_award(principal, kind, subject_id, data))

    def route(
        method: Callable[..., HTTPRouteHandler], suffix: str, fn: Callable[..., Any], name: str, **doc: Any
    ) -> HTTPRouteHandler:
        options = {"tags": TAGS, "responses": ERRORS, "dependencies": {"subject_id": subject.subject_id}}
        return method(f"{subject.base}/{suffix}", **options, **doc)(_named(fn, name.format(subject.name)))

    noun = subject.noun
    return [
        route(
            get,
            "certificates",
            certificates,
            "{}_certificates",
            summary=f"The {noun}'s certificates (staff)",
            description="Newest first; paged.",
            response_headers=LINK,
        ),
        route(get, "certificate-award", get_award, "get_{}_award", summary=f"The {noun}'s certificate award"),
        route(
            put,
            "certificate-award",
            put_award,
            "put_{}_award",
            summary=f"Set the {noun}'s certificate award (staff)",
            description=AWARD_TIMING,
        ),
    ]


@post(
    "/api/v1/certificates/{credential_id:uuid}/revoke",
    status_code=HTTP_200_OK,
    tags=TAGS,
    summary="Revoke a certificate (staff), with a reason",
    description="Sets its bit in the published status list; revoking again changes nothing.",
    responses=ERRORS,
)
async def revoke_certificate(
    certificate_service: Service, principal: Caller, credential_id: FromPath[uuid.UUID], data: JSONBody[Revoke]
) -> CertificateOut:
    credential = await certificate_service.revoke(principal, credential_id, data.reason)
    return _out(certificate_service, credential)


# -- public --------------------------------------------------------------------------------------


@get(
    "/api/v1/credentials/jwks.json",
    tags=TAGS,
    opt=OPEN,
    summary="The public keys that verify certificates (JWKS)",
    description="Every credential key, active and retired: none is removed while a credential may need it.",
)
async def credential_jwks(certificate_service: Service) -> Response[dict[str, Any]]:
    return Response(await certificate_service.jwks(), headers={"Cache-Control": "public, max-age=300"})


@get(
    "/api/v1/credentials/keys/{kid:str}",
    tags=TAGS,
    opt=OPEN,
    summary="One credential key (the JWK a credential's `kid` names)",
    responses=PUBLIC_ERRORS,
)
async def credential_key(certificate_service: Service, kid: FromPath[str]) -> Response[dict[str, Any]]:
    return Response(await certificate_service.jwk(kid), headers={"Cache-Control": "public, max-age=300"})


@get("/api/v1/credentials/issuer", tags=TAGS, opt=OPEN, summary="The issuer profile certificates name")
async def credential_issuer(certificate_service: Service) -> dict[str, Any]:
    return certificate_service.issuer_profile()


@get(
    "/api/v1/credentials/status/{list_number:int}",
    tags=TAGS,
    opt=OPEN,
    media_type=VC_JWT,
    summary="A revocation status list (a signed BitstringStatusListCredential, as a VC-JWT)",
    description="The W3C Bitstring Status List each credential's `credentialStatus` points at: "
    "131,072 bits, GZIP-compressed and base64url-encoded in `encodedList`; a set bit means revoked.",
    responses=PUBLIC_ERRORS,
)
async def status_list(
    certificate_service: Service,
    list_number: Annotated[int, PathParameter(ge=1, le=INT32_MAX, description="The status list's number (1, 2, ...)")],
) -> Response[str]:
    return Response(
        await certificate_service.status_list(list_number),
        media_type=VC_JWT,
        headers={"Cache-Control": "public, max-age=60"},
    )


@get(
    "/api/v1/credentials/{credential_id:uuid}",
    tags=TAGS,
    opt=OPEN,
    summary="Verify a certificate (its stable public URL)",
    description="The verification result (signature, revocation, expiry), the credential and its VC-JWT.",
    responses=PUBLIC_ERRORS,
)
async def verify_credential(certificate_service: Service, credential_id: FromPath[uuid.UUID]) -> VerificationOut:
    return _verification_out(certificate_service, await certificate_service.verify(credential_id))


@get(
    "/api/v1/credentials/{credential_id:uuid}/html",
    tags=TAGS,
    opt=OPEN,
    media_type=MediaType.HTML,
    summary="The certificate's printable page",
    responses=PUBLIC_ERRORS,
)
async def credential_html(certificate_service: Service, credential_id: FromPath[uuid.UUID]) -> Response[str]:
    page = await certificate_service.html(credential_id)
    return Response(page, media_type=MediaType.HTML, headers={"Content-Security-Policy": CSP_HEADER})


@get(
    "/api/v1/credentials/{credential_id:uuid}/pdf",
    tags=TAGS,
    opt=OPEN,
    media_type=PDF,
    summary="The certificate as a PDF",
    responses={
        **PUBLIC_ERRORS,
        200: ResponseSpec(data_container=bytes, media_type=PDF, description="The PDF", generate_examples=False),
    },
)
async def credential_pdf(certificate_service: Service, credential_id: FromPath[uuid.UUID]) -> Response[bytes]:
    document = await certificate_service.pdf(credential_id)
    return Response(
        document,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="certificate-{credential_id}.pdf"'},
    )


CERTIFICATE_HANDLERS = [
    my_certificates,
    *_subject_handlers(COURSE),
    *_subject_handlers(PATH),
    revoke_certificate,
    credential_jwks,
    credential_key,
    credential_issuer,
    status_list,
    verify_credential,
    credential_html,
    credential_pdf,
]
