"""The plan catalog's use cases: import (create or update plans from specs, all checked before any write),
list and read. The public sees active plans only; staff with billing.manage see every status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from elearning_core.auth.model import Permission
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.billing.money import Money
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of
from elearning_core.shared.ports import Policy, Principal, require
from elearning_core.subscription.commands import PlanSpec
from elearning_core.subscription.events import PlanArchived, PlanChanged, PlanPublished
from elearning_core.subscription.model import Includes, Plan, PlanStatus, check_transition
from elearning_core.subscription.ports import PlanUnitOfWork

MANAGE = Permission.BILLING_MANAGE
PUBLIC = frozenset({PlanStatus.ACTIVE})
EVERY_STATUS = frozenset(PlanStatus)


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: list[str]
    changed: list[str]
    unchanged: list[str]


def _event(before: Plan | None, after: Plan) -> type[PlanPublished | PlanChanged | PlanArchived] | None:
    """The event of a change, if others should hear of it (drafts are nobody's business but the staff's)."""
    was = before.status if before is not None else None
    if after.status is PlanStatus.ACTIVE and was is not PlanStatus.ACTIVE:
        return PlanPublished
    if after.status is PlanStatus.ARCHIVED and was is not PlanStatus.ARCHIVED:
        return PlanArchived if was is not None else None
    if after.status is not PlanStatus.DRAFT:
        return PlanChanged
    return None


class PlanService:
    def __init__(
        self,
        uow: Callable[[], PlanUnitOfWork],
        resources: ResourceDirectory,
        policy: Policy,
        clock: Clock,
        cursors: CursorCodec,
    ) -> None:
        self._uow, self._resources, self._policy = uow, resources, policy
        self._clock, self._cursors = clock, cursors

    async def import_plans(
        self,
        actor: Principal,
        specs: Sequence[PlanSpec],
        *,
        dry_run: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Create or update each plan by code. Every record is checked (codes unique in the file, listed
        courses exist, no published plan back to draft) before anything is written; a record equal to the
        stored plan is left alone, so importing the same file twice changes nothing."""
        require(self._policy, actor, MANAGE)
        await self._check(specs)
        now = self._clock.now()
        result = ImportResult([], [], [])
        async with self._uow() as uow:
            for index, spec in enumerate(specs):
                before = await uow.plans.plan(spec.code)
                _check_status(index, spec, before)
                after = _plan(spec, before, now)
                if before is not None and before.same_terms(after):
                    result.unchanged.append(spec.code)
                else:
                    (result.created if before is None else result.changed).append(spec.code)
                    await uow.plans.save(after)
                    event = _event(before, after)
                    if event is not None:
                        uow.plans.record(event.of(after, now))
                if on_progress is not None:
                    on_progress(index + 1)
            if not dry_run:
                await uow.commit()
        return result

    async def plans(
        self,
        actor: Principal,
        *,
        status: PlanStatus | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Plan]:
        """Plans in code order: active ones to anyone; any status (or the one asked) to billing managers."""
        limit = check_page_size(limit)
        staff = self._policy.authorize(actor, MANAGE).allowed
        if status is not None and status is not PlanStatus.ACTIVE:
            require(self._policy, actor, MANAGE)
        statuses = frozenset({status}) if status is not None else (EVERY_STATUS if staff else PUBLIC)
        listing = scope_of("plans", *sorted(statuses))
        after = self._cursors.after(listing, cursor, lambda key: str(key[0]))
        async with self._uow() as uow:
            rows = await uow.plans.plans(statuses, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda plan: [plan.code])

    async def plan(self, actor: Principal, code: str) -> Plan:
        """One plan: unknown and non-active plans are not found for anyone but billing managers."""
        async with self._uow() as uow:
            found = await uow.plans.plan(code)
        visible = found is not None and (
            found.status is PlanStatus.ACTIVE or self._policy.authorize(actor, MANAGE).allowed
        )
        if found is None or not visible:
            raise NotFound("plan", code)
        return found

    async def _check(self, specs: Sequence[PlanSpec]) -> None:
        problems: list[tuple[int, str, str]] = []
        first: dict[str, int] = {}
        for index, spec in enumerate(specs):
            if spec.code in first:
                problems.append((index, "code", f"repeats the code of record {first[spec.code]}"))
            first.setdefault(spec.code, index)
            for position, course_id in enumerate(spec.includes.course_ids):
                if await self._resources.course(course_id) is None:
                    problems.append((index, f"includes.course_ids[{position}]", f"no course {course_id}"))
        if problems:
            raise _invalid(problems)


def _invalid(problems: list[tuple[int, str, str]]) -> ValidationFailed:
    """The first problem as the one-line detail ("record 3: code: ..."), every one as a field error."""
    index, field, message = problems[0]
    errors = [FieldError(f"[{i}].{f}", m) for i, f, m in problems]
    return ValidationFailed(f"record {index}: {field}: {message}", errors)


def _check_status(index: int, spec: PlanSpec, before: Plan | None) -> None:
    try:
        check_transition(spec.code, before.status if before is not None else None, spec.status)
    except ValueError as exc:
        raise _invalid([(index, "status", str(exc))]) from None


def _plan(spec: PlanSpec, before: Plan | None, now: datetime) -> Plan:
    return Plan(
        code=spec.code,
        name=spec.name,
        description=spec.description,
        interval=spec.interval,
        interval_count=spec.interval_count,
        trial_days=spec.trial_days,
        prices=tuple(sorted((Money(p.amount, p.currency) for p in spec.prices), key=lambda m: m.currency)),
        tax_inclusive=spec.tax_inclusive,
        includes=Includes(spec.includes.all_courses, tuple(spec.includes.course_ids), tuple(spec.includes.path_ids)),
        status=spec.status,
        created_at=before.created_at if before is not None else now,
        updated_at=now,
        id=before.id if before is not None else new_uuid(),
    )
