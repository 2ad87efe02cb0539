"""Bounded memos of pure functions of small arrays, keyed by the exact bytes of their inputs.

A simulation builds thousands of small models that repeat one another in part (the same
offers run on, the same time slots, the same sparsity); what depends only on such parts is
computed once per exact content. A key is the full content of every input a result depends
on, so a remembered result is exactly what computing it again would give. Results must not
be changed by callers: arrays in them are made read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class Memo(Generic[T]):
    """At most ``entries`` results, the oldest dropped first."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._found: dict[bytes, T] = {}

    def get(self, key: bytes, make: Callable[[], T]) -> T:
        """The result remembered for ``key``, made by ``make`` the first time."""
        try:
            return self._found[key]
        except KeyError:
            pass
        found = make()
        if len(self._found) >= self.entries:
            self._found.pop(next(iter(self._found)))
        self._found[key] = found
        return found


def content_key(*arrays: np.ndarray) -> bytes:
    """The exact content of ``arrays`` (shapes and dtypes included) as one key."""
    parts: list[bytes] = []
    for array in arrays:
        parts.append(f"{array.dtype.str}{array.shape}".encode())
        parts.append(np.ascontiguousarray(array).tobytes())
    return b"|".join(parts)


def read_only(*arrays: np.ndarray) -> None:
    """Make ``arrays`` read-only (they are shared by every model that uses them)."""
    for array in arrays:
        array.setflags(write=False)
