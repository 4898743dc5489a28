"""The plan catalog's tables: ``subscription_plans`` (one row per plan, never deleted: archived plans stay
readable for their subscribers) and ``subscription_plan_prices`` (one row per plan and currency, the
primary key holding "each currency at most once"). What a plan includes is a small JSON document: it is
read and written whole with its plan, never queried on its own."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import UtcDateTime, metadata
from elearning_core.billing.money import Money
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents
from elearning_core.subscription.model import Includes, Interval, Plan, PlanStatus
from elearning_core.subscription.ports import PlanStore

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

SUBSCRIPTION_TABLES = ("subscription_plan_prices", "subscription_plans")


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
