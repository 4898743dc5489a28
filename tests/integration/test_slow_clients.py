"""Slow clients against a real ``elearning serve`` process on loopback, with raw sockets.

The deadlines are set short here (1 s for a head, 200 bytes/s judged over 1 s for a body) so a flood
is cut within the bounded waits; what is asserted is behaviour: who gets 200/201, who gets a 408 or a
431 or a 503 problem, and that the server closes every slow socket, never how long anything took.
"""

from __future__ import annotations

import json
import platform
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.prometheus import metric
from tests.served import ADMIN, Served, read_until_closed, serve_env, serving

FLOOD = 300  # half heads + half bodies, all open at once
NORMAL_REQUESTS = 30
WAIT = 60.0  # the bound of every wait here


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("slow-clients")
    env = serve_env(
        tmp / "data",
        header_timeout_seconds="1",
        body_min_rate_bytes="200",
        body_rate_window_seconds="1",
        max_header_bytes="8192",
    )
    with serving(env, tmp / "serve.log") as served:
        yield served


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    return sock


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert "content-type: application/problem+json" in [line.lower() for line in lines[1:]], head
    return int(lines[0].split()[1]), json.loads(body)


def test_a_flood_of_half_heads_and_half_bodies_is_cut_while_normal_requests_are_answered(server: Served) -> None:
    socks: list[socket.socket] = []
    try:
        for i in range(FLOOD):
            sock = connect(server.port)
            if i % 2:
                sock.send(b"GET /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # half a head
            else:
                sock.send(  # an admitted write (the admin's): a head, then a body that stalls
                    b"POST /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + f"Authorization: {ADMIN['Authorization']}\r\nContent-Length: 10000\r\n\r\n".encode()
                    + b'{"title": '
                )
            socks.append(sock)

        # While every slow socket is open, a normal client is served.
        with httpx.Client(base_url=server.base, timeout=30) as client:
            statuses = [client.get("/api/v1/courses").status_code for _ in range(NORMAL_REQUESTS)]
        assert statuses == [200] * NORMAL_REQUESTS

        answers = read_until_closed(socks, WAIT)
        still_open = [s for s, answer in answers.items() if answer is None]
        assert still_open == [], f"{len(still_open)} of {FLOOD} slow sockets were never closed by the server"
        # Each was told why before the close.
        outcomes = [status_and_body(answer) for answer in answers.values() if answer is not None]
        assert {status for status, _ in outcomes} == {408}
        assert {body["type"] for _, body in outcomes} == {"urn:elearning:problem:request-timeout"}
    finally:
        for sock in socks:
            sock.close()

    # The server still serves after the flood, and counts what it cut.
    assert httpx.get(f"{server.base}/api/v1/courses", timeout=10).status_code == 200
    scraped = httpx.get(f"{server.base}/metrics", timeout=10).text
    cut = {
        reason: metric(scraped, "elearning_server_cut_connections_total", reason=reason) or 0
        for reason in ("head-timeout", "body-too-slow")
    }
    assert cut["head-timeout"] >= FLOOD // 2
    assert cut["body-too-slow"] >= FLOOD // 2


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_an_idle_server_gives_freed_heap_back_once_its_connections_are_gone(server: Served) -> None:
    def trims() -> float:
        return metric(httpx.get(f"{server.base}/metrics", timeout=10).text, "elearning_server_memory_trims_total") or 0

    before = trims()
    with httpx.Client(base_url=server.base, timeout=30) as client:
        assert all(client.get("/api/v1/courses").status_code == 200 for _ in range(20))
    # Polled slower than the one idle second the trim waits for: each scrape is a connection of its own.
    after = before
    for _ in range(15):
        time.sleep(2)
        after = trims()
        if after > before:
            break
    assert after > before


def test_a_slow_but_live_upload_above_the_minimum_rate_completes(server: Served) -> None:
    # Whitespace is JSON: 3,000 bytes sent at about 600 bytes/s (three times the 200 bytes/s minimum).
    body = json.dumps({"title": "Uploaded slowly", "slug": "uploaded-slowly"}).encode() + b" " * 3000
    head = (
        b"POST /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: {ADMIN['Authorization']}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        for start in range(0, len(body), 60):
            sock.sendall(body[start : start + 60])
            time.sleep(0.1)
        answer = b""
        for _ in range(1000):  # until the server closes (Connection: close)
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert b'"slug":"uploaded-slowly"' in answer.replace(b" ", b"")


def test_a_stalled_body_from_a_live_client_is_answered_408(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: {ADMIN['Authorization']}\r\nContent-Length: 5000\r\n\r\n".encode()
            + b'{"title": "never finished", '
        )
        sock.setblocking(False)
        answer = read_until_closed([sock], WAIT)[sock]
    assert answer is not None, "the server kept a stalled upload open"
    status, problem = status_and_body(answer)
    assert status == 408
    assert problem["status"] == 408
    # Nothing was created from the half body.
    listed = httpx.get(f"{server.base}/api/v1/courses", headers=ADMIN, params={"limit": 100}, timeout=10).json()
    assert "never finished" not in [c["title"] for c in listed["items"]]


def test_a_head_larger_than_the_cap_is_answered_431(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        sock.setblocking(False)
        answer = read_until_closed([sock], WAIT)[sock]
    assert answer is not None
    status, problem = status_and_body(answer)
    assert (status, problem["type"]) == (431, "urn:elearning:problem:request-header-fields-too-large")
    # A head under the cap is served as usual.
    assert httpx.get(f"{server.base}/api/v1/courses", headers={"X-Big": "a" * 4000}, timeout=10).status_code == 200


def test_past_the_connection_cap_a_new_connection_is_refused_with_a_503_problem(tmp_path: Path) -> None:
    cap = 20
    env = serve_env(tmp_path / "data", max_connections=str(cap), header_timeout_seconds="60")
    with serving(env, tmp_path / "serve.log") as served:
        # /ready's connection may linger briefly: fill up to the cap, then one more.
        held = [connect(served.port) for _ in range(cap)]
        try:
            extra = connect(served.port)
            extra.send(b"GET /api/v1/courses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = read_until_closed([extra], WAIT)[extra]
            extra.close()
            assert answer is not None, "a connection past the cap was kept open"
            status, problem = status_and_body(answer)
            assert (status, problem["type"]) == (503, "urn:elearning:problem:too-many-connections")
            assert b"\r\nretry-after: 1\r\n" in answer.lower()
        finally:
            for sock in held:
                sock.close()
        # Once the held connections are gone, new ones are served again.
        ok = [False]

        def served_again() -> bool:
            try:
                ok[0] = httpx.get(f"{served.base}/api/v1/courses", timeout=5).status_code == 200
            except httpx.HTTPError:
                ok[0] = False
            return ok[0]

        deadline = time.monotonic() + WAIT
        while not served_again() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ok[0]


def test_a_body_answered_before_it_was_read_is_not_taken_for_the_next_requests_head(server: Served) -> None:
    """An answer may come before the application read the body (a route that does not exist, a refused upload
    chunk): the rest of that body is the old request's, discarded, and the next request on the connection is
    served. (It was counted as the next request's head: 431 and a reset once it passed ``max_header_bytes``.)"""
    body = b"x" * (256 * 1024)  # past the 64 KiB held back before the application sees the request
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        head = f"POST /no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:1024])
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before the first answer"
            received += chunk
        assert received.startswith(b"HTTP/1.1 404"), received[:300]
        try:
            sock.sendall(body[1024:] + b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            deadline = time.monotonic() + WAIT
            while b'{"status":"ok"}' not in received and time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass  # asserted below: the next request got no answer
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 2, received[:600]
    assert answers[1].startswith(b"200"), answers[1][:300]
    assert answers[1].endswith(b'{"status":"ok"}'), answers[1][:300]
