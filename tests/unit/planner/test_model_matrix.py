"""The model's constraint matrix: built directly in CSC, as scipy's conversion would give it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from chipfolio.planner.model import _csc


def reference(
    vals: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> sp.csc_matrix:
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    return matrix


@pytest.mark.parametrize("seed", range(40))
def test_random_triplets_with_duplicates_give_scipys_matrix(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows, n_cols, nnz = (int(x) for x in rng.integers(1, 25, 3) * [1, 1, 6])
    rows = rng.integers(0, n_rows, nnz)
    cols = rng.integers(0, n_cols, nnz)
    vals = rng.normal(size=nnz)
    got = _csc(vals, rows, cols, (n_rows, n_cols))
    want = reference(vals, rows, cols, (n_rows, n_cols))
    assert got.shape == want.shape
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)
    # duplicates are summed in the order given; scipy's order can differ by an ulp
    assert np.allclose(got.data, want.data, rtol=1e-14, atol=1e-14)
    assert np.allclose(got.toarray(), want.toarray(), rtol=1e-14, atol=1e-14)


def test_distinct_triplets_give_exactly_scipys_matrix() -> None:
    rng = np.random.default_rng(7)
    dense = rng.normal(size=(9, 13)) * (rng.random((9, 13)) < 0.3)
    rows, cols = np.nonzero(dense)
    order = rng.permutation(rows.size)
    got = _csc(dense[rows, cols][order], rows[order], cols[order], dense.shape)
    want = reference(dense[rows, cols][order], rows[order], cols[order], dense.shape)
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.data, want.data)
    assert got.has_canonical_format


@pytest.mark.parametrize("shape", [(0, 0), (3, 0), (0, 4), (5, 6)])
def test_empty_matrices(shape: tuple[int, int]) -> None:
    empty = np.zeros(0, np.int64)
    got = _csc(np.zeros(0), empty, empty, shape)
    assert got.shape == shape and got.nnz == 0
    assert got.indptr.size == shape[1] + 1


def test_a_repeated_pattern_takes_the_new_values() -> None:
    """The second matrix of a pattern reuses its indices but never the first's values."""
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 7, 40)
    cols = rng.integers(0, 9, 40)
    first = _csc(rng.normal(size=40), rows, cols, (7, 9))
    vals = rng.normal(size=40)
    second = _csc(vals, rows.copy(), cols.copy(), (7, 9))
    want = reference(vals, rows, cols, (7, 9))
    assert np.allclose(second.toarray(), want.toarray(), rtol=1e-14, atol=1e-14)
    assert not np.allclose(first.toarray(), second.toarray())
    # the shared pattern cannot be changed through one matrix behind the other's back
    with pytest.raises(ValueError):
        second.indices[0] = 0


def test_the_same_triplets_in_another_shape_are_another_pattern() -> None:
    rows, cols, vals = np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0])
    small = _csc(vals, rows, cols, (2, 2))
    large = _csc(vals, rows, cols, (3, 4))
    assert small.shape == (2, 2) and large.shape == (3, 4)
    assert large.indptr.size == 5
    assert np.array_equal(large.toarray()[:2, :2], small.toarray())
