"""``ObjectStore`` on an S3-compatible store (AWS S3, SeaweedFS, MinIO, ...) through boto3.

boto3's synchronous client runs in a thread pool of this adapter's own (``max_connections``
threads, as many pooled connections): the client is thread-safe, presigning is local work, and
boto3 is the reference implementation every S3-compatible server is tested against. aioboto3
was the alternative; it pins aiobotocore to a narrow botocore range (it patches botocore's
internals), which holds back boto3 upgrades, for a gain that a pool of a few threads already
gives: the event loop never waits on the network either way.

Nothing holds a whole object in memory: ``put`` buffers one part at a time and switches to a
multipart upload once the stream outgrows a part (about three parts' worth in memory at the peak:
the buffer, the part being sent, the request), ``read`` streams the body a megabyte per
thread hop, ``upload_part`` holds its stream (up to a part in memory, spooled to disk beyond) because
S3 wants each part's length up front, and ``copy`` is server-side (multipart copy beyond 5 GiB).

Checksums: boto3 >= 1.36 adds CRC trailers to every upload by default, which some S3-compatible
servers refuse; the client asks for them only where an operation requires them.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from elearning_adapters.storage._local_io import READ_SIZE, write_stream
from elearning_adapters.storage._s3_errors import RangeNotSatisfiable, translate
from elearning_core.shared.storage import (
    MAX_LIST_PAGE,
    IncompleteUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectPage,
    ObjectStore,
    StorageError,
    UploadedPart,
    UploadNotFound,
    check_completion,
    check_key,
    check_part_number,
    check_prefix,
    check_range,
    content_disposition,
)

T = TypeVar("T")
MIB = 1024 * 1024
MAX_PRESIGN = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str
    endpoint_url: str | None = None
    """Where this process reaches the store; None: AWS S3 of ``region``."""
    public_endpoint_url: str | None = None
    """Where browsers reach it (what presigned URLs name); None: ``endpoint_url``."""
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    path_style: bool = True
    cdn_base_url: str | None = None
    presign_expiry: timedelta = timedelta(hours=1)
    part_size: int = 8 * MIB
    max_connections: int = 10
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


class S3ObjectStore(ObjectStore):
    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self._pool = ThreadPoolExecutor(max_workers=config.max_connections, thread_name_prefix="s3")
        self._client = self._make_client(config.endpoint_url)
        self._signer = self._make_client(config.public_endpoint_url or config.endpoint_url)
        self._transfer = TransferConfig(
            multipart_threshold=config.part_size, multipart_chunksize=config.part_size, use_threads=False
        )

    def _make_client(self, endpoint_url: str | None) -> Any:
        config = self.config
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if config.path_style else "virtual"},
                max_pool_connections=config.max_connections,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                retries={"mode": "standard", "max_attempts": 3},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, call: Callable[[], T], key: str | None = None, upload_id: str | None = None) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except Exception as exc:
            raise translate(exc, self.bucket, key, upload_id) from exc

    async def _call(self, operation: str, key: str | None = None, upload_id: str | None = None, **params: Any) -> Any:
        method = getattr(self._client, operation)
        return await self._run(functools.partial(method, Bucket=self.bucket, **params), key, upload_id)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        part_size = self.config.part_size
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[UploadedPart] = []
        try:
            async for chunk in chunks:
                buffer += chunk
                while len(buffer) >= part_size:
                    if upload_id is None:
                        upload_id = await self.create_multipart(key)
                    part = bytes(memoryview(buffer)[:part_size])
                    del buffer[:part_size]
                    parts.append(await self._upload_bytes(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                await self._call("put_object", key, Key=key, Body=bytes(buffer))
                return len(buffer)
            if buffer:
                parts.append(await self._upload_bytes(key, upload_id, len(parts) + 1, bytes(buffer)))
            await self._call(
                "complete_multipart_upload", key, upload_id, Key=key, UploadId=upload_id, MultipartUpload=_named(parts)
            )
            return sum(part.size for part in parts)
        except BaseException:
            if upload_id is not None:
                # The stream broke or the store failed: leave no parts behind (the old object stays).
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.abort_multipart(key, upload_id))
            raise

    async def _upload_bytes(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        answer = await self._call(
            "upload_part", key, upload_id, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return UploadedPart(number, answer["ETag"], len(data))

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_key(key)
        check_range(start, end)
        if end == start:
            return
        ranged = {} if start == 0 and end is None else {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        try:
            answer = await self._call("get_object", key, Key=key, **ranged)
        except RangeNotSatisfiable:
            return
        body = answer["Body"]
        try:
            while data := await self._run(functools.partial(body.read, READ_SIZE), key):
                yield data
        finally:
            body.close()

    async def size(self, key: str) -> int | None:
        info = await self.stat(key)
        return None if info is None else info.size

    async def stat(self, key: str) -> ObjectInfo | None:
        check_key(key)
        try:
            answer = await self._call("head_object", key, Key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(key, int(answer["ContentLength"]), answer["LastModified"], answer.get("ETag"))

    async def delete(self, key: str) -> None:
        if not key.endswith("/"):
            await self._call("delete_object", check_key(key), Key=key)
            return
        check_prefix(key)
        while True:
            page = await self.list(key)
            if page.items:
                answer = await self._call(
                    "delete_objects", Delete={"Objects": [{"Key": item.key} for item in page.items], "Quiet": True}
                )
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise StorageError(
                        f"deleting under {key!r} failed for {first.get('Key')!r}: {first.get('Message')}"
                    )
            if page.next_after is None:
                return

    async def list(self, prefix: str, after: str | None = None, limit: int = MAX_LIST_PAGE) -> ObjectPage:
        check_prefix(prefix)
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise ValueError(f"limit must be within 1..{MAX_LIST_PAGE}, got {limit}")
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": limit}
        if after is not None:
            params["StartAfter"] = after
        answer = await self._call("list_objects_v2", **params)
        items = [
            ObjectInfo(entry["Key"], int(entry["Size"]), entry["LastModified"], entry.get("ETag"))
            for entry in answer.get("Contents", [])
        ]
        truncated = bool(answer.get("IsTruncated")) and bool(items)
        return ObjectPage(items, items[-1].key if truncated else None)

    async def copy(self, source: str, target: str) -> None:
        check_key(source)
        check_key(target)
        call = functools.partial(
            self._client.copy,
            CopySource={"Bucket": self.bucket, "Key": source},
            Bucket=self.bucket,
            Key=target,
            Config=self._transfer,
        )
        await self._run(call, source)

    async def presigned_url(
        self,
        key: str,
        expires_in: timedelta | None = None,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        check_key(key)
        params = {"Bucket": self.bucket, "Key": key}
        if filename is not None:  # signed into the URL: the store answers with these headers
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type is not None:
            params["ResponseContentType"] = content_type
        lifetime = self.config.presign_expiry if expires_in is None else expires_in
        if not timedelta(seconds=1) <= lifetime <= MAX_PRESIGN:
            raise ValueError(f"a presigned URL lives 1 s to 7 days, not {lifetime}")
        call = functools.partial(
            self._signer.generate_presigned_url,
            "get_object",
            Params=params,
            ExpiresIn=int(lifetime.total_seconds()),
        )
        url: str = await self._run(call, key)
        return self._through_cdn(url) if self.config.cdn_base_url else url

    def _through_cdn(self, url: str) -> str:
        """The presigned URL re-based onto the CDN: what follows the bucket's root (the key and the signed
        query) is appended to the CDN base, which forwards it to the bucket's root with the public Host."""
        assert self.config.cdn_base_url is not None
        parts = urlsplit(url)
        path = parts.path
        if self.config.path_style:
            path = path.removeprefix(f"/{self.bucket}")
        return f"{self.config.cdn_base_url}{path}?{parts.query}"

    async def set_cors(self, origins: Sequence[str], max_age_seconds: int = 3600) -> None:
        """Let browsers on ``origins`` read the bucket's objects (an HLS player fetching presigned
        segments, with ranges); no origins removes the rule."""
        if not origins:
            await self._call("delete_bucket_cors")
            return
        rule = {
            "AllowedOrigins": list(origins),
            "AllowedMethods": ["GET", "HEAD"],
            "AllowedHeaders": ["Range", "If-None-Match", "If-Modified-Since"],
            "ExposeHeaders": ["Content-Length", "Content-Range", "Content-Type", "ETag", "Accept-Ranges"],
            "MaxAgeSeconds": max_age_seconds,
        }
        await self._call("put_bucket_cors", CORSConfiguration={"CORSRules": [rule]})

    async def cors_origins(self) -> builtins.list[str]:
        """The origins the bucket's CORS rules let read (none without a rule)."""
        try:
            answer = await self._call("get_bucket_cors")
        except StorageError as exc:
            if "NoSuchCORSConfiguration" in str(exc):
                return []
            raise
        return [origin for rule in answer.get("CORSRules", []) for origin in rule.get("AllowedOrigins", [])]

    async def create_multipart(self, key: str) -> str:
        answer = await self._call("create_multipart_upload", check_key(key), Key=key)
        return str(answer["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, chunks: AsyncIterable[bytes]) -> UploadedPart:
        check_key(key)
        check_part_number(number)
        # S3 wants the part's length before its bytes: up to a part is held in memory and sent as it is (no
        # copy into a spool file and back on the way); a longer stream goes on into a spool file.
        stream = aiter(chunks)
        held: list[bytes] = []
        size = 0
        async for chunk in stream:
            held.append(chunk)
            size += len(chunk)
            if size > self.config.part_size:
                return await self._upload_spooled(key, upload_id, number, _chained(held, stream))
        return await self._upload_bytes(key, upload_id, number, b"".join(held))

    async def _upload_spooled(
        self, key: str, upload_id: str, number: int, chunks: AsyncIterable[bytes]
    ) -> UploadedPart:
        with tempfile.SpooledTemporaryFile(max_size=self.config.part_size) as spool:
            size = await write_stream(chunks, spool)
            await asyncio.to_thread(spool.seek, 0)
            answer = await self._call(
                "upload_part",
                key,
                upload_id,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=spool,
                ContentLength=size,
            )
        return UploadedPart(number, answer["ETag"], size)

    async def list_parts(self, key: str, upload_id: str) -> builtins.list[UploadedPart]:
        latest: dict[int, tuple[datetime, UploadedPart]] = {}
        for modified, part in await self._stored_parts(key, upload_id):
            if part.number not in latest or latest[part.number][0] <= modified:
                latest[part.number] = (modified, part)
        return [latest[number][1] for number in sorted(latest)]

    async def _stored_parts(self, key: str, upload_id: str) -> builtins.list[tuple[datetime, UploadedPart]]:
        """Every stored part as the store lists it (SeaweedFS lists each upload of a re-sent number)."""
        check_key(key)
        parts: list[tuple[datetime, UploadedPart]] = []
        marker = 0
        while True:
            answer = await self._call(
                "list_parts", key, upload_id, Key=key, UploadId=upload_id, PartNumberMarker=marker
            )
            listed = answer.get("Parts", [])
            parts += [(p["LastModified"], UploadedPart(p["PartNumber"], p["ETag"], int(p["Size"]))) for p in listed]
            if not answer.get("IsTruncated") or not listed:
                return parts
            marker = int(answer["NextPartNumberMarker"])

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> int:
        stored = [part for _, part in await self._stored_parts(key, upload_id)]
        check_completion(parts, stored)
        await self._call(
            "complete_multipart_upload", key, upload_id, Key=key, UploadId=upload_id, MultipartUpload=_named(parts)
        )
        sizes = {(part.number, part.etag): part.size for part in stored}
        return sum(sizes[part.number, part.etag] for part in parts)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        with contextlib.suppress(UploadNotFound):
            await self._call("abort_multipart_upload", key, upload_id, Key=key, UploadId=upload_id)

    async def incomplete_uploads(
        self, older_than: datetime, limit: int = MAX_LIST_PAGE
    ) -> builtins.list[IncompleteUpload]:
        found: list[IncompleteUpload] = []
        markers: dict[str, str] = {}
        while len(found) < limit:
            answer = await self._call("list_multipart_uploads", **markers)
            for upload in answer.get("Uploads", []):
                if upload["Initiated"] < older_than:
                    found.append(IncompleteUpload(upload["Key"], upload["UploadId"], upload["Initiated"]))
            if not answer.get("IsTruncated"):
                break
            markers = {"KeyMarker": answer["NextKeyMarker"], "UploadIdMarker": answer["NextUploadIdMarker"]}
        return found[:limit]


async def _chained(first: builtins.list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk


def _named(parts: Sequence[UploadedPart]) -> dict[str, Any]:
    return {"Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]}
