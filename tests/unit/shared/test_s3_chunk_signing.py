"""The ``aws-chunked`` body a streamed part is sent as (``elearning_adapters.storage._s3_streaming``): its
length is known before its bytes, it carries the payload unchanged, and each chunk's signature chains to the
previous one from the request's own, as SigV4's streaming payload signing has it. SeaweedFS checking those
signatures is covered by tests/contract/test_object_store.py."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

import pytest

from elearning_adapters.storage._s3_streaming import EMPTY_SHA256, ChunkFeed, FeedBroken, encoded_length

KEY = b"k" * 32
SCOPE = "20261207/us-east-1/s3/aws4_request"
STAMP = "20261207T091800Z"


def _read_all(feed: ChunkFeed, amount: int = 8192) -> bytes:
    out = bytearray()
    while data := feed.read(amount):
        out += data
    return bytes(out)


def _decode(body: bytes, seed: str) -> tuple[bytes, list[int]]:
    """The payload, checking every chunk's signature; and the chunks' sizes."""
    payload, sizes, previous, at = bytearray(), [], seed, 0
    while True:
        header_end = body.index(b"\r\n", at)
        size_hex, _, signature = body[at:header_end].decode().partition(";chunk-signature=")
        size = int(size_hex, 16)
        data = body[header_end + 2 : header_end + 2 + size]
        to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", STAMP, SCOPE, previous, EMPTY_SHA256, hashlib.sha256(data).hexdigest())
        )
        assert signature == hmac.new(KEY, to_sign.encode(), hashlib.sha256).hexdigest()
        assert body[header_end + 2 + size : header_end + 4 + size] == b"\r\n"
        payload += data
        sizes.append(size)
        previous, at = signature, header_end + 4 + size
        if size == 0:
            assert at == len(body)
            return bytes(payload), sizes


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 10_000, 123_457])
def test_the_encoded_body_has_its_announced_length_and_carries_the_payload_in_signed_chunks(size: int) -> None:
    data = os.urandom(size)
    feed = ChunkFeed(size, chunk=1000)
    feed.begin(KEY, "seed" * 16, STAMP, SCOPE)
    for at in range(0, size, 777):  # pieces that do not line up with the chunks
        feed.feed(data[at : at + 777])
    feed.close()

    body = _read_all(feed, 333)

    assert len(body) == feed.length == encoded_length(size, 1000)
    payload, sizes = _decode(body, "seed" * 16)
    assert payload == data
    assert sizes[-1] == 0
    assert all(n == 1000 for n in sizes[:-2])


def test_a_reader_waits_for_the_bytes_and_learns_when_they_stop_coming() -> None:
    feed = ChunkFeed(5000, chunk=1000)
    feed.begin(KEY, "seed" * 16, STAMP, SCOPE)
    read: list[bytes] = []
    failed: list[BaseException] = []

    def reader() -> None:
        try:
            while data := feed.read(512):
                read.append(data)
        except FeedBroken as exc:
            failed.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    feed.feed(os.urandom(2500))
    feed.fail(ConnectionResetError("the client went away"))
    thread.join(10)

    assert not thread.is_alive()
    assert len(failed) == 1
    assert isinstance(failed[0].__cause__, ConnectionResetError)
    assert sum(map(len, read)) < feed.length  # the body never ends as if it were whole


def test_more_bytes_than_announced_are_refused_and_fewer_end_the_body_with_an_error() -> None:
    feed = ChunkFeed(100, chunk=64)
    feed.begin(KEY, "seed" * 16, STAMP, SCOPE)
    with pytest.raises(ValueError, match="more came"):
        feed.feed(b"x" * 101)
    feed.feed(b"x" * 80)
    feed.close()
    assert feed.read(10)  # the first chunk is whole
    with pytest.raises(FeedBroken, match="80 of its 100"):
        _read_all(feed)
