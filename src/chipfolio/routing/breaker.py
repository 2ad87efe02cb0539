"""Circuit breaker per pool: closed -> open -> half-open -> closed, with an injected clock.

- **Closed**: requests flow; outcomes go into a sliding window of the last ``window`` results.
  It trips to open after ``consecutive_failures`` failures in a row, or when at least
  ``min_requests`` outcomes are in the window and the failure share reaches ``error_rate``.
- **Open**: no requests for ``open_s`` seconds; each re-trip from half-open doubles that time,
  up to ``max_open_s``.
- **Half-open**: at most ``half_open_probes`` requests at once are let through as probes;
  ``probe_successes`` successes in a row close the breaker (and reset the open time), any
  failure opens it again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker trips and how it recovers."""

    consecutive_failures: int = 5
    error_rate: float = 0.5
    window: int = 20
    min_requests: int = 10
    open_s: float = 2.0
    max_open_s: float = 30.0
    half_open_probes: int = 1
    probe_successes: int = 1

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1 or self.window < 1 or self.min_requests < 1:
            raise ValueError("breaker counts must be at least 1")
        if not 0.0 < self.error_rate <= 1.0:
            raise ValueError("error_rate must be in (0, 1]")
        if self.open_s <= 0 or self.max_open_s < self.open_s:
            raise ValueError("need 0 < open_s <= max_open_s")
        if self.half_open_probes < 1 or self.probe_successes < 1:
            raise ValueError("half-open probes and successes must be at least 1")


class CircuitBreaker:
    """The state machine; every method takes ``now`` (seconds, monotonic)."""

    __slots__ = (
        "_consecutive",
        "_open_for",
        "_opened_at",
        "_outcomes",
        "_probe_ok",
        "_probes",
        "_state",
        "policy",
        "trips",
    )

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self._state = BreakerState.CLOSED
        self._outcomes: deque[bool] = deque(maxlen=self.policy.window)
        self._consecutive = 0
        self._opened_at = 0.0
        self._open_for = self.policy.open_s
        self._probes = 0
        self._probe_ok = 0
        self.trips = 0

    def state(self, now: float) -> BreakerState:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self._open_for:
            self._state = BreakerState.HALF_OPEN
            self._probes = 0
            self._probe_ok = 0
        return self._state

    def open_until(self) -> float | None:
        return self._opened_at + self._open_for if self._state is BreakerState.OPEN else None

    def can_accept(self, now: float) -> bool:
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN:
            return self._probes < self.policy.half_open_probes
        return False

    def on_start(self, now: float) -> None:
        """A request was sent to the pool (counts as a probe when half-open)."""
        if self.state(now) is BreakerState.HALF_OPEN:
            self._probes += 1

    def on_abandon(self, now: float) -> None:
        """A started request ended with no verdict on the pool (e.g. the client left)."""
        if self.state(now) is BreakerState.HALF_OPEN and self._probes > 0:
            self._probes -= 1

    def on_success(self, now: float) -> None:
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._probe_ok += 1
            if self._probe_ok >= self.policy.probe_successes:
                self._close()
            return
        if state is BreakerState.CLOSED:
            self._consecutive = 0
            self._outcomes.append(True)

    def on_failure(self, now: float) -> None:
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            self._open(now, min(self._open_for * 2.0, self.policy.max_open_s))
            return
        if state is BreakerState.OPEN:
            return
        self._consecutive += 1
        self._outcomes.append(False)
        p = self.policy
        failures = sum(1 for ok in self._outcomes if not ok)
        if self._consecutive >= p.consecutive_failures or (
            len(self._outcomes) >= p.min_requests and failures >= p.error_rate * len(self._outcomes)
        ):
            self._open(now, p.open_s)

    def adopt_open(self, now: float, duration: float) -> None:
        """A peer (another worker) opened its breaker for this pool: stay out as long.

        Not counted as a trip here; an open breaker that already lasts longer is kept."""
        until = self.open_until()
        if until is not None and until >= now + duration:
            return
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._open_for = duration
        self._probes = 0
        self._probe_ok = 0

    def adopt_close(self) -> None:
        """A peer's probe succeeded: the pool is back."""
        if self._state is not BreakerState.CLOSED:
            self._close()

    def _open(self, now: float, duration: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._open_for = duration
        self._probes = 0
        self._probe_ok = 0
        self.trips += 1

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._outcomes.clear()
        self._consecutive = 0
        self._open_for = self.policy.open_s
        self._probes = 0
        self._probe_ok = 0
