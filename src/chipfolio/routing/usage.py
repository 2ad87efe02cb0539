"""Tokens served per pool, as counted from the answers' ``usage``: totals and a recent rate.

The gateway reads ``usage`` from each answer (a non-streaming body, or the last event of a
stream that asked for ``stream_options.include_usage``) and adds it here; answers without
usage are counted as *unmetered*, so a report can say how much traffic it could not see.
The recent rate is kept in one-second buckets over the last ``window_s`` seconds.
"""

from __future__ import annotations

import math


class TokenMeter:
    """Prompt and completion tokens of one pool; ``now`` is passed in (seconds, monotonic)."""

    __slots__ = (
        "_buckets",
        "_seconds",
        "completion_tokens",
        "metered",
        "prompt_tokens",
        "started",
        "unmetered",
        "window_s",
    )

    def __init__(self, now: float, window_s: int = 60) -> None:
        if window_s < 1:
            raise ValueError("window_s must be >= 1")
        self.window_s = window_s
        self.started = now
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.metered = 0
        self.unmetered = 0
        self._buckets = [0] * window_s  # completion tokens per second, by second mod window
        self._seconds = [-1] * window_s  # which second each bucket holds

    def add(self, now: float, prompt_tokens: int, completion_tokens: int) -> None:
        self.metered += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        second = math.floor(now)
        i = second % self.window_s
        if self._seconds[i] != second:
            self._seconds[i] = second
            self._buckets[i] = 0
        self._buckets[i] += completion_tokens

    def add_unmetered(self) -> None:
        self.unmetered += 1

    def recent_tokens_per_s(self, now: float) -> float:
        """Completion tokens/s over the last ``window_s`` seconds (or since start, if less)."""
        second = math.floor(now)
        oldest = second - self.window_s + 1
        total = sum(
            n for n, s in zip(self._buckets, self._seconds, strict=True) if oldest <= s <= second
        )
        span = min(float(self.window_s), max(1.0, now - self.started))
        return total / span

    def tokens_per_s(self, now: float) -> float:
        """Completion tokens/s since the meter started."""
        return self.completion_tokens / max(1e-9, now - self.started)
