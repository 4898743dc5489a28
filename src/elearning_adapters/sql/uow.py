"""The SQL unit of work: one transaction, every module's repositories, and the outbox."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from elearning_adapters.sql import commit_hooks
from elearning_adapters.sql.assessment import (
    ATTEMPT_EXISTS,
    SqlAttemptRepository,
    SqlGradeRepository,
    SqlQuestionRepository,
    SqlQuizRepository,
    is_attempt_key_violation,
)
from elearning_adapters.sql.attachment import SqlAttachmentStore
from elearning_adapters.sql.billing import (
    SqlCreditNoteRepository,
    SqlInvoiceNumbers,
    SqlInvoiceRepository,
    SqlLedger,
)
from elearning_adapters.sql.certificate import (
    ACTIVE_EXISTS,
    SqlAwardRepository,
    SqlCredentialKeys,
    SqlCredentialRepository,
    SqlCredentialSigner,
    SqlPendingCompletions,
)
from elearning_adapters.sql.checkout import SqlBillingProfiles, SqlCouponStore, SqlOrderStore, SqlPriceStore
from elearning_adapters.sql.course import SqlCourseRepository
from elearning_adapters.sql.deadlines import deadline_error
from elearning_adapters.sql.discussion import SqlDiscussionStore
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import (
    ALREADY_ENROLLED,
    COHORT_NAME_TAKEN,
    SqlCohortRepository,
    SqlEnrollmentRepository,
    SqlEnrollmentSettingsRepository,
    SqlSeatHoldRepository,
)
from elearning_adapters.sql.entitlement import SqlEntitlementStore
from elearning_adapters.sql.identity import (
    ORGANIZATION_SLUG_TAKEN,
    SqlExternalIdentityRepository,
    SqlOneTimeTokenRepository,
    SqlOrganizationRepository,
    SqlPendingLoginRepository,
    SqlSessionRepository,
    SqlUserRepository,
)
from elearning_adapters.sql.learning_path import (
    SqlCourseCompletionRepository,
    SqlLearningPathRepository,
    SqlPathEnrollmentRepository,
)
from elearning_adapters.sql.outbox import append_to_outbox
from elearning_adapters.sql.payment import SqlPaymentRecords, SqlWebhookInbox
from elearning_adapters.sql.progress import SqlProgressRepository
from elearning_adapters.sql.subscription import SqlPlanStore, SqlSubscriptionStore
from elearning_adapters.sql.video import (
    SqlCaptionRepository,
    SqlPlaybackPositionRepository,
    SqlUploadRepository,
    SqlVideoRepository,
)
from elearning_core.assessment.ports import AssessmentUnitOfWork, AttemptExists
from elearning_core.attachment.ports import AttachmentUnitOfWork
from elearning_core.auth.ports import AuthUnitOfWork
from elearning_core.billing.ports import BillingUnitOfWork
from elearning_core.certificate.ports import CertificateUnitOfWork
from elearning_core.checkout.ports import CheckoutUnitOfWork
from elearning_core.course.ports import CourseUnitOfWork
from elearning_core.discussion.ports import DiscussionUnitOfWork
from elearning_core.enrollment.ports import EnrollmentUnitOfWork
from elearning_core.learning_path.ports import LearningPathUnitOfWork
from elearning_core.payment.ports import PaymentUnitOfWork
from elearning_core.progress.ports import ProgressUnitOfWork
from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent
from elearning_core.subscription.ports import SubscriptionUnitOfWork
from elearning_core.video.ports import VideoUnitOfWork

log = logging.getLogger(__name__)

AfterCommit = Callable[[Sequence[DomainEvent]], Awaitable[None]]


class _Aggregate(Protocol):
    """What the unit of work needs of every aggregate a repository loaded or added: its events."""

    @property
    def pending_events(self) -> list[DomainEvent]: ...

    def pull_events(self) -> list[DomainEvent]: ...


class SqlUnitOfWork(
    CheckoutUnitOfWork,
    CourseUnitOfWork,
    AuthUnitOfWork,
    EnrollmentUnitOfWork,
    VideoUnitOfWork,
    AssessmentUnitOfWork,
    ProgressUnitOfWork,
    LearningPathUnitOfWork,
    CertificateUnitOfWork,
    PaymentUnitOfWork,
    BillingUnitOfWork,
    SubscriptionUnitOfWork,  # includes EntitlementUnitOfWork and PlanUnitOfWork
    DiscussionUnitOfWork,
    AttachmentUnitOfWork,
):
    """Serves every module's unit-of-work view from one connection and transaction.

    ``commit()`` flushes the repositories, appends the events of every aggregate
    they loaded or added to the outbox, and commits all of it at once. Leaving
    the block without committing rolls back and writes nothing.

    ``after_commit`` sees the committed events in this process, right after
    the commit: it wakes the in-process transport and drops this process's
    cache entries, so a writer reads its own writes at once. It is an
    optimisation only; the outbox and its consumers remain what makes every
    other process see the change, and its failure never fails the commit.

    ``SqlUnitOfWork.joining(conn)`` serves an event handler: it works in a
    savepoint of the transaction the dispatcher opened on ``conn`` (with the
    inbox rows of the batch) instead of a transaction of its own. Its
    ``commit()`` flushes the repositories, appends the events to the outbox and
    releases the savepoint; the dispatcher commits everything at once, and the
    after-commit hook runs after that real commit (``commit_hooks``), never if
    the batch rolls back. Leaving the block without ``commit()`` (or
    ``rollback()``) undoes the unit's work to its savepoint and nothing else, so
    a handler may refuse one step (one course of a path) and keep the others.
    """

    courses: SqlCourseRepository
    users: SqlUserRepository
    organizations: SqlOrganizationRepository
    one_time_tokens: SqlOneTimeTokenRepository
    external_identities: SqlExternalIdentityRepository
    sessions: SqlSessionRepository
    pending_logins: SqlPendingLoginRepository
    videos: SqlVideoRepository
    video_uploads: SqlUploadRepository
    video_captions: SqlCaptionRepository
    playback_positions: SqlPlaybackPositionRepository
    enrollment_settings: SqlEnrollmentSettingsRepository
    cohorts: SqlCohortRepository
    enrollments: SqlEnrollmentRepository
    seat_holds: SqlSeatHoldRepository
    questions: SqlQuestionRepository
    quizzes: SqlQuizRepository
    attempts: SqlAttemptRepository
    grades: SqlGradeRepository
    progress: SqlProgressRepository
    learning_paths: SqlLearningPathRepository
    path_enrollments: SqlPathEnrollmentRepository
    course_completions: SqlCourseCompletionRepository
    awards: SqlAwardRepository
    credentials: SqlCredentialRepository
    pending_certificates: SqlPendingCompletions
    credential_signer: SqlCredentialSigner
    payment_webhooks: SqlWebhookInbox
    payment_records: SqlPaymentRecords
    invoices: SqlInvoiceRepository
    credit_notes: SqlCreditNoteRepository
    invoice_numbers: SqlInvoiceNumbers
    ledger: SqlLedger
    entitlements: SqlEntitlementStore
    plans: SqlPlanStore
    discussion: SqlDiscussionStore
    subscriptions: SqlSubscriptionStore
    prices: SqlPriceStore
    billing_profiles: SqlBillingProfiles
    coupons: SqlCouponStore
    orders: SqlOrderStore
    attachments: SqlAttachmentStore

    def __init__(
        self,
        db: Database | None,
        after_commit: AfterCommit | None = None,
        *,
        connection: AsyncConnection | None = None,
        credential_keys: SqlCredentialKeys | None = None,
    ) -> None:
        if db is None and connection is None:
            raise ValueError("a unit of work needs a database, or a connection to join")
        self._db = db
        self._credential_keys = credential_keys  # the certificate module's signer signs with these
        self._after_commit = after_commit
        self._joined = connection
        self._savepoint: AsyncTransaction | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: AsyncConnection | None = None

    @classmethod
    def joining(
        cls,
        connection: AsyncConnection,
        after_commit: AfterCommit | None = None,
        *,
        credential_keys: SqlCredentialKeys | None = None,
    ) -> SqlUnitOfWork:
        """A unit of work inside the transaction already begun on ``connection`` (an event handler's)."""
        return cls(None, after_commit, connection=connection, credential_keys=credential_keys)

    @property
    def joined(self) -> bool:
        return self._joined is not None

    @property
    def connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._conn

    async def __aenter__(self) -> Self:
        if self._joined is not None:
            if not self._joined.in_transaction():
                raise RuntimeError("a joined unit of work needs the transaction of its connection begun")
            self._conn = self._joined
            self._savepoint = await self._joined.begin_nested()
            self._open_repositories(self._joined)
            return self
        assert self._db is not None
        self._stack = contextlib.AsyncExitStack()
        self._conn = await self._stack.enter_async_context(self._db.write())
        try:
            await self._conn.begin()
            await self._db.apply_budget(self._conn)
        except BaseException as exc:
            # __aexit__ will not run: give the connection (and SQLite's in-process write lock) back now.
            stack, self._stack, self._conn = self._stack, None, None
            await stack.aclose()
            translated = deadline_error(exc) if isinstance(exc, Exception) else None
            if translated is None:
                raise
            raise translated from exc
        self._open_repositories(self._conn)
        return self

    def _open_repositories(self, conn: AsyncConnection) -> None:
        """Every module's repositories, on ``conn``."""
        self.courses = SqlCourseRepository(conn)
        self.users = SqlUserRepository(conn)
        self.organizations = SqlOrganizationRepository(conn)
        self.one_time_tokens = SqlOneTimeTokenRepository(conn)
        self.external_identities = SqlExternalIdentityRepository(conn)
        self.sessions = SqlSessionRepository(conn)
        self.pending_logins = SqlPendingLoginRepository(conn)
        self.videos = SqlVideoRepository(conn)
        self.video_uploads = SqlUploadRepository(conn)
        self.video_captions = SqlCaptionRepository(conn)
        self.playback_positions = SqlPlaybackPositionRepository(conn)
        self.enrollment_settings = SqlEnrollmentSettingsRepository(conn)
        self.cohorts = SqlCohortRepository(conn)
        self.enrollments = SqlEnrollmentRepository(conn)
        self.seat_holds = SqlSeatHoldRepository(conn)
        self.questions = SqlQuestionRepository(conn)
        self.quizzes = SqlQuizRepository(conn)
        self.attempts = SqlAttemptRepository(conn)
        self.grades = SqlGradeRepository(conn)
        self.progress = SqlProgressRepository(conn)
        self.learning_paths = SqlLearningPathRepository(conn)
        self.path_enrollments = SqlPathEnrollmentRepository(conn)
        self.course_completions = SqlCourseCompletionRepository(conn)
        self.awards = SqlAwardRepository(conn)
        self.credentials = SqlCredentialRepository(conn)
        self.pending_certificates = SqlPendingCompletions(conn)
        self.credential_signer = SqlCredentialSigner(self._credential_keys, conn)
        self.payment_webhooks = SqlWebhookInbox(conn)
        self.payment_records = SqlPaymentRecords(conn)
        self.invoices = SqlInvoiceRepository(conn)
        self.credit_notes = SqlCreditNoteRepository(conn)
        self.invoice_numbers = SqlInvoiceNumbers(conn)
        self.ledger = SqlLedger(conn)
        self.entitlements = SqlEntitlementStore(conn)
        self.plans = SqlPlanStore(conn)
        self.discussion = SqlDiscussionStore(conn)
        self.subscriptions = SqlSubscriptionStore(conn)
        self.prices = SqlPriceStore(conn)
        self.billing_profiles = SqlBillingProfiles(conn)
        self.coupons = SqlCouponStore(conn)
        self.orders = SqlOrderStore(conn)
        self.attachments = SqlAttachmentStore(conn)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._joined is not None:
            # The transaction is its owner's; what this unit did without committing is undone to its savepoint.
            savepoint, self._savepoint, self._conn = self._savepoint, None, None
            if savepoint is not None and savepoint.is_active:
                await savepoint.rollback()
            return
        try:
            if self._conn is not None and self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            stack, self._stack, self._conn = self._stack, None, None
            if stack is not None:
                await stack.aclose()
        # A statement, lock wait or checkout past its deadline: rolled back above, reported as what ran out.
        translated = deadline_error(exc) if isinstance(exc, Exception) else None
        if translated is not None:
            raise translated from exc

    async def commit(self) -> None:
        conn = self.connection
        aggregates: list[_Aggregate] = [*self.courses.seen(), *self.users.seen(), *self.organizations.seen()]
        aggregates.extend(self.videos.seen())
        aggregates.extend(self.enrollments.seen())
        aggregates.extend([*self.questions.seen(), *self.quizzes.seen(), *self.attempts.seen()])
        aggregates.extend(self.progress.seen())
        aggregates.extend([*self.learning_paths.seen(), *self.path_enrollments.seen()])
        aggregates.extend(self.credentials.seen())  # written when added (their conflicts are found there)
        aggregates.extend(self.payment_records.seen())  # written when saved
        aggregates.extend([*self.invoices.seen(), *self.credit_notes.seen()])  # written when added, too
        aggregates.extend(self.entitlements.seen())  # written when changed
        aggregates.extend(self.plans.seen())  # written when saved
        aggregates.extend(self.discussion.seen())  # written when changed
        aggregates.extend(self.subscriptions.seen())  # new ones written at commit, changes when saved
        aggregates.extend(self.orders.seen())  # written when saved
        aggregates.extend(self.attachments.seen())  # written when added or deleted
        try:
            await self.courses.flush()
            await self.users.flush()
            await self.organizations.flush()
            await self.videos.flush()
            await self.enrollments.flush()
            await self.questions.flush()
            await self.quizzes.flush()
            await self.attempts.flush()
            await self.learning_paths.flush()
            await self.path_enrollments.flush()
            await self.subscriptions.flush()
            await append_to_outbox(conn, [e for a in aggregates for e in a.pending_events])
            await self._end_transaction(commit=True)
        except IntegrityError as exc:
            await self._end_transaction(commit=False)
            if is_attempt_key_violation(exc):
                raise AttemptExists(ATTEMPT_EXISTS) from None
            raise Conflict(_integrity_message(exc)) from None
        events = [e for a in aggregates for e in a.pull_events()]
        if events and self._after_commit is not None and self._joined is not None:
            after_commit = self._after_commit
            commit_hooks.defer(conn, lambda: after_commit(events))
        elif events and self._after_commit is not None:
            try:
                await self._after_commit(events)
            except Exception:
                log.exception("after-commit hook failed; the events are in the outbox all the same")

    async def rollback(self) -> None:
        await self._end_transaction(commit=False)

    async def _end_transaction(self, *, commit: bool) -> None:
        """Commit or roll back the unit's transaction; a joined unit ends only its savepoint."""
        if self._joined is not None:
            savepoint, self._savepoint = self._savepoint, None
            if savepoint is not None and savepoint.is_active:
                await (savepoint.commit() if commit else savepoint.rollback())
            return
        conn = self.connection
        await (conn.commit() if commit else conn.rollback())


def _integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig).lower()
    if "email_key" in text:
        return "an account with this email already exists"
    if "enrollments" in text and "user_id" in text:
        return ALREADY_ENROLLED
    if "cohorts" in text and "name" in text:
        return COHORT_NAME_TAKEN
    if "organizations" in text and "slug" in text:
        return ORGANIZATION_SLUG_TAKEN
    if "learning_paths" in text and "slug" in text:
        return "slug is already taken by another learning path"
    if "path_enrollments" in text:
        return "the learner is already enrolled in this learning path"
    if "credentials" in text and "status_index" not in text:
        return ACTIVE_EXISTS
    if "slug" in text:
        return "slug is already taken by another course"
    return "the change conflicts with existing data"
