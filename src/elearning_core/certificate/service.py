"""The certificate use cases: awards (staff), issuing on completion, reissue on a name change,
revocation, the learner's and staff's lists, and the public verification and status list."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from elearning_core.auth.model import Permission, ResourceRef, ScopeKind
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.certificate.commands import AwardSettings
from elearning_core.certificate.model import (
    OB_CONTEXT,
    STATUS_LIST_SIZE,
    VC_CONTEXT,
    Award,
    Credential,
    CredentialState,
    CredentialUrls,
    Issuer,
    SubjectKind,
    credential_document,
    encode_status_list,
    jwt_claims,
    render_template,
    status_list_claims,
    status_list_document,
    template_problem,
)
from elearning_core.certificate.ports import (
    CertificateUnitOfWork,
    CredentialKey,
    CredentialVerifier,
    InvalidCredential,
    LearnerNames,
    SubjectTitles,
)
from elearning_core.entitlement.access import graded_refusal
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, iso_time, scope_of
from elearning_core.shared.ports import Policy, Principal, require

log = logging.getLogger(__name__)

NAME_CHANGED = "reissued: the learner's name changed"
NO_TITLE = "the {kind} {id} has no readable title: the certificate cannot be issued yet"


class CertificatePrinter(Protocol):
    """Renders a certificate's printable page (HTML) and its PDF."""

    def html(self, page: PrintablePage) -> str: ...

    def pdf(self, page: PrintablePage) -> bytes: ...


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    public_base_url: str
    issuer_name: str = "E-learning platform"

    @property
    def base(self) -> str:
        return self.public_base_url.rstrip("/")

    @property
    def issuer(self) -> Issuer:
        return Issuer(id=f"{self.base}/api/v1/credentials/issuer", name=self.issuer_name, url=self.base)

    def status_list_url(self, number: int) -> str:
        return f"{self.base}/api/v1/credentials/status/{number}"

    def credential_url(self, credential_id: uuid.UUID) -> str:
        return f"{self.base}/api/v1/credentials/{credential_id}"

    def urls(self, credential: Credential) -> CredentialUrls:
        segment = "courses" if credential.kind is SubjectKind.COURSE else "paths"
        return CredentialUrls(
            credential=self.credential_url(credential.id),
            achievement=f"{self.base}/api/v1/{segment}/{credential.subject_id}",
            status_list=self.status_list_url(credential.list_number),
        )


@dataclass(frozen=True, slots=True)
class Verification:
    """What the public verification URL answers."""

    credential: Credential
    state: CredentialState
    signature_valid: bool
    problem: str | None
    document: dict[str, Any]
    replaced_by: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class PrintablePage:
    credential: Credential
    state: CredentialState
    body_html: str
    verify_url: str
    issuer_name: str


class CertificateService:
    def __init__(
        self,
        uow: Callable[[], CertificateUnitOfWork],
        names: LearnerNames,
        titles: SubjectTitles,
        verifier: CredentialVerifier,
        printer: CertificatePrinter,
        resources: ResourceDirectory,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        config: CertificateConfig,
        access: AccessCheck | None = None,
    ) -> None:
        self._uow, self._names, self._titles, self._verifier = uow, names, titles, verifier
        self._printer, self._resources, self._clock, self._policy = printer, resources, clock, policy
        self._cursors, self.config = cursors, config
        # A course's certificate is graded work: the full track only (the entitlement check). Without it
        # (library callers, tests), every course is free.
        self._access = access

    def joined(self, uow: Callable[[], CertificateUnitOfWork]) -> CertificateService:
        """The same service over another unit-of-work factory (an event handler's own transaction)."""
        service = copy.copy(self)
        service._uow = uow
        return service

    # -- awards (staff) --------------------------------------------------------------------

    async def award(self, actor: Principal, kind: SubjectKind, subject_id: uuid.UUID) -> Award:
        await self._staff(actor, kind, subject_id)
        async with self._uow() as uow:
            return await uow.awards.get(kind, subject_id) or Award(kind, subject_id)

    async def set_award(
        self, actor: Principal, kind: SubjectKind, subject_id: uuid.UUID, settings: AwardSettings
    ) -> Award:
        await self._staff(actor, kind, subject_id)
        if settings.template is not None and (problem := template_problem(settings.template)) is not None:
            raise ValidationFailed(f"template: {problem}", [FieldError("template", problem)])
        award = Award(
            kind,
            subject_id,
            enabled=settings.enabled,
            available_from=settings.available_from,
            valid_days=settings.valid_days,
            template=settings.template,
            updated_at=self._clock.now(),
        )
        async with self._uow() as uow:
            await uow.awards.save(award)
            await uow.commit()
        return award

    # -- issuing (the subscription) ------------------------------------------------------------

    async def record_completion(
        self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID
    ) -> Credential | None:
        """A learner completed a course or path: issue its certificate if it awards one (once: a
        redelivered completion finds the active credential); keep it pending until ``available_from``."""
        async with self._uow() as uow:
            credential = await self._issue(uow, user_id, kind, subject_id, self._clock.now())
            await uow.commit()
        return credential

    async def record_profile_update(self, user_id: uuid.UUID, fields: list[str]) -> list[Credential]:
        """The learner's name changed: each active credential carrying the old name is revoked and a
        new one, linked to it (``replaces``), is issued with the new name."""
        if "display_name" not in fields:
            return []
        name = await self._names.name_of(user_id)
        if name is None:
            return []
        reissued: list[Credential] = []
        async with self._uow() as uow:
            now = self._clock.now()
            for old in await uow.credentials.active_of_user(user_id):
                if old.learner_name == name:
                    continue
                old.revoke(now, NAME_CHANGED, None)
                await uow.credentials.save(old)
                new = Credential(
                    id=new_uuid(),
                    user_id=user_id,
                    kind=old.kind,
                    subject_id=old.subject_id,
                    learner_name=name,
                    subject_title=old.subject_title,
                    status_index=await uow.credentials.next_status_index(),
                    issued_at=now,
                    valid_until=old.valid_until,
                    replaces=old.id,
                )
                await self._sign_and_add(uow, new)
                reissued.append(new)
            await uow.commit()
        return reissued

    async def issue_due(self, limit: int = 500) -> int:
        """Issue the pending completions whose award has become available; how many were issued.

        Run hourly by the scheduled job ``certificates.issue-due``, and by ``elearning certificates issue-due``."""
        issued = 0
        async with self._uow() as uow:
            due = await uow.pending_certificates.due(self._clock.now(), limit)
        for user_id, kind, subject_id in due:
            async with self._uow() as uow:
                if await self._issue(uow, user_id, kind, subject_id, self._clock.now()) is not None:
                    issued += 1
                await uow.commit()
        return issued

    async def _issue(
        self, uow: CertificateUnitOfWork, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID, now: datetime
    ) -> Credential | None:
        award = await uow.awards.get(kind, subject_id)
        if award is None or not award.enabled:
            await uow.pending_certificates.remove(user_id, kind, subject_id)
            return None
        if not award.issuable(now):
            await uow.pending_certificates.add(user_id, kind, subject_id, now)
            return None
        await uow.pending_certificates.remove(user_id, kind, subject_id)
        existing = await uow.credentials.active_for(user_id, kind, subject_id)
        if existing is not None:
            return existing
        if kind is SubjectKind.COURSE and self._access is not None:
            refusal = graded_refusal(await self._access.verdict(user_id, subject_id))
            if refusal is not None:
                # Not kept pending: the hourly job would find it again every hour. A learner who buys the full
                # track later gets the certificate with their next completion (or from staff).
                log.info("no certificate for user %s in course %s: %s", user_id, subject_id, refusal)
                return None
        name = await self._names.name_of(user_id)
        if name is None:
            log.info("no certificate for user %s: the account no longer exists", user_id)
            return None
        title = await self._titles.title_of(kind, subject_id)
        if title is None:
            raise Conflict(NO_TITLE.format(kind=kind.value, id=subject_id))
        credential = Credential(
            id=new_uuid(),
            user_id=user_id,
            kind=kind,
            subject_id=subject_id,
            learner_name=name,
            subject_title=title,
            status_index=await uow.credentials.next_status_index(),
            issued_at=now,
            valid_until=award.valid_until(now),
        )
        try:
            await self._sign_and_add(uow, credential)
        except Conflict:
            # Another delivery of a completion committed first (the unique indexes decided): that one stands.
            # A status bit taken by another learner's certificate instead fails this try (retried).
            winner = await uow.credentials.active_for(user_id, kind, subject_id)
            if winner is None:
                raise
            return winner
        return credential

    async def _sign_and_add(self, uow: CertificateUnitOfWork, credential: Credential) -> None:
        document = credential_document(credential, self.config.issuer, self.config.urls(credential))
        signed = await uow.credential_signer.sign(jwt_claims(document))
        credential.jwt, credential.kid = signed.jwt, signed.kid
        credential.issued()
        await uow.credentials.add(credential)

    # -- revocation and lists ----------------------------------------------------------------

    async def revoke(self, actor: Principal, credential_id: uuid.UUID, reason: str) -> Credential:
        async with self._uow() as uow:
            credential = await uow.credentials.get(credential_id)
            if credential is None:
                raise NotFound("credential", credential_id)
            await self._staff(actor, credential.kind, credential.subject_id)
            if credential.revoke(self._clock.now(), reason, actor.user_id):
                await uow.credentials.save(credential)
                await uow.commit()
        return credential

    async def mine(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Credential]:
        if actor.user_id is None:
            raise Unauthenticated("certificates belong to a user's sign-in")
        limit = check_page_size(limit)
        listing = scope_of("my-certificates", actor.user_id)
        after = self._cursors.after(listing, cursor, _key)
        async with self._uow() as uow:
            rows = await uow.credentials.of_user(actor.user_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, _key_of)

    async def of_subject(
        self,
        actor: Principal,
        kind: SubjectKind,
        subject_id: uuid.UUID,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Credential]:
        await self._staff(actor, kind, subject_id)
        limit = check_page_size(limit)
        listing = scope_of("certificates", kind.value, subject_id)
        after = self._cursors.after(listing, cursor, _key)
        async with self._uow() as uow:
            rows = await uow.credentials.of_subject(kind, subject_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, _key_of)

    # -- public ------------------------------------------------------------------------------

    async def verify(self, credential_id: uuid.UUID) -> Verification:
        async with self._uow() as uow:
            credential = await uow.credentials.get(credential_id)
            if credential is None:
                raise NotFound("credential", credential_id)
            replaced_by = await uow.credentials.replaced_by(credential_id)
        now = self._clock.now()
        problem = None
        try:
            document = await self._verifier.verify(credential.jwt)
            signature_valid = True
        except InvalidCredential as exc:
            document = credential_document(credential, self.config.issuer, self.config.urls(credential))
            signature_valid, problem = False, str(exc)
        state = credential.state(now)
        if problem is None and state is not CredentialState.VALID:
            problem = {
                CredentialState.REVOKED: f"revoked: {credential.revoked_reason}",
                CredentialState.EXPIRED: "expired",
                CredentialState.NOT_YET_VALID: "not valid yet",
            }[state]
        return Verification(credential, state, signature_valid, problem, document, replaced_by)

    async def printable(self, credential_id: uuid.UUID) -> PrintablePage:
        async with self._uow() as uow:
            credential = await uow.credentials.get(credential_id)
            if credential is None:
                raise NotFound("credential", credential_id)
            award = await uow.awards.get(credential.kind, credential.subject_id)
        verify_url = self.config.credential_url(credential.id)
        values = {
            "learner_name": credential.learner_name,
            "title": credential.subject_title,
            "kind": "course" if credential.kind is SubjectKind.COURSE else "learning path",
            "issued_on": credential.issued_at.date().isoformat(),
            "valid_until": f", valid until {credential.valid_until.date().isoformat()}"
            if credential.valid_until
            else "",
            "verify_url": verify_url,
            "issuer_name": self.config.issuer_name,
        }
        body = render_template(award.template if award else None, values)
        return PrintablePage(credential, credential.state(self._clock.now()), body, verify_url, self.config.issuer_name)

    async def html(self, credential_id: uuid.UUID) -> str:
        return self._printer.html(await self.printable(credential_id))

    async def pdf(self, credential_id: uuid.UUID) -> bytes:
        return self._printer.pdf(await self.printable(credential_id))

    async def status_list(self, number: int) -> str:
        """The signed ``BitstringStatusListCredential`` (a VC-JWT) of list ``number``."""
        if number < 1:
            raise NotFound("status list", number)
        async with self._uow() as uow:
            if number > 1 and (await uow.credentials.next_status_index()) <= (number - 1) * STATUS_LIST_SIZE:
                raise NotFound("status list", number)
            revoked = await uow.credentials.revoked_positions(number)
            url = self.config.status_list_url(number)
            document = status_list_document(url, self.config.issuer, encode_status_list(revoked), self._clock.now())
            signed = await uow.credential_signer.sign(status_list_claims(document))
            await uow.commit()  # the first credential key, when this created it
        return signed.jwt

    async def jwks(self) -> dict[str, Any]:
        return await self._verifier.jwks()

    async def jwk(self, kid: str) -> dict[str, Any]:
        key = await self._verifier.jwk(kid)
        if key is None:
            raise NotFound("credential key", kid)
        return key

    def issuer_profile(self) -> dict[str, Any]:
        issuer = self.config.issuer
        return {
            "@context": [VC_CONTEXT, OB_CONTEXT],
            "id": issuer.id,
            "type": ["Profile"],
            "name": issuer.name,
            "url": issuer.url,
        }

    # -- helpers -----------------------------------------------------------------------------

    async def _staff(self, actor: Principal, kind: SubjectKind, subject_id: uuid.UUID) -> None:
        """Course awards: the course's editors (404 when the course is unknown); path awards: the
        platform's course editors (paths have no scope of their own in the role policy yet)."""
        if kind is SubjectKind.COURSE:
            ref = await self._resources.course(subject_id)
            if ref is None:
                raise NotFound("course", subject_id)
        else:
            ref = ResourceRef(ScopeKind.PLATFORM)
        require(self._policy, actor, Permission.COURSE_EDIT, ref)


def _key(key: list[Any]) -> CredentialKey:
    at, credential_id = key
    return datetime.fromisoformat(str(at)), uuid.UUID(str(credential_id))


def _key_of(credential: Credential) -> list[Any]:
    return [iso_time(credential.issued_at), str(credential.id)]
