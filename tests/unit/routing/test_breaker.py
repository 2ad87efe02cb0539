"""The circuit breaker state machine on an explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipfolio.routing import BreakerPolicy, BreakerState, CircuitBreaker

CLOSED, OPEN, HALF = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def breaker(**kw: float) -> CircuitBreaker:
    base = {
        "consecutive_failures": 3,
        "error_rate": 0.5,
        "window": 10,
        "min_requests": 6,
        "open_s": 2.0,
        "max_open_s": 10.0,
    }
    base.update(kw)
    return CircuitBreaker(BreakerPolicy(**base))  # type: ignore[arg-type]


def test_trips_on_consecutive_failures() -> None:
    b = breaker()
    b.on_failure(0.0)
    b.on_failure(0.0)
    assert b.state(0.0) is CLOSED and b.can_accept(0.0)
    b.on_failure(0.0)
    assert b.state(0.0) is OPEN and not b.can_accept(0.5)
    assert b.trips == 1 and b.open_until() == 2.0


def test_a_success_resets_the_consecutive_count() -> None:
    b = breaker(min_requests=100)
    for _ in range(5):
        b.on_failure(0.0)
        b.on_failure(0.0)
        b.on_success(0.0)
    assert b.state(0.0) is CLOSED


def test_trips_on_error_rate_over_the_window() -> None:
    b = breaker(consecutive_failures=100)
    for outcome in [True, False, True, False, True]:
        (b.on_success if outcome else b.on_failure)(0.0)
    assert b.state(0.0) is CLOSED  # 5 outcomes < min_requests
    b.on_failure(0.0)  # 3 failures of 6 = 50%
    assert b.state(0.0) is OPEN


def test_old_outcomes_leave_the_window() -> None:
    b = breaker(consecutive_failures=100, window=6, min_requests=6)
    for _ in range(2):
        b.on_failure(0.0)
        b.on_success(0.0)
    for _ in range(4):
        b.on_success(0.0)
    b.on_failure(0.0)  # window: S S S S S F -> 1/6
    assert b.state(0.0) is CLOSED


def test_half_open_after_the_open_time_lets_limited_probes_through() -> None:
    b = breaker(half_open_probes=1)
    for _ in range(3):
        b.on_failure(0.0)
    assert b.state(1.99) is OPEN
    assert b.state(2.0) is HALF and b.can_accept(2.0)
    b.on_start(2.0)
    assert not b.can_accept(2.1)  # one probe in flight
    b.on_abandon(2.1)
    assert b.can_accept(2.1)


def test_probe_success_closes_and_resets_the_open_time() -> None:
    b = breaker()
    for _ in range(3):
        b.on_failure(0.0)
    b.on_start(2.0)
    b.on_success(2.1)
    assert b.state(2.1) is CLOSED and b.can_accept(2.1)
    for _ in range(3):
        b.on_failure(3.0)
    assert b.open_until() == 5.0  # back to open_s


def test_probe_failure_reopens_for_twice_as_long_up_to_the_cap() -> None:
    b = breaker(open_s=2.0, max_open_s=5.0)
    for _ in range(3):
        b.on_failure(0.0)
    b.on_start(2.0)
    b.on_failure(2.0)
    assert b.state(2.0) is OPEN and b.open_until() == 6.0
    b.on_start(6.0)
    b.on_failure(6.0)
    assert b.open_until() == 11.0  # capped at 5 s
    assert b.trips == 3


def test_several_probe_successes_may_be_required() -> None:
    b = CircuitBreaker(
        BreakerPolicy(consecutive_failures=1, open_s=1.0, half_open_probes=2, probe_successes=2)
    )
    b.on_failure(0.0)
    b.on_start(1.0)
    b.on_start(1.0)
    assert not b.can_accept(1.0)
    b.on_success(1.0)
    assert b.state(1.0) is HALF
    b.on_success(1.0)
    assert b.state(1.0) is CLOSED


def test_failures_while_open_change_nothing() -> None:
    b = breaker()
    for _ in range(3):
        b.on_failure(0.0)
    b.on_failure(1.0)
    assert b.open_until() == 2.0 and b.trips == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"consecutive_failures": 0},
        {"error_rate": 0.0},
        {"error_rate": 1.5},
        {"open_s": 0.0},
        {"open_s": 5.0, "max_open_s": 1.0},
        {"half_open_probes": 0},
        {"window": 0},
    ],
)
def test_nonsense_policies_are_rejected(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(**kw)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["start", "ok", "fail", "abandon"]),
            st.floats(min_value=0.0, max_value=3.0),
        ),
        max_size=60,
    )
)
def test_invariants_hold_for_any_sequence_of_events(events: list[tuple[str, float]]) -> None:
    policy = BreakerPolicy(
        consecutive_failures=3,
        error_rate=0.5,
        window=8,
        min_requests=4,
        open_s=1.0,
        max_open_s=4.0,
        half_open_probes=2,
    )
    b = CircuitBreaker(policy)
    now = 0.0
    in_flight_probes = 0
    for kind, dt in events:
        now += dt
        state = b.state(now)
        if state is OPEN:
            until = b.open_until()
            assert until is not None and now < until <= now + policy.max_open_s
            assert not b.can_accept(now)
        if kind == "start":
            if not b.can_accept(now):
                continue
            b.on_start(now)
            in_flight_probes = in_flight_probes + 1 if state is HALF else 0
            assert in_flight_probes <= policy.half_open_probes
        elif kind == "ok":
            b.on_success(now)
            in_flight_probes = max(0, in_flight_probes - 1)
        elif kind == "fail":
            before = b.trips
            b.on_failure(now)
            if state is HALF:
                assert b.state(now) is OPEN and b.trips == before + 1
            in_flight_probes = 0 if b.state(now) is OPEN else max(0, in_flight_probes - 1)
        else:
            b.on_abandon(now)
            in_flight_probes = max(0, in_flight_probes - 1)


def test_adopting_a_peers_open_and_close() -> None:
    from chipfolio.routing import BreakerState, CircuitBreaker

    b = CircuitBreaker()
    b.adopt_open(10.0, 5.0)
    assert b.state(12.0) is BreakerState.OPEN and b.trips == 0  # not this worker's trip
    b.adopt_open(12.0, 1.0)  # a shorter one does not shorten it
    assert b.open_until() == 15.0
    assert b.state(15.0) is BreakerState.HALF_OPEN
    b.adopt_close()
    assert b.state(15.0) is BreakerState.CLOSED and b.can_accept(15.0)
