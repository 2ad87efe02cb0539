"""Memos keyed by exact content: never a result for other inputs, bounded in size."""

from __future__ import annotations

import numpy as np

from chipfolio.planner.memo import Memo, content_key


def test_keys_tell_apart_same_bytes_in_other_shapes_or_types() -> None:
    a = np.arange(4, dtype=np.int64)
    keys = {
        content_key(a),
        content_key(a.reshape(2, 2)),
        content_key(a.view(np.float64)),
        content_key(a[:2], a[2:]),
        content_key(a[:1], a[1:]),
    }
    assert len(keys) == 5
    assert content_key(a) == content_key(np.arange(4, dtype=np.int64))


def test_a_result_is_made_once_per_key_and_the_oldest_goes_first() -> None:
    memo: Memo[int] = Memo(2)
    made: list[str] = []

    def make(name: str) -> int:
        made.append(name)
        return len(made)

    assert memo.get(b"a", lambda: make("a")) == 1
    assert memo.get(b"a", lambda: make("a")) == 1
    assert memo.get(b"b", lambda: make("b")) == 2
    assert memo.get(b"c", lambda: make("c")) == 3  # drops "a"
    assert memo.get(b"b", lambda: make("b")) == 2
    assert memo.get(b"a", lambda: make("a")) == 4
    assert made == ["a", "b", "c", "a"]


def test_a_result_of_none_is_remembered_too() -> None:
    memo: Memo[None] = Memo(4)
    calls: list[int] = []
    for _ in range(3):
        memo.get(b"k", lambda: calls.append(1))
    assert calls == [1]
