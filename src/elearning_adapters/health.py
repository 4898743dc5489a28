"""Reachability probes for readiness checks: each answers within its timeout, never raises."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from elearning_adapters.sql.engine import Database


async def database_ok(database: Database, within_s: float) -> bool:
    try:
        await asyncio.wait_for(database.ping(), within_s)
    except Exception:  # any failure means "not reachable"
        return False
    return True


async def redis_ok(url: str, within_s: float) -> bool:
    client = aioredis.from_url(url, socket_connect_timeout=within_s, socket_timeout=within_s, retry_on_timeout=False)
    try:
        return bool(await asyncio.wait_for(client.ping(), within_s * 2))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


async def kafka_ok(bootstrap_servers: str, within_s: float) -> bool:
    def probe() -> bool:
        admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0, "socket.timeout.ms": 1000})
        try:
            admin.list_topics(timeout=within_s)
        except KafkaException:
            return False
        return True

    try:
        return await asyncio.wait_for(asyncio.to_thread(probe), within_s * 2)
    except Exception:
        return False
