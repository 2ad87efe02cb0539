"""L-shaped (Benders) decomposition of the procurement model over its scenario tree.

Once the signings x are fixed, what is left is one small LP per recourse node (on-demand
chips, allocation, unserved demand, take-or-pay extras, share caps of that period), coupled
to nothing else: the recourse cost Q(x) = sum over nodes of Q_r(x) is convex and piecewise
linear, and one LP over all nodes at a fixed x (block diagonal: fast) gives every Q_r(x̂)
and, from its row duals, a subgradient of each.

The master keeps the signings (integrality relaxed) and one variable θ_g per cut group (the
nodes of one branch of the tree within a block of periods), with the commitments' own cost
and the probability-weighted θ as objective; every round adds the cut
θ_g ≥ Q_g(x̂) + g_g·(x − x̂) of every group. The master's optimum is a proven lower bound
of the LP relaxation (so of the MILP); the signings it proposes, rounded up to whole
instances and evaluated, are feasible procurements (upper bounds). The loop stops when the
two are within the requested gap, or at the deadline with the gap it proved.

It applies when the recourse has no integer columns (no ``min_vendors``) and nothing couples
scenarios (no CVaR term); ``decomposable`` says so, and solve.py uses the direct method
otherwise, or when a recourse LP is infeasible (no on-demand to fall back on).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from chipfolio.planner import (
    FloatArray,
    Formulation,
    IntArray,
    SolveOptions,
    Solver,
    SolveResult,
    SolveStatus,
    get_solver,
)
from chipfolio.procurement.model import FIRST_STAGE, ProcurementModel

BLOCK_PERIODS = 3  # periods per cut group (finer: more cuts per round, fewer rounds)
CHUNK_NODES = 400  # recourse nodes per recourse LP (simplex time grows faster than size)
MIN_SOLVE_S = 0.05
MAX_ROUNDS = 500
STALL = 1e-7  # relative bound progress below which a round counts as stalled
STALL_ROUNDS = 3
DROP_AFTER = 3  # rounds a cut may stay slack before it leaves the master


def decomposable(model: ProcurementModel) -> bool:
    """True when the recourse separates by tree node once the signings are fixed."""
    form = model.formulation
    if model.procurement.spec.risk.cvar_weight > 0:
        return False
    if (model.row_node < FIRST_STAGE).any():
        return False
    integer = form.integrality == 1
    return bool(model.first_stage.any()) and not (integer & ~model.first_stage).any()


def round_up(model: ProcurementModel, x: FloatArray) -> FloatArray:
    """The integer columns of ``x`` rounded up (more chips never lack capacity), kept within
    their upper bounds, with each 'signed' binary set to match and its minimum met."""
    form = model.formulation
    ints = form.integrality == 1
    out = np.where(ints, np.minimum(np.ceil(x - 1e-6), form.col_upper), x)
    spec = model.procurement.spec
    for sg in model.signings:
        if sg.binary_offset is None:
            continue
        c = spec.contracts[sg.contract]
        least = float(np.ceil(c.min_chips / c.chips_per_instance - 1e-9))
        chosen = slice(sg.offset, sg.offset + sg.nodes)
        signed = out[chosen] > 0
        out[chosen] = np.where(signed, np.maximum(out[chosen], least), 0.0)
        out[sg.binary_offset : sg.binary_offset + sg.nodes] = signed.astype(np.float64)
    return np.asarray(out, dtype=np.float64)


def cut_groups(model: ProcurementModel, block: int) -> tuple[sp.csr_matrix, FloatArray]:
    """Groups of recourse nodes for the cuts: per block of ``block`` periods, the distinct
    node sequences of the scenarios within it. Returns the [group, node] 0/1 matrix and the
    probability of every group (sum over groups of p_g x [nodes of g] = node probability)."""
    tree = model.tree
    prob = model.procurement.probabilities
    n_t = tree.rec_index.shape[0]
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    probs: list[FloatArray] = []
    n_groups = 0
    for t0 in range(0, n_t, block):
        paths = tree.rec_index[t0 : t0 + block, :].T  # [S, periods in block]
        _, first, inverse = np.unique(paths, axis=0, return_index=True, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        k = first.shape[0]
        p = np.zeros(k)
        np.add.at(p, inverse, prob)
        members = paths[first]  # [k, periods]
        rows.append(np.repeat(np.arange(k, dtype=np.int64) + n_groups, members.shape[1]))
        cols.append(members.reshape(-1))
        probs.append(p)
        n_groups += k
    r, c = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix((np.ones(r.shape[0]), (r, c)), shape=(n_groups, tree.n_rec))
    return matrix, np.concatenate(probs)


def _lp(
    c: FloatArray,
    a: sp.spmatrix,
    row_lower: FloatArray,
    row_upper: FloatArray,
    col_lower: FloatArray,
    col_upper: FloatArray,
) -> Formulation:
    n_rows = int(row_lower.shape[0])
    return Formulation(
        c=c,
        objective_offset=0.0,
        A=sp.csc_matrix(a),
        row_lower=row_lower,
        row_upper=row_upper,
        col_lower=col_lower,
        col_upper=col_upper,
        integrality=np.zeros(c.shape[0], dtype=np.int64),
        row_names=[f"cut[{i}]" for i in range(n_rows)],
        row_family=["cut"] * n_rows,
        row_role=["requirement"] * n_rows,
        row_key_a=np.full(n_rows, -1, dtype=np.int64),
        row_key_b=np.full(n_rows, -1, dtype=np.int64),
    )


def solve_benders(
    model: ProcurementModel,
    options: SolveOptions,
    deadline: float,
    *,
    block: int = BLOCK_PERIODS,
    chunk_nodes: int = CHUNK_NODES,
    start: FloatArray | None = None,
    trace: list[tuple[int, float, float, float, float]] | None = None,
) -> SolveResult | None:
    """The MILP by the L-shaped method, from the signings of ``start`` (else none); None
    when a recourse LP is infeasible at some signings (the caller then solves the whole
    model directly). ``trace`` collects (round, recourse s, master s, best, bound)."""
    started = time.perf_counter()
    solver = get_solver(options.solver)
    form = model.formulation
    first = model.first_stage
    xcols = np.flatnonzero(first)
    n_x = int(xcols.shape[0])
    csr = form.A.tocsr()
    rec_rows = np.flatnonzero(model.row_node >= 0)
    a_rx = csr[rec_rows][:, xcols].tocsr()
    fs_rows = np.flatnonzero(model.row_node == FIRST_STAGE)
    groups, p_group = cut_groups(model, max(1, block))
    n_g = int(p_group.shape[0])
    node_rows = sp.csr_matrix(
        (np.ones(rec_rows.shape[0]), (model.row_node[rec_rows], np.arange(rec_rows.shape[0]))),
        shape=(model.tree.n_rec, rec_rows.shape[0]),
    )
    group_rows = (groups @ node_rows).tocsr()  # [group, recourse row]
    recourse_cost = model.period_cost[:, ~first]  # [node, recourse column]
    # the duals are of the expected cost: per node, divide by the node's probability
    per_node = 1.0 / model.tree.rec_prob[model.row_node[rec_rows]]
    scale = max(1.0, float(np.abs(form.c).max(initial=0.0)))

    def left() -> SolveOptions:
        limit = max(MIN_SOLVE_S, deadline - time.perf_counter())
        return dataclasses.replace(options, time_limit_s=limit, relax=True)

    # the master's fixed part: signings, their rows and bounds; θ >= 0 (recourse costs >= 0)
    c_master = np.concatenate([form.c[xcols], p_group])
    lower = np.concatenate([form.col_lower[xcols], np.zeros(n_g)])
    upper = np.concatenate([form.col_upper[xcols], np.full(n_g, np.inf)])
    fs_a = sp.hstack([csr[fs_rows][:, xcols], sp.csr_matrix((fs_rows.shape[0], n_g))]).tocsr()
    fs_lower, fs_upper = form.row_lower[fs_rows], form.row_upper[fs_rows]
    # the cuts so far (kept while binding) and the ones of this round
    kept = sp.csr_matrix((0, n_x + n_g))
    kept_lower = np.zeros(0)
    idle = np.zeros(0, dtype=np.int64)  # rounds each kept cut has been slack
    cut_blocks: list[sp.csr_matrix] = []
    cut_lower: list[FloatArray] = []

    chunks = _chunks(model, csr, rec_rows, chunk_nodes)
    best_x: FloatArray | None = None
    best_obj = math.inf
    bound = -math.inf
    x_hat = form.col_lower[xcols].copy()
    if start is not None:
        x_hat = np.clip(start[xcols], form.col_lower[xcols], form.col_upper[xcols])
    rounds = 0
    stalled = 0
    status = "benders"

    def evaluate(point: FloatArray) -> str | None:
        """Recourse at ``point``: keep it when it is the best integer point, add its cuts."""
        nonlocal best_obj, best_x
        sub = _recourse(solver, form, chunks, point, left)
        if sub is None:
            raise _Infeasible
        if isinstance(sub, str):
            return sub
        y, duals, _ = sub
        objective = float(form.c @ y)
        whole = bool((np.abs(point[ints] - np.round(point[ints])) <= 1e-9).all())
        if whole and objective < best_obj:
            best_obj, best_x = objective, y
        # θ_g >= q_g + G_g (x - x̂), G = -(rows of g) diag(π / node probability) A[rows, x]
        q = groups @ (recourse_cost @ y[~first])
        scaled = duals[rec_rows] * per_node
        grad = sp.csr_matrix(-(group_rows.multiply(scaled[None, :]).tocsr() @ a_rx))
        grad.data[np.abs(grad.data) < 1e-12 * scale] = 0.0
        grad.eliminate_zeros()
        cut_blocks.append(sp.hstack([-grad, sp.identity(n_g, format="csr")]).tocsr())
        cut_lower.append(np.asarray(q - grad @ point[xcols], dtype=np.float64))
        return None

    ints = form.integrality == 1
    try:
        while rounds < MAX_ROUNDS:
            rounds += 1
            full = form.col_lower.copy()
            full[xcols] = x_hat
            tick = time.perf_counter()
            problem = evaluate(round_up(model, full))
            spent = time.perf_counter() - tick
            if problem is not None:
                status = f"benders stopped: recourse {problem}"
                break
            if _gap(best_obj, bound) <= options.mip_gap:
                break
            if time.perf_counter() >= deadline:
                status = "benders (time limit)"
                break
            kept = sp.vstack([kept, *cut_blocks]).tocsr()
            kept_lower = np.concatenate([kept_lower, *cut_lower])
            idle = np.concatenate([idle, np.zeros(kept.shape[0] - idle.shape[0], np.int64)])
            cut_blocks, cut_lower = [], []
            master = solver.solve(
                _lp(c_master, sp.vstack([fs_a, kept]),
                    np.concatenate([fs_lower, kept_lower]),
                    np.concatenate([fs_upper, np.full(kept_lower.shape[0], np.inf)]),
                    lower, upper),
                left(),
            )  # fmt: skip
            if master.status is not SolveStatus.OPTIMAL or master.x is None:
                status = f"benders stopped: master {master.raw_status}"
                break
            # a cut slack for DROP_AFTER rounds in a row leaves the master (the bound stays
            # valid: every cut is; the best bound so far is kept)
            slack = kept @ master.x - kept_lower
            idle = np.where(slack > 1e-7 * np.maximum(1.0, np.abs(kept_lower)), idle + 1, 0)
            stay = idle < DROP_AFTER
            kept, kept_lower, idle = kept[stay], kept_lower[stay], idle[stay]
            assert master.objective is not None
            progress = master.objective - bound
            bound = max(bound, master.objective)
            x_hat = master.x[:n_x]
            if trace is not None:
                trace.append((rounds, spent, master.seconds, best_obj, bound))
            if _gap(best_obj, bound) <= options.mip_gap:
                break
            # the relaxation is solved when the bound stops moving: what is left of the gap
            # is rounding, which more cuts cannot close (the caller may branch)
            flat = progress <= STALL * max(1.0, abs(bound))
            stalled = stalled + 1 if flat else 0
            if stalled >= STALL_ROUNDS:
                status = "benders (relaxation solved)"
                break
    except _Infeasible:
        return None
    if best_x is None:
        return SolveResult(
            status=SolveStatus.NO_SOLUTION, x=None, objective=None, mip_gap=None,
            dual_bound=None, seconds=time.perf_counter() - started, solver=solver.name,
            raw_status=status,
        )  # fmt: skip
    proven = None if not math.isfinite(bound) else bound
    gap = None if proven is None else _gap(best_obj, proven)
    within = gap is not None and gap <= options.mip_gap + 1e-12
    return SolveResult(
        status=SolveStatus.OPTIMAL if within else SolveStatus.FEASIBLE,
        x=best_x,
        objective=best_obj,
        mip_gap=gap,
        dual_bound=proven,
        seconds=time.perf_counter() - started,
        solver=solver.name,
        raw_status=f"{status}: {rounds} rounds",
    )


class _Infeasible(Exception):
    """A recourse LP has no solution at some signings."""


@dataclasses.dataclass(frozen=True, eq=False)
class _Chunk:
    """The recourse LP of some nodes: its rows, its columns, and the signings' part of it."""

    rows: IntArray
    cols: IntArray
    a_own: sp.csc_matrix  # [rows, cols]
    a_first: sp.csr_matrix  # [rows, all columns]: the signings' entries (fixed in a round)


def _chunks(
    model: ProcurementModel, csr: sp.csr_matrix, rec_rows: IntArray, size: int
) -> list[_Chunk]:
    """Split the recourse (rows and columns at tree nodes) into LPs of about ``size`` nodes."""
    form = model.formulation
    first = model.first_stage
    n_r = model.tree.n_rec
    # every recourse column lives at one node: the node of the rows it appears in
    col_node = np.full(form.n_cols, -1, dtype=np.int64)
    sub = csr[rec_rows].tocoo()
    col_node[sub.col] = model.row_node[rec_rows][sub.row]
    col_node[first] = -1
    row_of = model.row_node
    first_part = csr.multiply(first[None, :].astype(np.float64)).tocsr()
    out: list[_Chunk] = []
    for lo in range(0, n_r, max(1, size)):
        hi = min(n_r, lo + max(1, size))
        rows = np.flatnonzero((row_of >= lo) & (row_of < hi))
        cols = np.flatnonzero((col_node >= lo) & (col_node < hi))
        out.append(_Chunk(rows, cols, csr[rows][:, cols].tocsc(), first_part[rows].tocsr()))
    return out


def _recourse(
    solver: Solver,
    form: Formulation,
    chunks: list[_Chunk],
    point: FloatArray,
    left: Callable[[], SolveOptions],
) -> tuple[FloatArray, FloatArray, float] | str | None:
    """The recourse LPs at the signings of ``point``: the whole solution, the row duals and
    the seconds; None when one is infeasible; the solver's status when one did not finish."""
    started = time.perf_counter()
    x = point.copy()  # the signings, and the recourse columns' lower bounds until solved
    duals = np.zeros(form.n_rows)
    for ch in chunks:
        shift = ch.a_first @ point
        sub = _lp(
            form.c[ch.cols], ch.a_own, form.row_lower[ch.rows] - shift,
            form.row_upper[ch.rows] - shift, form.col_lower[ch.cols], form.col_upper[ch.cols],
        )  # fmt: skip
        result = solver.solve(sub, left())
        if result.status is SolveStatus.INFEASIBLE:
            return None
        if result.status is not SolveStatus.OPTIMAL or result.x is None:
            return result.raw_status
        if result.row_duals is None:
            return "no row duals"
        x[ch.cols] = result.x
        duals[ch.rows] = result.row_duals
    return x, duals, time.perf_counter() - started


def _gap(objective: float, bound: float) -> float:
    if not math.isfinite(bound):
        return math.inf
    return float(abs(objective - bound) / max(abs(objective), 1e-9))
