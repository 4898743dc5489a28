"""The batch options of subscriptions and consumer runners: what they accept and how they combine."""

from __future__ import annotations

import pytest

from elearning_adapters.events import Subscription
from elearning_adapters.events.inprocess import MAX_REST_SECONDS, InProcessEventTransport, rest_after
from elearning_adapters.sql.engine import Database
from elearning_workers.consumer import ConsumerRunner


def test_a_subscription_batch_size_caps_the_transports_and_none_takes_it() -> None:
    assert Subscription("a", "", {}).batch_size_within(500) == 500
    assert Subscription("a", "", {}, batch_size=20).batch_size_within(500) == 20
    assert Subscription("a", "", {}, batch_size=900).batch_size_within(500) == 500
    assert Subscription("a", "", {}, batch_size=1).batch_size_within(500) == 1


def test_a_subscription_batch_size_below_one_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="subscription progress: batch_size must be at least 1"):
        Subscription("progress", "", {}, batch_size=0)


@pytest.mark.parametrize(("batch_size", "max_wait"), [(0, 0.05), (-1, 0.05), (10, -0.1)])
def test_a_runner_refuses_a_batch_size_below_one_or_a_negative_wait(batch_size: int, max_wait: float) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1 and batch_max_wait >= 0"):
        ConsumerRunner(
            "g",
            "127.0.0.1:9",
            ["elearning.course"],
            {},
            Database("sqlite+aiosqlite:///:memory:"),
            batch_size=batch_size,
            batch_max_wait=max_wait,
        )


def test_the_in_process_transport_rests_in_proportion_to_its_rounds_under_load() -> None:
    """After an empty round it waits to be woken; after a full one (a backlog) it goes on at once; after a
    partial one it rests the batch wait or, when longer, yield_factor x the round's duration, capped."""
    assert rest_after(0, 500, 0.3, 0.05, 1.0) == 0.0
    assert rest_after(500, 500, 0.3, 0.05, 1.0) == 0.0
    assert rest_after(10, 500, 0.01, 0.05, 1.0) == 0.05  # a short round: the batch wait
    assert rest_after(10, 500, 0.2, 0.05, 1.0) == pytest.approx(0.2)  # a long round: as long again
    assert rest_after(10, 500, 0.2, 0.05, 2.0) == pytest.approx(0.4)
    assert rest_after(10, 500, 5.0, 0.05, 2.0) == MAX_REST_SECONDS
    assert rest_after(10, 500, 0.2, 0.05, 0.0) == 0.05  # factor 0: the batch wait alone, as before
    assert rest_after(10, 500, 0.2, 0.0, 0.0) == 0.0


def test_the_in_process_transport_refuses_a_negative_yield_factor() -> None:
    with pytest.raises(ValueError, match="yield_factor must be >= 0"):
        InProcessEventTransport(Database("sqlite+aiosqlite:///:memory:"), [], yield_factor=-1)
