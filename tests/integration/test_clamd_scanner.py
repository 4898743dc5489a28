"""The clamd adapter against a real ClamAV daemon (tests/clamd.py: Debian's clamd, our own signatures)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable

import pytest

from elearning_adapters.antivirus import ClamdScanner, parse_address
from elearning_core.attachment.ports import ScannerUnavailable
from tests.clamd import EICAR, MALWARE_MARKER, STREAM_MAX_BYTES, Clamd

pytest_plugins = ["tests.clamd"]


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_a_clean_file_is_ok_on_tcp_and_on_the_unix_socket(clamd: Clamd, transport: str) -> None:
    address = clamd.tcp_address if transport == "tcp" else clamd.unix_address
    scanner = ClamdScanner(parse_address(address), timeout=30)

    result = await scanner.scan(stream([b"%PDF-1.7\n", b"lecture notes " * 5000]))

    assert result.clean
    assert result.signature is None


@pytest.mark.parametrize(
    ("content", "signature"),
    [(EICAR, "Elearning.Test.EICAR.UNOFFICIAL"), (MALWARE_MARKER, "Elearning.Test.Marker.UNOFFICIAL")],
)
async def test_a_file_matching_a_signature_is_found_with_its_name(clamd: Clamd, content: bytes, signature: str) -> None:
    scanner = ClamdScanner(parse_address(clamd.tcp_address), timeout=30)

    result = await scanner.scan(stream([b"some text before\n", content, b"\nand after"]))

    assert not result.clean  # clamd names a signature of a database of its users "<name>.UNOFFICIAL"
    assert result.signature == signature


async def test_a_signature_split_across_chunks_is_still_found(clamd: Clamd) -> None:
    scanner = ClamdScanner(parse_address(clamd.tcp_address), timeout=30)
    half = len(MALWARE_MARKER) // 2

    result = await scanner.scan(stream([b"x" * 100_000 + MALWARE_MARKER[:half], MALWARE_MARKER[half:]]))

    assert result.signature == "Elearning.Test.Marker.UNOFFICIAL"


async def test_a_stream_past_clamds_limit_has_no_verdict(clamd: Clamd) -> None:
    scanner = ClamdScanner(parse_address(clamd.tcp_address), timeout=30)

    with pytest.raises(ScannerUnavailable, match="size limit"):
        await scanner.scan(stream([b"y" * (256 * 1024)] * (STREAM_MAX_BYTES // (256 * 1024) + 2)))


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        scanner = ClamdScanner(parse_address(f"tcp://127.0.0.1:{port}"), timeout=5)
        with pytest.raises(ScannerUnavailable, match="cannot be reached"):
            await scanner.scan(stream([b"hello"]))


async def test_a_silent_server_times_out_as_unavailable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes everything, never answers
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        scanner = ClamdScanner(parse_address(f"tcp://127.0.0.1:{port}"), timeout=0.5)
        with pytest.raises(ScannerUnavailable):
            await scanner.scan(stream([b"hello"]))


@pytest.mark.parametrize("value", ["clamd:3310", "tcp://host", "tcp://host:0", "unix://", "http://h:1", "tcp://h:1/x"])
def test_a_bad_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        parse_address(value)
