"""The checkout tables: one-time prices, billing profiles, coupons and their redemptions, orders.

Coupons: ``redeem`` is one conditional UPDATE (``redeemed < max_redemptions``) after ``lock`` took the
coupon's row (PostgreSQL ``FOR UPDATE``; SQLite serialises writers), and inserts the redemption row in the
same transaction as the order, so a limit of N gives exactly N redemptions however many checkouts race,
and the per-customer count is read under that lock. Orders are rows written whole (``save``) under their
row lock (``lock``), which serialises the saga's steps of one order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql import commit_hooks
from elearning_adapters.sql.billing import profile_document, profile_of
from elearning_adapters.sql.engine import Database, UtcDateTime, dialect_insert, metadata
from elearning_core.billing.model import BillingProfile
from elearning_core.billing.ports import BillingProfiles
from elearning_core.checkout.model import Coupon, ItemKind, ItemPrices, Order, OrderStatus
from elearning_core.checkout.ports import (
    CouponStore,
    JoinedWork,
    OrderKey,
    OrderStore,
    PriceStore,
    T,
    Transactions,
)
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents

if TYPE_CHECKING:
    from elearning_adapters.sql.uow import SqlUnitOfWork

item_prices = Table(
    "item_prices",
    metadata,
    Column("item_kind", String(10), nullable=False),
    Column("item_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("tax_inclusive", Boolean, nullable=False),
    PrimaryKeyConstraint("item_kind", "item_id", "currency"),
)

billing_profiles = Table(
    "billing_profiles",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("profile", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

coupons = Table(
    "coupons",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("percent_off", Integer, nullable=True),
    Column("amounts_off", JSON, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("max_redemptions", Integer, nullable=True),
    Column("per_customer", Integer, nullable=True),
    Column("items", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("redeemed", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

coupon_redemptions = Table(
    "coupon_redemptions",
    metadata,
    Column("code", String(40), nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    PrimaryKeyConstraint("code", "order_id"),
)
Index("ix_coupon_redemptions_code_customer_id", coupon_redemptions.c.code, coupon_redemptions.c.customer_id)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, nullable=False),
    Column("item_kind", String(10), nullable=False),
    Column("item_id", Uuid, nullable=False),
    Column("course_ids", JSON, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("tax_rate_bp", Integer, nullable=False),
    Column("tax_inclusive", Boolean, nullable=False),
    Column("coupon_code", String(40), nullable=True),
    Column("status", String(20), nullable=False),
    Column("request_key", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("hold_until", UtcDateTime, nullable=True),
    Column("seat_held", Boolean, nullable=False),
    Column("payment_id", String(255), nullable=True),
    Column("client_secret", String(255), nullable=True),
    Column("next_action", String(100), nullable=True),
    Column("decline_code", String(100), nullable=True),
    Column("invoice_id", Uuid, nullable=True),
    Column("refunded", BigInteger, nullable=False),
    Column("refund_owed", Boolean, nullable=False),
    Column("note", String(500), nullable=False),
)
# A retried checkout request finds its order; "my orders" newest first; the hold-expiry job's scan.
Index("ix_orders_customer_id_request_key", orders.c.customer_id, orders.c.request_key, unique=True)
Index("ix_orders_customer_id_created_at_id", orders.c.customer_id, orders.c.created_at, orders.c.id)
Index("ix_orders_created_at_id", orders.c.created_at, orders.c.id)
Index("ix_orders_status_hold_until", orders.c.status, orders.c.hold_until)

CHECKOUT_TABLES = ("orders", "coupon_redemptions", "coupons", "billing_profiles", "item_prices")


def _locking(conn: AsyncConnection, query: Any) -> Any:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


class SqlPriceStore(PriceStore):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, kind: ItemKind, item_id: uuid.UUID) -> ItemPrices | None:
        query = select(item_prices).where(item_prices.c.item_kind == kind.value, item_prices.c.item_id == item_id)
        rows = (await self._conn.execute(query)).all()
        if not rows:
            return None
        return ItemPrices(kind, item_id, {r.currency: r.amount for r in rows}, rows[0].tax_inclusive)

    async def save(self, prices: ItemPrices) -> None:
        key = and_(item_prices.c.item_kind == prices.kind.value, item_prices.c.item_id == prices.item_id)
        await self._conn.execute(delete(item_prices).where(key))
        if prices.amounts:
            await self._conn.execute(
                item_prices.insert(),
                [
                    {
                        "item_kind": prices.kind.value,
                        "item_id": prices.item_id,
                        "currency": currency,
                        "amount": amount,
                        "tax_inclusive": prices.tax_inclusive,
                    }
                    for currency, amount in sorted(prices.amounts.items())
                ],
            )


class SqlBillingProfiles(BillingProfiles):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, user_id: uuid.UUID) -> BillingProfile | None:
        row = (await self._conn.execute(select(billing_profiles).where(billing_profiles.c.user_id == user_id))).first()
        return None if row is None else profile_of(row.profile)

    async def save(self, user_id: uuid.UUID, profile: BillingProfile, at: datetime) -> None:
        values = {"profile": profile_document(profile), "updated_at": at}
        statement = dialect_insert(self._conn, billing_profiles).values(user_id=user_id, **values)
        await self._conn.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))


def _coupon(row: Any) -> Coupon:
    return Coupon(
        code=row.code,
        percent_off=row.percent_off,
        amounts_off=dict(row.amounts_off),
        expires_at=row.expires_at,
        max_redemptions=row.max_redemptions,
        per_customer=row.per_customer,
        items=tuple(uuid.UUID(i) for i in row.items),
        active=row.active,
        redeemed=row.redeemed,
        created_at=row.created_at,
    )


class SqlCouponStore(CouponStore):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, coupon: Coupon) -> None:
        await self._conn.execute(
            coupons.insert().values(
                code=coupon.code,
                percent_off=coupon.percent_off,
                amounts_off=coupon.amounts_off,
                expires_at=coupon.expires_at,
                max_redemptions=coupon.max_redemptions,
                per_customer=coupon.per_customer,
                items=[str(i) for i in coupon.items],
                active=coupon.active,
                redeemed=coupon.redeemed,
                created_at=coupon.created_at,
            )
        )

    async def get(self, code: str) -> Coupon | None:
        row = (await self._conn.execute(select(coupons).where(coupons.c.code == code))).first()
        return None if row is None else _coupon(row)

    async def lock(self, code: str) -> Coupon | None:
        query = _locking(self._conn, select(coupons).where(coupons.c.code == code))
        row = (await self._conn.execute(query)).first()
        return None if row is None else _coupon(row)

    async def list(self, after: str | None, limit: int) -> list[Coupon]:
        query = select(coupons).order_by(coupons.c.code).limit(limit)
        if after is not None:
            query = query.where(coupons.c.code > after)
        return [_coupon(r) for r in (await self._conn.execute(query)).all()]

    async def deactivate(self, code: str) -> bool:
        result = await self._conn.execute(update(coupons).where(coupons.c.code == code).values(active=False))
        return bool(result.rowcount)

    async def used_by(self, code: str, customer_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            coupon_redemptions.c.code == code, coupon_redemptions.c.customer_id == customer_id
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def redeem(self, code: str, customer_id: uuid.UUID, order_id: uuid.UUID) -> bool:
        result = await self._conn.execute(
            update(coupons)
            .where(
                coupons.c.code == code,
                coupons.c.active.is_(True),
                or_(coupons.c.max_redemptions.is_(None), coupons.c.redeemed < coupons.c.max_redemptions),
            )
            .values(redeemed=coupons.c.redeemed + 1)
        )
        if not result.rowcount:
            return False
        await self._conn.execute(
            coupon_redemptions.insert().values(code=code, order_id=order_id, customer_id=customer_id)
        )
        return True

    async def give_back(self, code: str, order_id: uuid.UUID) -> bool:
        result = await self._conn.execute(
            delete(coupon_redemptions).where(
                coupon_redemptions.c.code == code, coupon_redemptions.c.order_id == order_id
            )
        )
        if not result.rowcount:
            return False
        await self._conn.execute(
            update(coupons)
            .where(coupons.c.code == code, coupons.c.redeemed > 0)
            .values(redeemed=coupons.c.redeemed - 1)
        )
        return True


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "item_kind": order.item_kind.value,
        "item_id": order.item_id,
        "course_ids": [str(c) for c in order.course_ids],
        "currency": order.currency,
        "price": order.price,
        "discount": order.discount,
        "net": order.net,
        "tax": order.tax,
        "total": order.total,
        "tax_rate_bp": order.tax_rate_bp,
        "tax_inclusive": order.tax_inclusive,
        "coupon_code": order.coupon_code,
        "status": order.status.value,
        "request_key": order.request_key,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "hold_until": order.hold_until,
        "seat_held": order.seat_held,
        "payment_id": order.payment_id,
        "client_secret": order.client_secret,
        "next_action": order.next_action,
        "decline_code": order.decline_code,
        "invoice_id": order.invoice_id,
        "refunded": order.refunded,
        "refund_owed": order.refund_owed,
        "note": order.note[:500],
    }


def _order(row: Any) -> Order:
    return Order(
        id=row.id,
        customer_id=row.customer_id,
        item_kind=ItemKind(row.item_kind),
        item_id=row.item_id,
        course_ids=tuple(uuid.UUID(c) for c in row.course_ids),
        currency=row.currency,
        price=row.price,
        discount=row.discount,
        net=row.net,
        tax=row.tax,
        total=row.total,
        tax_rate_bp=row.tax_rate_bp,
        tax_inclusive=row.tax_inclusive,
        coupon_code=row.coupon_code,
        status=OrderStatus(row.status),
        request_key=row.request_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        hold_until=row.hold_until,
        seat_held=row.seat_held,
        payment_id=row.payment_id,
        client_secret=row.client_secret,
        next_action=row.next_action,
        decline_code=row.decline_code,
        invoice_id=row.invoice_id,
        refunded=row.refunded,
        refund_owed=row.refund_owed,
        note=row.note,
    )


def _newest_first(query: Any, after: OrderKey | None, limit: int) -> Any:
    if after is not None:
        at, order_id = after
        query = query.where(or_(orders.c.created_at < at, and_(orders.c.created_at == at, orders.c.id < order_id)))
    return query.order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit)


class SqlOrderStore(OrderStore):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._recorded = EventLog()

    def record(self, event: DomainEvent) -> None:
        self._recorded.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._recorded]

    async def add(self, order: Order) -> None:
        await self._conn.execute(orders.insert().values(**_order_row(order)))

    async def get(self, order_id: uuid.UUID) -> Order | None:
        row = (await self._conn.execute(select(orders).where(orders.c.id == order_id))).first()
        return None if row is None else _order(row)

    async def lock(self, order_id: uuid.UUID) -> Order | None:
        row = (await self._conn.execute(_locking(self._conn, select(orders).where(orders.c.id == order_id)))).first()
        return None if row is None else _order(row)

    async def by_request(self, customer_id: uuid.UUID, request_key: str) -> Order | None:
        query = select(orders).where(orders.c.customer_id == customer_id, orders.c.request_key == request_key)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _order(row)

    async def save(self, order: Order) -> None:
        await self._conn.execute(update(orders).where(orders.c.id == order.id).values(**_order_row(order)))

    async def of_customer(self, customer_id: uuid.UUID, after: OrderKey | None, limit: int) -> list[Order]:
        query = _newest_first(select(orders).where(orders.c.customer_id == customer_id), after, limit)
        return [_order(r) for r in (await self._conn.execute(query)).all()]

    async def listing(self, after: OrderKey | None, limit: int) -> list[Order]:
        query = _newest_first(select(orders), after, limit)
        return [_order(r) for r in (await self._conn.execute(query)).all()]

    async def expired_holds(self, at: datetime, limit: int) -> list[uuid.UUID]:
        query = (
            select(orders.c.id)
            .where(
                orders.c.status.in_([OrderStatus.PENDING.value, OrderStatus.REQUIRES_ACTION.value]),
                orders.c.hold_until <= at,
            )
            .order_by(orders.c.hold_until)
            .limit(limit)
        )
        return list((await self._conn.execute(query)).scalars())

    async def owed_refunds(self, limit: int) -> list[uuid.UUID]:
        query = select(orders.c.id).where(orders.c.refund_owed.is_(True)).order_by(orders.c.updated_at).limit(limit)
        return list((await self._conn.execute(query)).scalars())


JoinUnitOfWork = Callable[[AsyncConnection], "SqlUnitOfWork"]


class SqlTransactions(Transactions):
    """One transaction for work that spans modules: every unit of work the work opens joins it (a savepoint),
    the whole commits when the work returns, and the after-commit hooks run after that (``commit_hooks``)."""

    def __init__(self, db: Database, join: JoinUnitOfWork) -> None:
        self._db, self._join = db, join

    async def run(self, work: JoinedWork[T]) -> T:
        async with self._db.write() as conn:
            with commit_hooks.collecting(conn) as hooks:
                async with conn.begin():
                    result = await work(lambda: self._join(conn))
        await commit_hooks.run(hooks)
        return result
