"""The MILP as a plain, inspectable value (matrices, bounds, names) and the builder filling it.

``Formulation`` is solver-neutral: ``minimize c @ x + objective_offset`` subject to
``row_lower <= A @ x <= row_upper``, ``col_lower <= x <= col_upper`` and ``integrality``
(1 = integer). Rows come in named *families* (demand, capacity, share_cap, ...) with a
``role`` ("requirement" rows state what the user asked for; "definition" rows define
auxiliary variables) and two integer keys whose meaning each family documents, so diagnosis
and analyses can find the rows of a requirement without parsing names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from chipfolio.planner.memo import Memo, content_key, read_only
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray

REQUIREMENT = "requirement"
DEFINITION = "definition"


@dataclass(frozen=True, eq=False)
class RowBlock:
    """Rows of one family in coordinate form (local row index, global column, value)."""

    family: str
    role: str
    names: list[str]
    rows: IntArray
    cols: IntArray
    vals: FloatArray
    lower: FloatArray
    upper: FloatArray
    key_a: IntArray
    key_b: IntArray

    @property
    def n_rows(self) -> int:
        return len(self.names)


@dataclass(frozen=True, eq=False)
class VarBlock:
    """A block of variables of one kind (x, gang choice, served rate, ...)."""

    name: str
    offset: int
    lower: FloatArray
    upper: FloatArray
    cost: FloatArray
    integer: BoolArray

    @property
    def size(self) -> int:
        return int(self.lower.shape[0])

    @property
    def stop(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True, eq=False)
class Formulation:
    """A mixed-integer linear program, minimisation, ready for any solver adapter."""

    c: FloatArray
    objective_offset: float
    A: sp.csc_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    integrality: IntArray
    row_names: list[str]
    row_family: list[str]
    row_role: list[str]
    row_key_a: IntArray
    row_key_b: IntArray
    var_blocks: dict[str, VarBlock] = field(default_factory=dict)

    @property
    def n_cols(self) -> int:
        return int(self.c.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.row_lower.shape[0])

    def rows_of(self, family: str, role: str | None = None) -> IntArray:
        """Indices of the rows of ``family`` (optionally only one role)."""
        fam = np.asarray(self.row_family)
        mask = fam == family
        if role is not None:
            mask &= np.asarray(self.row_role) == role
        return np.flatnonzero(mask).astype(np.int64)

    def families(self) -> list[str]:
        return list(dict.fromkeys(self.row_family))

    def relaxed(self) -> Formulation:
        """The LP relaxation (same model, no integrality)."""
        return _replace(self, integrality=np.zeros_like(self.integrality))


def _replace(form: Formulation, **changes: object) -> Formulation:
    import dataclasses

    return dataclasses.replace(form, **changes)  # type: ignore[arg-type]


class ModelBuilder:
    """Collects variable and row blocks, then assembles a ``Formulation``."""

    def __init__(self) -> None:
        self._vars: list[VarBlock] = []
        self._rows: list[RowBlock] = []
        self._offset = 0.0
        self._n_cols = 0

    @property
    def n_cols(self) -> int:
        return self._n_cols

    def add_objective_constant(self, value: float) -> None:
        self._offset += value

    def add_vars(
        self,
        name: str,
        lower: FloatArray,
        upper: FloatArray,
        *,
        cost: FloatArray | None = None,
        integer: bool | BoolArray = False,
    ) -> VarBlock:
        n = int(np.asarray(lower).shape[0])
        block = VarBlock(
            name=name,
            offset=self._n_cols,
            lower=np.asarray(lower, dtype=np.float64),
            upper=_filled(upper, n, np.float64),
            cost=np.zeros(n) if cost is None else np.asarray(cost, dtype=np.float64),
            integer=_filled(integer, n, np.bool_),
        )
        self._vars.append(block)
        self._n_cols += n
        return block

    def add_rows(self, block: RowBlock) -> None:
        if block.n_rows:
            self._rows.append(block)

    def build(self) -> Formulation:
        n_rows = 0
        rows, cols, vals = [], [], []
        for block in self._rows:
            rows.append(block.rows + n_rows)
            cols.append(block.cols)
            vals.append(block.vals)
            n_rows += block.n_rows
        matrix = _csc(
            np.concatenate(vals) if vals else np.zeros(0),
            np.concatenate(rows) if rows else np.zeros(0, np.int64),
            np.concatenate(cols) if cols else np.zeros(0, np.int64),
            (n_rows, self._n_cols),
        )
        cat = np.concatenate
        return Formulation(
            c=cat([b.cost for b in self._vars]) if self._vars else np.zeros(0),
            objective_offset=self._offset,
            A=matrix,
            row_lower=cat([b.lower for b in self._rows]) if self._rows else np.zeros(0),
            row_upper=cat([b.upper for b in self._rows]) if self._rows else np.zeros(0),
            col_lower=cat([b.lower for b in self._vars]) if self._vars else np.zeros(0),
            col_upper=cat([b.upper for b in self._vars]) if self._vars else np.zeros(0),
            integrality=(
                cat([b.integer for b in self._vars]).astype(np.int64)
                if self._vars
                else np.zeros(0, np.int64)
            ),
            row_names=[n for b in self._rows for n in b.names],
            row_family=[b.family for b in self._rows for _ in range(b.n_rows)],
            row_role=[b.role for b in self._rows for _ in range(b.n_rows)],
            row_key_a=cat([b.key_a for b in self._rows]) if self._rows else np.zeros(0, np.int64),
            row_key_b=cat([b.key_b for b in self._rows]) if self._rows else np.zeros(0, np.int64),
            var_blocks={b.name: b for b in self._vars},
        )


def _filled(values: object, n: int, dtype: type[np.generic]) -> NDArray[Any]:
    """A fresh length-``n`` array of ``values`` (a scalar or an array of that length)."""
    if isinstance(values, np.ndarray) and values.shape == (n,):
        return np.array(values, dtype=dtype)
    return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).copy()


_Pattern = tuple[IntArray, IntArray | None, NDArray[Any], NDArray[Any]]
_PATTERNS: Memo[_Pattern] = Memo(512)


def _csc(vals: FloatArray, rows: IntArray, cols: IntArray, shape: tuple[int, int]) -> sp.csc_matrix:
    """The CSC matrix of the triplets, duplicates summed in the order given, indices sorted.

    What ``sp.csc_matrix((vals, (rows, cols)))`` followed by ``sum_duplicates`` gives, built
    directly: a model of a few dozen columns is built thousands of times in a simulation,
    and scipy's generic conversion costs more there than the rest of assembling it. The
    sparsity pattern (the sort order, indices and column pointers) depends only on the rows,
    columns and shape, and most models of a simulation repeat one already seen: it is
    remembered per exact (shape, rows, cols), read-only, and only the values are placed.
    """
    key = content_key(np.asarray(shape, np.int64), rows, cols)
    order, starts, indices, indptr = _PATTERNS.get(key, lambda: _csc_pattern(rows, cols, shape))
    data = vals[order]
    if starts is not None:
        data = np.add.reduceat(data, starts)
    matrix = sp.csc_matrix((data, indices, indptr), shape=shape, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def _csc_pattern(rows: IntArray, cols: IntArray, shape: tuple[int, int]) -> _Pattern:
    """(order of the triplets, first of each run of duplicates or None, indices, indptr)."""
    n_rows, n_cols = shape
    key = cols.astype(np.int64) * max(n_rows, 1) + rows
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts: IntArray | None = None
    if key.size > 1:
        first = np.empty(key.size, dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        if not first.all():
            starts = np.flatnonzero(first)
            key = key[starts]
    index_dtype = np.int32 if max(n_rows, n_cols, key.size) < 2**31 - 1 else np.int64
    indices = (key % max(n_rows, 1)).astype(index_dtype)
    counts = (
        np.bincount(key // max(n_rows, 1), minlength=n_cols)
        if key.size
        else np.zeros(n_cols, dtype=np.int64)
    )
    indptr = np.zeros(n_cols + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    read_only(order, indices, indptr, *(() if starts is None else (starts,)))
    return order, starts, indices, indptr
