"""The subscription module's tables.

The plan catalog: ``subscription_plans`` (one row per plan, never deleted: archived plans stay
readable for their subscribers) and ``subscription_plan_prices`` (one row per plan and currency, the
primary key holding "each currency at most once"). What a plan includes is a small JSON document: it is
read and written whole with its plan, never queried on its own.

Subscriptions: ``subscriptions`` (one row per subscription, the aggregate's fields; ``due_at`` indexed with
the status for the jobs' scan), ``subscription_seats`` (primary key subscription and user) and
``payment_methods`` (the gateway's method id, its customer and last four digits: no card data)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_adapters.sql.identity._tables import organization_members
from elearning_adapters.sql.learning_path import learning_paths
from elearning_core.billing.money import Money
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents
from elearning_core.subscription.model import Includes, Interval, Plan, PlanStatus, Status, Subscription
from elearning_core.subscription.ports import (
    CoursesOfPaths,
    Memberships,
    PlanStore,
    SavedMethod,
    SubscriptionKey,
    SubscriptionStore,
)

plans = Table(
    "subscription_plans",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("interval", String(10), nullable=False),
    Column("interval_count", Integer, nullable=False),
    Column("trial_days", Integer, nullable=False),
    Column("tax_inclusive", Boolean, nullable=False),
    Column("includes", JSON, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

plan_prices = Table(
    "subscription_plan_prices",
    metadata,
    Column("plan_id", Uuid, ForeignKey("subscription_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("amount", BigInteger, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("organization_id", Uuid, nullable=True),
    Column("plan_code", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("unit_amount", BigInteger, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("interval", String(10), nullable=False),
    Column("interval_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("anchor", UtcDateTime, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("period_start", UtcDateTime, nullable=False),
    Column("period_end", UtcDateTime, nullable=False),
    Column("paid_through", UtcDateTime, nullable=True),
    Column("customer_id", String(255), nullable=False),
    Column("payment_method_id", String(255), nullable=False),
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_retry_at", UtcDateTime, nullable=True),
    Column("pending_payment_id", String(255), nullable=True),
    Column("credit", BigInteger, nullable=False),
    Column("changes", Integer, nullable=False),
    Column("trial_notified", Boolean, nullable=False),
    Column("billing_name", String(200), nullable=False),
    Column("billing_country", String(2), nullable=False),
    Column("due_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
# The jobs' scan: what is due, by status (a partial index would be smaller; this one runs on SQLite too).
Index("ix_subscriptions_status_due_at", subscriptions.c.status, subscriptions.c.due_at)
# "My subscriptions" and "the organization's", newest first (keyset).
Index("ix_subscriptions_user_created", subscriptions.c.user_id, subscriptions.c.created_at, subscriptions.c.id)
Index("ix_subscriptions_org_created", subscriptions.c.organization_id, subscriptions.c.created_at, subscriptions.c.id)

subscription_seats = Table(
    "subscription_seats",
    metadata,
    Column("subscription_id", Uuid, ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("assigned_at", UtcDateTime, nullable=False),
)

payment_methods = Table(
    "payment_methods",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("provider", String(32), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("last4", String(4), nullable=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

SUBSCRIPTION_TABLES = (
    "payment_methods",
    "subscription_seats",
    "subscriptions",
    "subscription_plan_prices",
    "subscription_plans",
)


def _includes(includes: Includes) -> dict[str, Any]:
    return {
        "all_courses": includes.all_courses,
        "course_ids": [str(c) for c in includes.course_ids],
        "path_ids": [str(p) for p in includes.path_ids],
    }


def _plan(row: Any, prices: list[Money]) -> Plan:
    doc = row["includes"]
    return Plan(
        code=row["code"],
        name=row["name"],
        description=row["description"],
        interval=Interval(row["interval"]),
        interval_count=row["interval_count"],
        trial_days=row["trial_days"],
        prices=tuple(sorted(prices, key=lambda m: m.currency)),
        tax_inclusive=bool(row["tax_inclusive"]),
        includes=Includes(
            bool(doc["all_courses"]),
            tuple(uuid.UUID(c) for c in doc["course_ids"]),
            tuple(uuid.UUID(p) for p in doc["path_ids"]),
        ),
        status=PlanStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        id=row["id"],
    )


class SqlPlanStore(PlanStore):
    """The plans, on the unit of work's connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._recorded = EventLog()

    def record(self, event: DomainEvent) -> None:
        self._recorded.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._recorded]

    async def plan(self, code: str) -> Plan | None:
        found = await self._load(select(plans).where(plans.c.code == code))
        return found[0] if found else None

    async def plans(self, statuses: frozenset[PlanStatus], after: str | None, limit: int) -> list[Plan]:
        query = select(plans).where(plans.c.status.in_([s.value for s in statuses]))
        if after is not None:
            query = query.where(plans.c.code > after)
        return await self._load(query.order_by(plans.c.code).limit(limit))

    async def _load(self, query: Any) -> list[Plan]:
        rows = (await self._conn.execute(query)).mappings().all()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        prices: dict[uuid.UUID, list[Money]] = {i: [] for i in ids}
        for price in (await self._conn.execute(select(plan_prices).where(plan_prices.c.plan_id.in_(ids)))).all():
            prices[price.plan_id].append(Money(price.amount, price.currency))
        return [_plan(r, prices[r["id"]]) for r in rows]

    async def save(self, plan: Plan) -> None:
        values = {
            "name": plan.name,
            "description": plan.description,
            "interval": plan.interval.value,
            "interval_count": plan.interval_count,
            "trial_days": plan.trial_days,
            "tax_inclusive": plan.tax_inclusive,
            "includes": _includes(plan.includes),
            "status": plan.status.value,
            "updated_at": plan.updated_at,
        }
        changed = await self._conn.execute(update(plans).where(plans.c.id == plan.id).values(**values))
        if changed.rowcount == 0:
            await self._conn.execute(
                plans.insert().values(id=plan.id, code=plan.code, created_at=plan.created_at, **values)
            )
        await self._conn.execute(delete(plan_prices).where(plan_prices.c.plan_id == plan.id))
        await self._conn.execute(
            plan_prices.insert(),
            [{"plan_id": plan.id, "currency": p.currency, "amount": p.amount} for p in plan.prices],
        )


_SUB_FIELDS = (
    "id", "user_id", "organization_id", "plan_code", "currency", "unit_amount", "seats", "interval_count",
    "anchor", "cycle", "period_start", "period_end", "paid_through", "customer_id", "payment_method_id",
    "cancel_at_period_end", "ended_at", "attempts", "next_retry_at", "pending_payment_id", "credit", "changes",
    "trial_notified", "billing_name", "billing_country", "due_at", "created_at", "updated_at",
)  # fmt: skip


def _sub_row(sub: Subscription) -> dict[str, Any]:
    row = {name: getattr(sub, name) for name in _SUB_FIELDS}
    row["status"], row["interval"] = sub.status.value, sub.interval.value
    return row


def _sub(row: Any) -> Subscription:
    values = {name: row[name] for name in _SUB_FIELDS}
    values["cancel_at_period_end"] = bool(values["cancel_at_period_end"])
    values["trial_notified"] = bool(values["trial_notified"])
    return Subscription(status=Status(row["status"]), interval=Interval(row["interval"]), **values)


def _method(row: Any) -> SavedMethod:
    return SavedMethod(
        row.id, row.user_id, row.provider, row.customer_id, row.last4, bool(row.is_default), row.created_at
    )


class SqlSubscriptionStore(SubscriptionStore):
    """Subscriptions, seats and saved payment methods on the unit of work's connection. ``lock`` takes the
    row lock on PostgreSQL (SQLite serialises writing transactions already)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._loaded: list[Subscription] = []
        self._new: list[Subscription] = []

    def seen(self) -> list[RecordsEvents]:
        return [*self._new, *self._loaded]

    def add(self, subscription: Subscription) -> None:
        self._new.append(subscription)

    async def flush(self) -> None:
        """Insert the subscriptions added in this unit of work (before the outbox rows, at commit)."""
        new, self._new = self._new, []
        for sub in new:
            await self._conn.execute(subscriptions.insert().values(**_sub_row(sub)))
            self._loaded.append(sub)

    async def get(self, subscription_id: uuid.UUID) -> Subscription | None:
        row = (await self._conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
        return None if row is None else _sub(row._mapping)

    async def lock(self, subscription_id: uuid.UUID) -> Subscription | None:
        query = select(subscriptions).where(subscriptions.c.id == subscription_id)
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        sub = _sub(row._mapping)
        self._loaded.append(sub)
        return sub

    async def save(self, subscription: Subscription) -> None:
        values = _sub_row(subscription)
        del values["id"]
        await self._conn.execute(update(subscriptions).where(subscriptions.c.id == subscription.id).values(**values))

    async def due(
        self, now: datetime, statuses: frozenset[Status], after: uuid.UUID | None, limit: int
    ) -> list[uuid.UUID]:
        query = select(subscriptions.c.id).where(
            subscriptions.c.status.in_(sorted(s.value for s in statuses)),
            subscriptions.c.due_at <= now,
        )
        if after is not None:
            query = query.where(subscriptions.c.id > after)
        return list((await self._conn.execute(query.order_by(subscriptions.c.id).limit(limit))).scalars())

    async def listing(
        self,
        *,
        user_id: uuid.UUID | None,
        organization_id: uuid.UUID | None,
        status: Status | None,
        after: SubscriptionKey | None,
        limit: int,
    ) -> list[Subscription]:
        query = select(subscriptions)
        if user_id is not None:
            query = query.where(subscriptions.c.user_id == user_id)
        if organization_id is not None:
            query = query.where(subscriptions.c.organization_id == organization_id)
        if status is not None:
            query = query.where(subscriptions.c.status == status.value)
        if after is not None:
            query = query.where(tuple_(subscriptions.c.created_at, subscriptions.c.id) < tuple_(*after))
        query = query.order_by(subscriptions.c.created_at.desc(), subscriptions.c.id.desc()).limit(limit)
        return [_sub(r._mapping) for r in (await self._conn.execute(query)).all()]

    async def seats(
        self, subscription_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int | None = None
    ) -> list[uuid.UUID]:
        seats = subscription_seats
        query = select(seats.c.user_id).where(seats.c.subscription_id == subscription_id).order_by(seats.c.user_id)
        if after is not None:
            query = query.where(seats.c.user_id > after)
        if limit is not None:
            query = query.limit(limit)
        return list((await self._conn.execute(query)).scalars())

    async def add_seat(self, subscription_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        known = select(subscription_seats.c.user_id).where(
            subscription_seats.c.subscription_id == subscription_id, subscription_seats.c.user_id == user_id
        )
        if (await self._conn.execute(known)).first() is not None:
            return False
        await self._conn.execute(
            subscription_seats.insert().values(subscription_id=subscription_id, user_id=user_id, assigned_at=at)
        )
        return True

    async def remove_seat(self, subscription_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        gone = await self._conn.execute(
            delete(subscription_seats).where(
                subscription_seats.c.subscription_id == subscription_id, subscription_seats.c.user_id == user_id
            )
        )
        return bool(gone.rowcount)

    async def methods(self, user_id: uuid.UUID) -> list[SavedMethod]:
        query = (
            select(payment_methods)
            .where(payment_methods.c.user_id == user_id)
            .order_by(payment_methods.c.created_at, payment_methods.c.id)
        )
        return [_method(r) for r in (await self._conn.execute(query)).all()]

    async def add_method(self, method: SavedMethod) -> None:
        if method.is_default:
            await self._conn.execute(
                update(payment_methods).where(payment_methods.c.user_id == method.user_id).values(is_default=False)
            )
        await self._conn.execute(
            payment_methods.insert().values(
                id=method.id,
                user_id=method.user_id,
                provider=method.provider,
                customer_id=method.customer_id,
                last4=method.last4,
                is_default=method.is_default,
                created_at=method.created_at,
            )
        )

    async def remove_method(self, user_id: uuid.UUID, method_id: str) -> bool:
        gone = await self._conn.execute(
            delete(payment_methods).where(payment_methods.c.user_id == user_id, payment_methods.c.id == method_id)
        )
        return bool(gone.rowcount)


class SqlCoursesOfPaths(CoursesOfPaths):
    """The learning-path module's narrow read for plans that list paths: their courses now."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def courses_of_paths(self, path_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(learning_paths.c.parts).where(learning_paths.c.id.in_(path_ids)))).all()
        found: list[uuid.UUID] = []
        for row in rows:
            for part in row.parts:
                for course in part["course_ids"]:
                    if uuid.UUID(course) not in found:
                        found.append(uuid.UUID(course))
        return found


class SqlMemberships(Memberships):
    """The identity module's narrow read: organization membership."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def is_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        query = select(organization_members.c.user_id).where(
            organization_members.c.organization_id == organization_id, organization_members.c.user_id == user_id
        )
        async with self._db.read() as conn:
            return (await conn.execute(query)).first() is not None
