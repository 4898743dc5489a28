"""A part streamed to S3 as its bytes arrive, still signed: SigV4's chunked payload signing.

boto3 signs a request's whole payload (its SHA-256 in the signature) before the first byte goes out, so a
part had to be held whole before its upload could start, and the store then waited for it: a tus PATCH took
the time of reading its body plus that of uploading it. S3's ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` signs the
payload piece by piece instead (``aws-chunked``: each chunk carries the signature of its own SHA-256, chained
to the previous one from the request's signature), so the upload starts with the first bytes and the store
checks every chunk: nothing of the payload goes unsigned. botocore speaks the scheme only for reading; this
module adds it for ``UploadPart`` on a client of its own (``streaming_client``).

``ChunkFeed`` is the body: the event loop ``feed``s it, boto3's thread reads the encoded stream from it. It
cannot be rewound, so botocore cannot retry it: the caller falls back to a plain upload of the bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import deque
from typing import Any

from botocore import auth

STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNATURE_VERSION = "elearning-s3v4-streaming"
CHUNK = 256 * 1024
"""Bytes signed at a time: each chunk costs an HMAC and about 90 bytes of framing."""
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SIGNATURE_HEX = 64


def encoded_length(size: int, chunk: int = CHUNK) -> int:
    """The ``aws-chunked`` body's length for ``size`` payload bytes: each chunk framed, then the empty one."""
    full, rest = divmod(size, chunk)
    sizes = [chunk] * full + ([rest] if rest else []) + [0]
    return sum(len(f"{n:x};chunk-signature=") + SIGNATURE_HEX + 2 + n + 2 for n in sizes)


class FeedBroken(Exception):
    """The bytes stopped coming (the stream they came from broke, or was cancelled)."""


class ChunkFeed:
    """The part's ``aws-chunked`` body, fed from the event loop, read by boto3's thread (``read``)."""

    def __init__(self, size: int, chunk: int = CHUNK) -> None:
        self.size, self._chunk = size, chunk
        self.length = encoded_length(size, chunk)
        self._ready = threading.Condition()
        self._pieces: deque[bytes] = deque()
        self._pending = 0
        self._fed = 0
        self._closed = False
        self._broken: BaseException | None = None
        self._out = bytearray()
        self._signed = 0
        self._done = False
        self._key: bytes | None = None
        self._previous = ""
        self._scope = ""

    # The event loop's side.
    def feed(self, data: bytes) -> None:
        with self._ready:
            if self._fed + len(data) > self.size:
                raise ValueError(f"the part was announced with {self.size} bytes; more came")
            self._pieces.append(data)
            self._pending += len(data)
            self._fed += len(data)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()

    def fail(self, exc: BaseException) -> None:
        with self._ready:
            self._broken = exc
            self._ready.notify()

    # The signer's side (``StreamingSigV4Auth.add_auth``).
    def begin(self, signing_key: bytes, seed_signature: str, timestamp: str, scope: str) -> None:
        self._key, self._previous, self._scope = signing_key, seed_signature, f"{timestamp}\n{scope}"

    # boto3's thread.
    def read(self, amount: int = -1) -> bytes:
        while not self._out and not self._done:
            self._frame(self._take())
        if amount < 0 or amount >= len(self._out):
            data, self._out = bytes(self._out), bytearray()
            return data
        data = bytes(self._out[:amount])
        del self._out[:amount]
        return data

    def _take(self) -> bytes:
        """The next chunk's payload (empty for the final one), once it has all arrived."""
        want = min(self._chunk, self.size - self._signed)
        with self._ready:
            while self._pending < want and self._broken is None:
                if self._closed:
                    raise FeedBroken(f"the part ended after {self._fed} of its {self.size} bytes")
                self._ready.wait()
            if self._broken is not None:
                raise FeedBroken("the part's bytes stopped coming") from self._broken
            parts: list[bytes] = []
            needed = want
            while needed:
                piece = self._pieces.popleft()
                if len(piece) > needed:
                    self._pieces.appendleft(piece[needed:])
                    piece = piece[:needed]
                parts.append(piece)
                needed -= len(piece)
            self._pending -= want
        self._signed += want
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _frame(self, payload: bytes) -> None:
        if self._key is None:
            raise RuntimeError("the request was not signed for a streamed payload")
        to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                self._scope,
                self._previous,
                EMPTY_SHA256,
                hashlib.sha256(payload).hexdigest(),
            )
        )
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        self._previous = signature
        self._out += f"{len(payload):x};chunk-signature={signature}\r\n".encode()
        self._out += payload
        self._out += b"\r\n"
        self._done = not payload


class StreamingSigV4Auth(auth.S3SigV4Auth):  # type: ignore[misc]  # botocore ships no types
    """SigV4 for S3 whose ``ChunkFeed`` bodies are signed chunk by chunk (others as botocore signs them)."""

    def payload(self, request: Any) -> str:
        if isinstance(request.body, ChunkFeed):
            return STREAMING_PAYLOAD
        return str(super().payload(request))

    def add_auth(self, request: Any) -> None:
        body = request.body
        if not isinstance(body, ChunkFeed):
            super().add_auth(request)
            return
        for name in ("Content-Encoding", "X-Amz-Decoded-Content-Length", "Content-Length"):
            if name in request.headers:
                del request.headers[name]
        request.headers["Content-Encoding"] = "aws-chunked"
        request.headers["X-Amz-Decoded-Content-Length"] = str(body.size)
        request.headers["Content-Length"] = str(body.length)
        super().add_auth(request)
        timestamp = request.context["timestamp"]
        key = self._signing_key(timestamp[:8])
        seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
        body.begin(key, seed, timestamp, self.credential_scope(request))

    def _signing_key(self, day: str) -> bytes:
        secret = self.credentials.secret_key
        key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
        for part in (self._region_name, self._service_name, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return key


def use_streaming_signer(client: Any) -> None:
    """Sign this client's ``UploadPart`` requests with ``StreamingSigV4Auth``."""
    auth.AUTH_TYPE_MAPS.setdefault(SIGNATURE_VERSION, StreamingSigV4Auth)

    def choose(**_: Any) -> str:
        return SIGNATURE_VERSION

    client.meta.events.register_first("choose-signer.s3.UploadPart", choose)
