"""The overload layers' logic without a server: window counters, the client-address resolver, credentials."""

from __future__ import annotations

import pytest

from elearning_adapters.request_counters import WindowCounters
from elearning_http.client_ip import TrustedProxies
from elearning_http.ratelimit import credential_of, token_key


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- window counters ----------------------------------------------------------------------------------


def test_a_key_gets_its_limit_then_is_refused_until_the_window_turns() -> None:
    clock = Clock(600.0)  # the start of a 60 s window
    counters = WindowCounters(60, clock=clock)
    assert [counters.hit("k", 3) for _ in range(5)] == [2, 1, 0, -1, -1]
    clock.now = 617.2
    assert counters.reset_in() == 43
    clock.now = 660.0
    assert counters.hit("k", 3) == 2
    assert len(counters) == 1


def test_keys_are_counted_apart() -> None:
    counters = WindowCounters(60, clock=Clock())
    assert counters.hit("a", 1) == 0
    assert counters.hit("b", 1) == 0
    assert counters.hit("a", 1) == -1


def test_the_shared_total_replaces_what_was_sent() -> None:
    counters = WindowCounters(60, clock=Clock())
    for _ in range(3):
        counters.hit("k", 10)
    window, batch = counters.pending_batch()
    assert [(key, sent) for key, _, sent in batch] == [("k", 3)]
    counters.hit("k", 10)  # counted while the sync was on its way
    counters.apply(batch, [9])  # another process had counted 6
    usage = counters.table["k"]
    assert (usage.shared, usage.pending) == (9, 1)
    assert counters.hit("k", 10) == -1  # 9 shared + 1 pending: the limit
    assert counters.pending_batch() == (window, [("k", usage, 1)])


def test_a_window_with_nothing_new_sends_nothing() -> None:
    counters = WindowCounters(60, clock=Clock())
    counters.hit("k", 10)
    _, batch = counters.pending_batch()
    counters.apply(batch, [1])
    assert counters.pending_batch()[1] == []


def test_memory_is_bounded_by_max_keys() -> None:
    counters = WindowCounters(60, max_keys=100, clock=Clock())
    for n in range(1_000):
        counters.hit(f"ip:{n}", 5)
    assert len(counters) == 100
    assert "ip:999" in counters.table
    assert "ip:0" not in counters.table


def test_counters_refuse_bad_bounds() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        WindowCounters(0)


# -- trusted proxies -------------------------------------------------------------------------------------

PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8::1"])


def xff(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode())]


def test_without_trusted_proxies_no_header_is_believed() -> None:
    none = TrustedProxies([])
    assert not none
    assert none.client_of("127.0.0.1", xff("203.0.113.9")) == "127.0.0.1"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert PROXIES.client_of("198.51.100.7", xff("203.0.113.9")) == "198.51.100.7"


def test_the_right_most_untrusted_address_is_the_client() -> None:
    # The client wrote "1.2.3.4" itself; the trusted proxy appended the address it saw.
    assert PROXIES.client_of("10.0.0.2", xff("1.2.3.4, 203.0.113.9")) == "203.0.113.9"
    # Two proxies deep, both trusted.
    assert PROXIES.client_of("10.0.0.2", xff("1.2.3.4, 203.0.113.9, 10.1.1.1")) == "203.0.113.9"
    # Split over two header lines.
    headers = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"203.0.113.9")]
    assert PROXIES.client_of("10.0.0.2", headers) == "203.0.113.9"


def test_rfc_7239_forwarded_is_read_and_preferred() -> None:
    headers = [
        (b"forwarded", b'for=1.2.3.4, for="[2001:db8::9]:4711";proto=https'),
        (b"x-forwarded-for", b"198.51.100.1"),
    ]
    assert PROXIES.client_of("10.0.0.2", headers) == "2001:db8::9"
    assert PROXIES.client_of("10.0.0.2", [(b"forwarded", b"for=192.0.2.60:8080;by=10.0.0.2")]) == "192.0.2.60"


def test_all_hops_trusted_gives_the_left_most_and_garbage_stops_the_walk() -> None:
    assert PROXIES.client_of("10.0.0.2", xff("10.9.9.9")) == "10.9.9.9"
    assert PROXIES.client_of("10.0.0.2", xff("203.0.113.9, not-an-ip, 10.1.1.1")) == "10.1.1.1"
    assert PROXIES.client_of("2001:db8::1", xff("")) == "2001:db8::1"


def test_a_bad_proxy_entry_is_refused_by_the_settings() -> None:
    from pydantic import ValidationError

    from elearning_adapters.settings import Settings

    with pytest.raises(ValidationError, match="not an IP address or CIDR"):
        Settings(trusted_proxies=["10.0.0.0/8", "proxy.example"])
    assert Settings(trusted_proxies=[" 10.0.0.0/8 "]).trusted_proxies == ["10.0.0.0/8"]


# -- credentials --------------------------------------------------------------------------------------------


def test_the_credential_is_the_authorization_header_else_the_session_cookie() -> None:
    assert credential_of([(b"authorization", b"Bearer abc")]) == b"Bearer abc"
    cookie = (b"cookie", b"theme=dark; elearning_access=tok123; other=1")
    assert credential_of([cookie]) == b"tok123"
    assert credential_of([cookie, (b"authorization", b"Bearer abc")]) == b"Bearer abc"
    assert credential_of([(b"cookie", b"not_elearning_access=x")]) is None
    assert credential_of([(b"accept", b"*/*")]) is None


def test_the_key_names_the_credential_without_keeping_it() -> None:
    key = token_key(b"Bearer secret-token")
    assert key.startswith("t:")
    assert "secret" not in key
    assert key == token_key(b"Bearer secret-token") != token_key(b"Bearer other")


def test_the_default_admission_bound_follows_the_pool() -> None:
    from elearning_adapters.settings import Settings

    assert Settings(db_pool_size=10).resolved_max_in_flight == 40
    assert Settings(db_pool_size=10, max_in_flight=7).resolved_max_in_flight == 7
