"""One function per constraint family, each adding its named rows (and auxiliary variables).

Families and their row keys (``key_a``, ``key_b``):

* ``demand``       per slot: served tokens/s >= demand.                  (slot, workload)
* ``capacity``     per offer with finite capacity and moment its use can rise (a column
                   start): chips in use <= capacity.                     (virtual offer, offer)
* ``take_or_pay``  the same for the committed part of a commitment.     (virtual offer, offer)
* ``gang``         definition: units on the chosen offer == needed units; requirement: a
                   gang job picks exactly one offer.                     (pair, workload)
* ``share_cap``    definition: cost per vendor; requirement: vendor cost <= max_share x total.
                                                                         (label, -1)
* ``min_vendors``  definition: vendor used => at least one unit there; requirement: at least
                   min_vendors vendors per critical slot.                (slot, label or -1)
* ``n_minus_1``    definition: throughput per critical slot; requirement: throughput outside
                   each vendor >= n_minus_1 x demand.                    (slot, label or -1)
* ``budget``       total cost <= budget (budget mode only).              (-1, -1)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from chipfolio.planner.model import DEFINITION, REQUIREMENT, ModelBuilder, RowBlock, VarBlock
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray, Problem
from chipfolio.planner.structure import Structure

FAMILIES = (
    "demand",
    "capacity",
    "take_or_pay",
    "gang",
    "share_cap",
    "min_vendors",
    "n_minus_1",
    "budget",
)


@dataclass(frozen=True, eq=False)
class Context:
    """What every family needs: the problem, its structure and the main variable blocks."""

    problem: Problem
    structure: Structure
    x: VarBlock
    served: VarBlock | None  # per slot, budget mode only

    @property
    def budget_mode(self) -> bool:
        return self.served is not None

    def slot_name(self, slot: IntArray) -> list[str]:
        s = self.structure
        names = self.problem.workloads.names[s.slot_workload[slot]].tolist()
        starts = s.slot_start_hour[slot].tolist()
        ends = s.slot_end_hour[slot].tolist()
        return [f"{n}@{a:g}-{b:g}h" for n, a, b in zip(names, starts, ends, strict=True)]

    @functools.cached_property
    def critical_pairs(self) -> tuple[IntArray, IntArray, IntArray]:
        """See ``_critical_pairs`` (found once: min_vendors and n_minus_1 both need them)."""
        return _critical_pairs(self)

    def critical_slots(self) -> BoolArray:
        s = self.structure
        mask: BoolArray = self.problem.workloads.critical[s.slot_workload]
        return mask


def _block(
    family: str,
    role: str,
    names: list[str],
    rows: IntArray,
    cols: IntArray,
    vals: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    key_a: IntArray,
    key_b: IntArray,
) -> RowBlock:
    return RowBlock(
        family=family,
        role=role,
        names=names,
        rows=np.asarray(rows, np.int64),
        cols=np.asarray(cols, np.int64),
        vals=np.asarray(vals, np.float64),
        lower=np.asarray(lower, np.float64),
        upper=np.asarray(upper, np.float64),
        key_a=np.asarray(key_a, np.int64),
        key_b=np.asarray(key_b, np.int64),
    )


def demand(b: ModelBuilder, ctx: Context) -> None:
    """Served tokens/s in each slot covers the demand (budget mode: covers the served var)."""
    s = ctx.structure
    n = s.n_slots
    slots = np.arange(n)
    rows, cols, vals = s.inc_slot, ctx.x.offset + s.inc_col, s.inc_coef
    lower = s.slot_demand.copy()
    if ctx.served is not None:
        rows = np.concatenate([rows, slots])
        cols = np.concatenate([cols, ctx.served.offset + slots])
        vals = np.concatenate([vals, -np.ones(n)])
        lower = np.zeros(n)
    names = [f"demand[{x}]" for x in ctx.slot_name(slots)]
    b.add_rows(
        _block(
            "demand", REQUIREMENT, names, rows, cols, vals, lower, np.full(n, np.inf),
            slots, s.slot_workload,
        )
    )  # fmt: skip


def _capacity_rows(b: ModelBuilder, ctx: Context, committed: bool) -> None:
    s = ctx.structure
    v = s.virtual
    rows = np.flatnonzero(v.committed[s.check_virtual] == committed)
    if not rows.size:
        return
    local = np.full(s.check_virtual.shape[0], -1, dtype=np.int64)
    local[rows] = np.arange(rows.size)
    inc = np.flatnonzero(local[s.check_inc_row] >= 0)
    cols = s.check_inc_col[inc]
    family = "take_or_pay" if committed else "capacity"
    virtual = s.check_virtual[rows]
    ids = ctx.problem.offers.ids[v.offer[virtual]].tolist()
    hours = s.check_hour[rows].tolist()
    names = [f"{family}[{i}@{h:g}h]" for i, h in zip(ids, hours, strict=True)]
    b.add_rows(
        _block(
            family, REQUIREMENT, names, local[s.check_inc_row[inc]], ctx.x.offset + cols,
            s.col_chips_per_x[cols], np.full(rows.size, -np.inf), v.capacity_chips[virtual],
            virtual, v.offer[virtual],
        )
    )  # fmt: skip


def capacity(b: ModelBuilder, ctx: Context) -> None:
    """Chips used on an offer (all workloads together) stay within its capacity."""
    _capacity_rows(b, ctx, committed=False)


def take_or_pay(b: ModelBuilder, ctx: Context) -> None:
    """Chips drawn from a commitment stay within the committed amount (the rest overflows).

    Under share caps, paying list price for overflow chips while committed ones sit idle
    would inflate a vendor's spend on paper (the real bill is max(use, commitment)), so
    there overflow is allowed only once the commitment is fully drawn.
    """
    _capacity_rows(b, ctx, committed=True)
    if ctx.problem.policy.caps_shares:
        _commitment_first(b, ctx)


def _running(s: Structure, virtual: int, hour: float) -> IntArray:
    cols = np.flatnonzero(s.col_virtual == virtual)
    return cols[(s.col_start_hour[cols] <= hour) & (s.col_end_hour[cols] > hour)]


def _overflow_bound(s: Structure, cols: IntArray, capacity: float) -> float:
    """Chips the overflow part can ever need (its capacity, or what demand could use)."""
    if np.isfinite(capacity):
        return capacity
    units = np.ceil(s.slot_demand[s.inc_slot[cols]] / np.maximum(s.inc_coef[cols], 1e-300))
    return float((np.minimum(units + 1, s.col_upper[cols]) * s.col_chips_per_x[cols]).sum())


def _commitment_first(b: ModelBuilder, ctx: Context) -> None:
    s, v = ctx.structure, ctx.structure.virtual
    checks = np.flatnonzero(v.committed[s.check_virtual])
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    bounds: list[float] = []
    names: list[str] = []
    for i, check in enumerate(checks.tolist()):
        committed, hour = int(s.check_virtual[check]), float(s.check_hour[check])
        offer = int(v.offer[committed])
        over = _running(s, offer, hour)
        used = _running(s, committed, hour)
        bound = _overflow_bound(s, over, float(v.capacity_chips[offer]))
        rows += [np.full(over.size, 2 * i), np.full(used.size, 2 * i + 1)]
        cols += [ctx.x.offset + over, ctx.x.offset + used]
        vals += [s.col_chips_per_x[over], s.col_chips_per_x[used]]
        bounds.append(bound)
        names += [f"overflow_after_commitment[{ctx.problem.offers.ids[offer]}@{hour:g}h]"] * 2
    n = len(bounds)
    if not n:
        return
    flag = b.add_vars("commitment_full", np.zeros(n), np.ones(n), integer=True)
    committed_cap = v.capacity_chips[s.check_virtual[checks]]
    rows += [2 * np.arange(n), 2 * np.arange(n) + 1]
    cols += [flag.offset + np.arange(n), flag.offset + np.arange(n)]
    vals += [-np.asarray(bounds), -committed_cap]
    lower = np.ravel(np.column_stack([np.full(n, -np.inf), np.zeros(n)]))
    upper = np.ravel(np.column_stack([np.zeros(n), np.full(n, np.inf)]))
    key_a = np.repeat(s.check_virtual[checks], 2)
    b.add_rows(
        _block(
            "take_or_pay", DEFINITION, names, np.concatenate(rows), np.concatenate(cols),
            np.concatenate(vals), lower, upper, key_a, v.offer[key_a],
        )
    )  # fmt: skip


def gang(b: ModelBuilder, ctx: Context) -> None:
    """A gang job runs whole on exactly one offer.

    Most gang columns already are the whole job (binary). On an offer with a take-or-pay
    commitment the job may mix committed and overflow chips, so there a binary choice links
    the two parts to the job's fixed unit count.
    """
    s = ctx.structure
    gang_col = ctx.problem.workloads.gang[s.col_workload]
    linked_cols = np.flatnonzero(gang_col & ~s.col_whole_job)
    whole_cols = np.flatnonzero(s.col_whole_job)
    pairs = np.unique(s.col_pair[linked_cols])
    names = ctx.problem.workloads.names
    rows_w = [s.col_workload[whole_cols]]
    cols = [ctx.x.offset + whole_cols]
    if pairs.size:
        z = b.add_vars("gang_choice", np.zeros(pairs.size), np.ones(pairs.size), integer=True)
        local = np.searchsorted(pairs, s.col_pair[linked_cols])
        pair_w = s.pair_workload[pairs]
        offer_ids = ctx.problem.offers.ids[s.pair_offer[pairs]]
        b.add_rows(
            _block(
                "gang", DEFINITION,
                [f"gang_units[{w}|{o}]" for w, o in zip(names[pair_w], offer_ids, strict=True)],
                np.concatenate([local, np.arange(pairs.size)]),
                np.concatenate([ctx.x.offset + linked_cols, z.offset + np.arange(pairs.size)]),
                np.concatenate([np.ones(linked_cols.size), -s.pair_gang_units[pairs]]),
                np.zeros(pairs.size), np.zeros(pairs.size), pairs, pair_w,
            )
        )  # fmt: skip
        rows_w.append(pair_w)
        cols.append(z.offset + np.arange(pairs.size))
    all_w = np.concatenate(rows_w)
    if not all_w.size:
        return
    jobs, job_row = np.unique(all_w, return_inverse=True)
    critical = ctx.problem.workloads.critical[jobs]
    lower = np.where(critical | (not ctx.budget_mode), 1.0, 0.0)
    b.add_rows(
        _block(
            "gang", REQUIREMENT, [f"gang_one_offer[{w}]" for w in names[jobs].tolist()],
            job_row, np.concatenate(cols), np.ones(job_row.size),
            lower, np.ones(jobs.size), np.full(jobs.size, -1), jobs,
        )
    )  # fmt: skip


def _label_costs(ctx: Context) -> tuple[IntArray, FloatArray]:
    s = ctx.structure
    fixed = np.bincount(s.offer_label, weights=s.fixed_usd_by_offer, minlength=len(s.labels))
    has_cols = np.bincount(s.col_label, minlength=len(s.labels)) > 0
    present = np.flatnonzero(has_cols | (fixed > 0)).astype(np.int64)
    return present, fixed.astype(np.float64)


def share_cap(b: ModelBuilder, ctx: Context) -> None:
    """No vendor's cost (including its fixed commitments) exceeds max_share of the total."""
    share = ctx.problem.policy.max_share
    if share >= 1.0:
        return
    s = ctx.structure
    present, fixed = _label_costs(ctx)
    n = present.size
    if not n:
        return
    cost = b.add_vars("vendor_cost", np.zeros(n), np.full(n, np.inf))
    row_of = np.full(len(s.labels), -1, dtype=np.int64)
    row_of[present] = np.arange(n)
    col_rows = row_of[s.col_label]
    labels = [s.labels[i] for i in present.tolist()]
    b.add_rows(
        _block(
            "share_cap", DEFINITION, [f"vendor_cost[{x}]" for x in labels],
            np.concatenate([col_rows, np.arange(n)]),
            np.concatenate([ctx.x.offset + np.arange(s.n_cols), cost.offset + np.arange(n)]),
            np.concatenate([s.col_usd_per_x, -np.ones(n)]),
            -fixed[present], -fixed[present], present, np.full(n, -1),
        )
    )  # fmt: skip
    rows = np.repeat(np.arange(n), n)
    cols = cost.offset + np.tile(np.arange(n), n)
    vals = np.where(rows == cols - cost.offset, 1.0 - share, -share)
    b.add_rows(
        _block(
            "share_cap", REQUIREMENT, [f"share_cap[{x}]" for x in labels],
            rows, cols, vals, np.full(n, -np.inf), np.zeros(n), present, np.full(n, -1),
        )
    )  # fmt: skip


def _critical_pairs(ctx: Context) -> tuple[IntArray, IntArray, IntArray]:
    """Unique (critical slot, label) pairs, and for each incidence its pair index (-1 if none)."""
    s = ctx.structure
    crit = ctx.critical_slots()[s.inc_slot]
    inc_label = s.col_label[s.inc_col]
    key = s.inc_slot * len(s.labels) + inc_label
    uniq, inverse = np.unique(key[crit], return_inverse=True)
    pair_of_inc = np.full(key.shape[0], -1, dtype=np.int64)
    pair_of_inc[crit] = inverse
    return uniq // len(s.labels), uniq % len(s.labels), pair_of_inc


def min_vendors(b: ModelBuilder, ctx: Context) -> None:
    """Each critical workload keeps units on at least min_vendors vendors in every slot."""
    m = ctx.problem.policy.min_vendors
    if m <= 1:
        return
    s = ctx.structure
    crit_slots = np.flatnonzero(ctx.critical_slots())
    if not crit_slots.size:
        return
    p_slot, p_label, pair_of_inc = ctx.critical_pairs
    n = p_slot.size
    y = b.add_vars("vendor_used", np.zeros(n), np.ones(n), integer=True)
    inc = np.flatnonzero(pair_of_inc >= 0)
    slot_names = ctx.slot_name(p_slot)
    b.add_rows(
        _block(
            "min_vendors", DEFINITION,
            [f"vendor_used[{a}|{s.labels[c]}]" for a, c in zip(slot_names, p_label, strict=True)],
            np.concatenate([np.arange(n), pair_of_inc[inc]]),
            np.concatenate([y.offset + np.arange(n), ctx.x.offset + s.inc_col[inc]]),
            np.concatenate([np.ones(n), -np.ones(inc.size)]),
            np.full(n, -np.inf), np.zeros(n), p_slot, p_label,
        )
    )  # fmt: skip
    row_of = np.searchsorted(crit_slots, p_slot)
    b.add_rows(
        _block(
            "min_vendors", REQUIREMENT,
            [f"min_vendors[{x}]" for x in ctx.slot_name(crit_slots)],
            row_of, y.offset + np.arange(n), np.ones(n),
            np.full(crit_slots.size, float(m)), np.full(crit_slots.size, np.inf),
            crit_slots, np.full(crit_slots.size, -1),
        )
    )  # fmt: skip


def n_minus_1(b: ModelBuilder, ctx: Context) -> None:
    """Losing any one vendor leaves each critical slot >= n_minus_1 of its demand."""
    frac = ctx.problem.policy.n_minus_1
    if frac <= 0.0:
        return
    s = ctx.structure
    crit_slots = np.flatnonzero(ctx.critical_slots())
    if not crit_slots.size:
        return
    k = crit_slots.size
    t = b.add_vars("throughput", np.zeros(k), np.full(k, np.inf))
    t_of_slot = np.full(s.n_slots, -1, dtype=np.int64)
    t_of_slot[crit_slots] = np.arange(k)
    inc = np.flatnonzero(t_of_slot[s.inc_slot] >= 0)
    b.add_rows(
        _block(
            "n_minus_1", DEFINITION, [f"throughput[{x}]" for x in ctx.slot_name(crit_slots)],
            np.concatenate([t_of_slot[s.inc_slot[inc]], np.arange(k)]),
            np.concatenate([ctx.x.offset + s.inc_col[inc], t.offset + np.arange(k)]),
            np.concatenate([s.inc_coef[inc], -np.ones(k)]),
            np.zeros(k), np.zeros(k), crit_slots, np.full(k, -1),
        )
    )  # fmt: skip
    p_slot, p_label, pair_of_inc = ctx.critical_pairs
    n = p_slot.size
    inc = np.flatnonzero(pair_of_inc >= 0)
    rows = [np.arange(n), pair_of_inc[inc]]
    cols = [t.offset + t_of_slot[p_slot], ctx.x.offset + s.inc_col[inc]]
    vals = [np.ones(n), -s.inc_coef[inc]]
    lower = frac * s.slot_demand[p_slot]
    if ctx.served is not None:
        rows.append(np.arange(n))
        cols.append(ctx.served.offset + p_slot)
        vals.append(np.full(n, -frac))
        lower = np.zeros(n)
    slot_names = ctx.slot_name(p_slot)
    b.add_rows(
        _block(
            "n_minus_1", REQUIREMENT,
            [f"n_minus_1[{a}|{s.labels[c]}]" for a, c in zip(slot_names, p_label, strict=True)],
            np.concatenate(rows), np.concatenate(cols), np.concatenate(vals),
            lower, np.full(n, np.inf), p_slot, p_label,
        )
    )  # fmt: skip


def budget(b: ModelBuilder, ctx: Context) -> None:
    """Total cost, fixed commitments included, stays within the budget."""
    limit = ctx.problem.budget_usd
    if limit is None:
        return
    s = ctx.structure
    fixed = float(s.fixed_usd_by_offer.sum())
    b.add_rows(
        _block(
            "budget", REQUIREMENT, ["budget"], np.zeros(s.n_cols, np.int64),
            ctx.x.offset + np.arange(s.n_cols), s.col_usd_per_x,
            np.array([-np.inf]), np.array([limit - fixed]), np.array([-1]), np.array([-1]),
        )
    )  # fmt: skip
