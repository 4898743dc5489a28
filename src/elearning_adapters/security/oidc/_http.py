"""HTTP calls to a provider with a bounded total time and a bounded answer size, following no redirect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

MAX_DOCUMENT_BYTES = 256 * 1024


class Unavailable(Exception):
    """The provider could not be reached or answered with something unusable (detail for the log)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    time_limit: float,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One request whose total time and body size are bounded; the body is parsed as JSON if it is JSON."""
    try:
        async with asyncio.timeout(time_limit):
            async with client.stream(
                method,
                url,
                data=data,
                headers={"Accept": "application/json", **(headers or {})},
                follow_redirects=False,
            ) as response:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise Unavailable(f"{url}: the answer is larger than {max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise Unavailable(f"{url}: the answer is larger than {max_bytes} bytes")
                    chunks.append(chunk)
    except TimeoutError as exc:
        raise Unavailable(f"{url}: no answer within {time_limit}s") from exc
    except httpx.HTTPError as exc:
        raise Unavailable(f"{url}: {type(exc).__name__}") from exc
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        body = None
    return Response(response.status_code, body)


async def get_json_object(client: httpx.AsyncClient, url: str, *, time_limit: float) -> dict[str, Any]:
    response = await request(client, "GET", url, time_limit=time_limit)
    if response.status != 200:
        raise Unavailable(f"{url}: HTTP {response.status}")
    if not isinstance(response.body, dict):
        raise Unavailable(f"{url}: not a JSON object")
    return response.body
