"""Smooth weighted round robin over a workload's pools, restricted to the ones available.

Each pick adds every candidate's weight to its running credit, takes the candidate with the
most credit (ties by name) and charges it the candidates' total weight. Over any window the
picks follow the weights as closely as integers allow, with no randomness, and the result does
not depend on the order pools were listed in (candidates are kept sorted by name). Zero-weight
(fallback) pools are taken in turn, only when no weighted pool is a candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class SmoothWeighted:
    """Deterministic weighted selection with per-pick exclusions."""

    __slots__ = ("_credit", "_fallback_turn", "_names", "_weights")

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._names: tuple[str, ...] = tuple(sorted(weights))
        self._weights: dict[str, float] = {n: max(0.0, float(weights[n])) for n in self._names}
        self._credit: dict[str, float] = dict.fromkeys(self._names, 0.0)
        self._fallback_turn = 0

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def pick(self, candidate: Callable[[str], bool]) -> str | None:
        """The next pool among those for which ``candidate(name)`` is true, or None."""
        best: str | None = None
        best_credit = 0.0
        total = 0.0
        credit = self._credit
        for name in self._names:
            w = self._weights[name]
            if w <= 0.0 or not candidate(name):
                continue
            c = credit[name] + w
            credit[name] = c
            total += w
            if best is None or c > best_credit:
                best, best_credit = name, c
        if best is not None:
            credit[best] -= total
            return best
        fallbacks = [n for n in self._names if self._weights[n] <= 0.0 and candidate(n)]
        if not fallbacks:
            return None
        self._fallback_turn += 1
        return fallbacks[self._fallback_turn % len(fallbacks)]
