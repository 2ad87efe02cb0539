"""The procurement MILP: a multi-stage stochastic program on the scenario tree of the demand.

The tree is read off the scenarios: two scenarios share a node at history length h when their
demand is the same in every period before h. A signing at period s is one integer variable per
node at history length s (non-anticipativity by construction: scenarios that cannot yet be told
apart share the decision); the recourse of period t (on-demand chips, allocation of chips to
workloads, unserved demand, used capacity of take-or-pay contracts) is one variable per node at
history length t + 1 (the period's demand is known when it is bought).

Every cost is recorded as an entry (column, recourse node, dollars per unit, vendor); the
expected cost, the cost per scenario (for CVaR) and the per-period vendor share caps are all
built from those entries. docs/procurement.md states the formulation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from chipfolio.planner import FloatArray, Formulation, IntArray
from chipfolio.procurement.spec import Procurement

SECONDS_PER_HOUR = 3600.0
FIRST_STAGE = -1  # row_node of a row on the signings alone
COUPLING = -2  # row_node of a row that spans scenarios (CVaR)


@dataclass(frozen=True, eq=False)
class Tree:
    """Scenario tree: node labels per history length, and the recourse nodes per period."""

    labels: list[IntArray]  # labels[h][s]: node of scenario s at history length h (0..T)
    rec_index: IntArray  # [T, S] recourse node of period t in scenario s
    rec_t: IntArray  # period of every recourse node
    rec_rep: IntArray  # a representative scenario of every recourse node
    rec_prob: FloatArray  # probability of every recourse node
    membership: sp.csr_matrix  # [S, R] 1 where scenario s passes through recourse node r

    @property
    def n_rec(self) -> int:
        return int(self.rec_t.shape[0])

    def nodes_at(self, h: int) -> int:
        return int(self.labels[h].max()) + 1


def build_tree(demand: FloatArray, probability: FloatArray, *, separate: bool = False) -> Tree:
    """The tree of demand histories (``demand`` is [workload, period, scenario]);
    ``separate`` gives every scenario its own path from the root (perfect information)."""
    _, n_t, n_s = demand.shape
    root = np.arange(n_s, dtype=np.int64) if separate else np.zeros(n_s, dtype=np.int64)
    labels: list[IntArray] = [root]
    for h in range(1, n_t + 1):
        # refine the previous partition by the demand of period h - 1
        key = np.concatenate([labels[h - 1][None, :].astype(np.float64), demand[:, h - 1, :]])
        _, inverse = np.unique(key.T, axis=0, return_inverse=True)
        labels.append(np.asarray(inverse, dtype=np.int64).reshape(-1))
    counts = [int(labels[t + 1].max()) + 1 for t in range(n_t)]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rec_index = np.stack([offsets[t] + labels[t + 1] for t in range(n_t)]).astype(np.int64)
    n_rec = int(offsets[-1])
    rec_t = np.repeat(np.arange(n_t, dtype=np.int64), counts)
    rec_rep = np.zeros(n_rec, dtype=np.int64)
    rec_prob = np.zeros(n_rec)
    scen = np.tile(np.arange(n_s, dtype=np.int64), n_t)
    flat = rec_index.reshape(-1)
    rec_rep[flat[::-1]] = scen[::-1]  # the first scenario through each node
    np.add.at(rec_prob, flat, probability[scen])
    membership = sp.csr_matrix(
        (np.ones(flat.shape[0]), (scen, flat)), shape=(n_s, n_rec), dtype=np.float64
    )
    return Tree(labels, rec_index, rec_t, rec_rep, rec_prob, membership)


@dataclass(frozen=True, eq=False)
class Signing:
    """The integer columns of one (contract, sign period): one per node at that history."""

    contract: int
    period: int
    offset: int  # column of node 0
    nodes: int
    binary_offset: int | None  # the 'signed' binaries when the contract has min_chips


@dataclass(eq=False)
class _Assembly:
    """Columns, rows and cost entries as they are collected (then one Formulation)."""

    lower: list[FloatArray] = field(default_factory=list)
    upper: list[FloatArray] = field(default_factory=list)
    integer: list[IntArray] = field(default_factory=list)
    names: dict[str, tuple[int, int]] = field(default_factory=dict)
    n_cols: int = 0
    r_rows: list[IntArray] = field(default_factory=list)
    r_cols: list[IntArray] = field(default_factory=list)
    r_vals: list[FloatArray] = field(default_factory=list)
    row_lower: list[FloatArray] = field(default_factory=list)
    row_upper: list[FloatArray] = field(default_factory=list)
    row_family: list[str] = field(default_factory=list)
    # recourse node of every row; FIRST_STAGE: signings only; COUPLING: spans scenarios
    row_node: list[IntArray] = field(default_factory=list)
    n_rows: int = 0
    # cost entries: column, recourse node, dollars per unit, vendor index (-1: no vendor)
    c_col: list[IntArray] = field(default_factory=list)
    c_node: list[IntArray] = field(default_factory=list)
    c_val: list[FloatArray] = field(default_factory=list)
    c_vendor: list[IntArray] = field(default_factory=list)

    def cols(
        self, name: str, n: int, upper: Any, *, integer: bool = False, lower: Any = 0.0
    ) -> int:
        offset = self.n_cols
        self.lower.append(np.broadcast_to(np.asarray(lower, np.float64), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, np.float64), (n,)).copy())
        self.integer.append(np.full(n, int(integer), dtype=np.int64))
        self.names[name] = (offset, n)
        self.n_cols += n
        return offset

    def rows(
        self,
        family: str,
        n: int,
        rows: IntArray,
        cols: IntArray,
        vals: FloatArray,
        lower: Any,
        upper: Any,
        node: Any = -2,
    ) -> int:
        offset = self.n_rows
        if n == 0:
            return offset
        self.row_node.append(np.broadcast_to(np.asarray(node, np.int64), (n,)).copy())
        self.r_rows.append(np.asarray(rows, np.int64) + offset)
        self.r_cols.append(np.asarray(cols, np.int64))
        self.r_vals.append(np.asarray(vals, np.float64))
        self.row_lower.append(np.broadcast_to(np.asarray(lower, np.float64), (n,)).copy())
        self.row_upper.append(np.broadcast_to(np.asarray(upper, np.float64), (n,)).copy())
        self.row_family.extend([family] * n)
        self.n_rows += n
        return offset

    def cost(self, cols: IntArray, nodes: IntArray, vals: FloatArray, vendor: Any) -> None:
        self.c_col.append(np.asarray(cols, np.int64))
        self.c_node.append(np.asarray(nodes, np.int64))
        self.c_val.append(np.asarray(vals, np.float64))
        self.c_vendor.append(np.broadcast_to(np.asarray(vendor, np.int64), (len(cols),)).copy())


def _cat(parts: list[Any], dtype: Any) -> Any:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


@dataclass(frozen=True, eq=False)
class ProcurementModel:
    """The formulation plus everything needed to read a solution back."""

    procurement: Procurement
    tree: Tree
    formulation: Formulation
    signings: list[Signing]
    groups: list[tuple[str, str]]  # (provider, canonical chip) of every capacity pool
    vendors: list[str]
    group_vendor: IntArray
    columns: dict[str, tuple[int, int]]
    scenario_cost: sp.csr_matrix  # [S, n_cols] dollars per unit of each column, by scenario
    period_cost: sp.csr_matrix  # [R, n_cols] dollars per unit, by recourse node
    vendor_cost: list[sp.csr_matrix]  # per vendor, [R, n_cols]
    delivery: list[FloatArray]  # per contract, [sign period index, period] delivered fraction
    anticipative: bool
    seconds: float
    row_node: IntArray  # recourse node of every row (FIRST_STAGE, COUPLING)
    first_stage: npt.NDArray[np.bool_]  # the signing columns (x and their 'signed' binaries)

    def block(self, name: str) -> slice:
        offset, n = self.columns.get(name, (0, 0))
        return slice(offset, offset + n)


def start_period(c: Any, sign_period: int, available: int = 0) -> int:
    """First period a signing delivers: after its lead time, not before the chip exists."""
    return max(sign_period + int(c.lead_periods), available)


def delivered_fraction(c: Any, sign_period: int, periods: int, available: int = 0) -> FloatArray:
    """Fraction of the signed chips delivered (and paid) in each period of the horizon."""
    out = np.zeros(periods)
    start = start_period(c, sign_period, available)
    for i in range(c.term_periods):
        t = start + i
        if t >= periods:
            break
        out[t] = c.ramp[i] if i < len(c.ramp) else 1.0
    return out


def build_model(
    proc: Procurement,
    *,
    demand: FloatArray | None = None,
    probability: FloatArray | None = None,
    anticipative: bool = False,
    fixed_now: dict[int, float] | None = None,
) -> ProcurementModel:
    """Build the MILP of ``proc`` (or of a variant: another demand array and probabilities,
    every scenario on its own (``anticipative``: the wait-and-see model), or the period-0
    signings fixed to ``fixed_now`` {contract index: chips})."""
    started = time.perf_counter()
    spec = proc.spec
    dem = proc.demand if demand is None else demand
    prob = proc.probabilities if probability is None else probability
    n_w, n_t, n_s = dem.shape
    hours = spec.hours_per_period
    tree = build_tree(dem, prob, separate=anticipative)
    n_r = tree.n_rec
    rec_demand = dem[:, tree.rec_t, tree.rec_rep]  # [W, R]

    def factor(chip: str, periods: IntArray) -> FloatArray:
        return np.array([proc.price_factor(chip, float(t)) for t in range(n_t)])[periods]

    # capacity pools: (provider, chip) of every contract and on-demand offer
    cid = proc.chip_ids
    groups: list[tuple[str, str]] = []
    pools = [(c.provider, c.chip) for c in spec.contracts]
    pools += [(o.provider, o.chip) for o in spec.on_demand]
    for provider, chip_name in pools:
        key = (provider, cid[chip_name])
        if key not in groups:
            groups.append(key)
    n_g = len(groups)
    by = spec.policy.share_by
    labels = [pool[0] if by == "provider" else proc.silicon[pool[1]] for pool in groups]
    vendors = sorted(set(labels))
    group_vendor = np.array([vendors.index(v) for v in labels], dtype=np.int64)
    thr = np.zeros((n_w, n_g))
    for wi in range(n_w):
        for name, rate in proc.rates(wi).items():
            for gi, pool in enumerate(groups):
                if pool[1] == cid.get(name, name):
                    thr[wi, gi] = rate
    # chips that could ever be useful in a pool: all demand it can serve, at its rate
    with np.errstate(divide="ignore"):
        need = np.where(thr > 0, 1.0 / np.where(thr > 0, thr, 1.0), 0.0)  # chips per token/s
    peak_chips = (need.T @ dem.reshape(n_w, -1)).max(axis=1) if n_w else np.zeros(n_g)
    peak_chips = np.ceil(peak_chips + 1e-9)

    a = _Assembly()
    # ----- signings -------------------------------------------------------------------
    signings: list[Signing] = []
    delivery: list[FloatArray] = []
    for k, c in enumerate(spec.contracts):
        g = groups.index((c.provider, cid[c.chip]))
        avail = proc.available_from(c.chip)
        frac = np.stack([delivered_fraction(c, s0, n_t, avail) for s0 in c.sign_periods])
        delivery.append(frac)
        positive = frac[frac > 0]
        bound_chips = max(peak_chips[g] / (positive.min() if positive.size else 1.0), c.min_chips)
        ub = math.ceil(bound_chips / c.chips_per_instance - 1e-9)
        if c.max_chips is not None:
            ub = min(ub, math.floor(c.max_chips / c.chips_per_instance + 1e-9))
        for s0 in c.sign_periods:
            nodes = tree.nodes_at(s0)
            upper = np.full(nodes, float(ub))
            lower = np.zeros(nodes)
            if fixed_now is not None and s0 == 0:
                q = fixed_now.get(k, 0.0) / c.chips_per_instance
                upper[:] = lower[:] = q
            off = a.cols(f"n:{k}:{s0}", nodes, upper, integer=True, lower=lower)
            boff = None
            if c.min_chips > 0 and ub > 0:
                boff = a.cols(f"z:{k}:{s0}", nodes, 1.0, integer=True)
                idx = np.arange(nodes)
                # chips >= min_chips x signed;  instances <= bound x signed
                a.rows(
                    "min_chips", nodes, np.concatenate([idx, idx]),
                    np.concatenate([off + idx, boff + idx]),
                    np.concatenate([np.full(nodes, float(c.chips_per_instance)),
                                    np.full(nodes, -float(c.min_chips))]),
                    0.0, np.inf, FIRST_STAGE,
                )  # fmt: skip
                a.rows(
                    "max_chips", nodes, np.concatenate([idx, idx]),
                    np.concatenate([off + idx, boff + idx]),
                    np.concatenate([np.ones(nodes), np.full(nodes, -float(ub))]),
                    -np.inf, 0.0, FIRST_STAGE,
                )  # fmt: skip
            signings.append(Signing(k, s0, off, nodes, boff))

    # ----- recourse columns -------------------------------------------------------------
    od_off = []
    for j, o in enumerate(spec.on_demand):
        g = groups.index((o.provider, cid[o.chip]))
        # no bound of our own: buying chips elsewhere can be what meets a share cap
        ub = np.inf if o.max_chips is None else float(o.max_chips)
        ub_nodes = np.where(tree.rec_t < proc.available_from(o.chip), 0.0, ub)
        off = a.cols(f"od:{j}", n_r, ub_nodes)
        od_off.append(off)
        price = o.usd_per_chip_hour * hours * factor(o.chip, tree.rec_t)
        a.cost(off + np.arange(n_r), np.arange(n_r), price, group_vendor[g])
    pairs = [(w, g) for w in range(n_w) for g in range(n_g) if thr[w, g] > 0]
    y_off = a.cols("y", len(pairs) * n_r, np.inf)
    u_off: dict[int, int] = {}
    for w, ws in enumerate(spec.workloads):
        if ws.unserved_usd_per_token is not None:
            u_off[w] = a.cols(f"u:{w}", n_r, np.inf)
            per_unit = ws.unserved_usd_per_token * SECONDS_PER_HOUR * hours
            a.cost(u_off[w] + np.arange(n_r), np.arange(n_r), np.full(n_r, per_unit), -1)
    # take-or-pay < 1: the paid share of the delivered chips is usable at no extra cost; each
    # chip used beyond it is paid when used: extra[k, r] <= (1 - share) x delivered
    extra_off: dict[int, int] = {}
    for k, c in enumerate(spec.contracts):
        if c.take_or_pay < 1.0:
            extra_off[k] = a.cols(f"extra:{k}", n_r, np.inf)
            g = groups.index((c.provider, cid[c.chip]))
            a.cost(extra_off[k] + np.arange(n_r), np.arange(n_r),
                   c.usd_per_chip_hour * hours * factor(c.chip, tree.rec_t),
                   group_vendor[g])  # fmt: skip

    # ----- delivered capacity per contract and recourse node (entries of n columns) --------
    # deliv[k] = (rec nodes, columns, chips per unit of the column)
    deliv: dict[int, tuple[IntArray, IntArray, FloatArray]] = {}
    for sg in signings:
        c = spec.contracts[sg.contract]
        frac = delivery[sg.contract][c.sign_periods.index(sg.period)]
        window = np.flatnonzero(frac > 0)
        if window.size == 0:
            continue
        r = np.unique(tree.rec_index[window, :])
        node = tree.labels[sg.period][tree.rec_rep[r]]
        vals = frac[tree.rec_t[r]] * c.chips_per_instance
        prev = deliv.get(sg.contract)
        entry = (r, sg.offset + node, vals)
        if prev is not None:
            entry = tuple(np.concatenate([x, y]) for x, y in zip(prev, entry, strict=True))  # type: ignore[assignment]
        deliv[sg.contract] = entry
        g = groups.index((c.provider, cid[c.chip]))
        signed_price = c.usd_per_chip_hour * proc.price_factor(c.chip, sg.period)
        paid = vals * c.take_or_pay * signed_price * hours
        a.cost(sg.offset + node, r, paid, group_vendor[g])

    # ----- capacity: allocated chips <= delivered (or used) + on-demand, per pool and node ---
    rr, cc, vv = [], [], []
    rec = np.arange(n_r)
    for p, (_, g) in enumerate(pairs):
        rr.append(g * n_r + rec)
        cc.append(y_off + p * n_r + rec)
        vv.append(np.ones(n_r))
    for j, o in enumerate(spec.on_demand):
        g = groups.index((o.provider, cid[o.chip]))
        rr.append(g * n_r + rec)
        cc.append(od_off[j] + rec)
        vv.append(-np.ones(n_r))
    for k, c in enumerate(spec.contracts):
        g = groups.index((c.provider, cid[c.chip]))
        if k in extra_off:
            rr.append(g * n_r + rec)
            cc.append(extra_off[k] + rec)
            vv.append(-np.ones(n_r))
        if k in deliv:
            r, col, val = deliv[k]
            rr.append(g * n_r + r)
            cc.append(col)
            vv.append(-c.take_or_pay * val)
    a.rows("capacity", n_g * n_r, _cat(rr, np.int64), _cat(cc, np.int64), _cat(vv, np.float64),
           -np.inf, 0.0, np.tile(rec, n_g))  # fmt: skip

    # ----- take-or-pay: chips used beyond the paid share <= the unpaid share ---------------
    for k, c in enumerate(spec.contracts):
        if k not in extra_off:
            continue
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        r, col, val = deliv.get(k, empty)
        a.rows("take_or_pay", n_r, np.concatenate([rec, r]),
               np.concatenate([extra_off[k] + rec, col]),
               np.concatenate([np.ones(n_r), -(1.0 - c.take_or_pay) * val]),
               -np.inf, 0.0, rec)  # fmt: skip

    # ----- demand: tokens served + unserved >= demand, per workload and node --------------
    rr, cc, vv = [], [], []
    for p, (w, g) in enumerate(pairs):
        rr.append(w * n_r + rec)
        cc.append(y_off + p * n_r + rec)
        vv.append(np.full(n_r, thr[w, g]))
    for w, off in u_off.items():
        rr.append(w * n_r + rec)
        cc.append(off + rec)
        vv.append(np.ones(n_r))
    a.rows("demand", n_w * n_r, _cat(rr, np.int64), _cat(cc, np.int64), _cat(vv, np.float64),
           rec_demand.reshape(-1), np.inf, np.tile(rec, n_w))  # fmt: skip

    # ----- policy, per period and node ----------------------------------------------------
    pol = spec.policy
    crit = [i for i, ws in enumerate(spec.workloads) if ws.critical]
    if pol.n_minus_1 > 0 and crit:
        for w in crit:
            mine = [p for p, (pw, _) in enumerate(pairs) if pw == w]
            for v in range(len(vendors)):
                rr, cc, vv = [], [], []
                for p in mine:
                    g = pairs[p][1]
                    if group_vendor[g] != v:
                        rr.append(rec)
                        cc.append(y_off + p * n_r + rec)
                        vv.append(np.full(n_r, thr[w, g]))
                a.rows("n_minus_1", n_r, _cat(rr, np.int64), _cat(cc, np.int64),
                       _cat(vv, np.float64), pol.n_minus_1 * rec_demand[w], np.inf,
                       rec)  # fmt: skip
    if pol.min_vendors > 1 and crit:
        for w in crit:
            mine = [p for p, (pw, _) in enumerate(pairs) if pw == w]
            used_v = sorted({int(group_vendor[pairs[p][1]]) for p in mine})
            active = rec_demand[w] > 0
            b_off = a.cols(f"vendor_used:{w}", len(used_v) * n_r, np.where(
                np.tile(active, len(used_v)), 1.0, 0.0), integer=True)  # fmt: skip
            for i, v in enumerate(used_v):
                rr, cc, vv = [rec], [b_off + i * n_r + rec], [-np.ones(n_r)]
                for p in mine:
                    if group_vendor[pairs[p][1]] == v:
                        rr.append(rec)
                        cc.append(y_off + p * n_r + rec)
                        vv.append(np.ones(n_r))
                # a vendor counts when it carries at least one chip of the workload
                a.rows("vendor_used", n_r, _cat(rr, np.int64), _cat(cc, np.int64),
                       _cat(vv, np.float64), 0.0, np.inf, rec)  # fmt: skip
            a.rows("min_vendors", n_r, np.tile(rec, len(used_v)),
                   b_off + np.arange(len(used_v) * n_r), np.ones(len(used_v) * n_r),
                   np.where(active, float(pol.min_vendors), 0.0), np.inf, rec)  # fmt: skip

    # ----- power: delivered and on-demand chips x watts x PUE, per node -------------------
    power = spec.power
    if power is not None and (power.max_mw or power.max_mw_by_vendor):
        limits: list[tuple[str, float, int]] = []  # (row family, MW, vendor or -1)
        if power.max_mw:
            limits.append(("power", power.max_mw, -1))
        for name, mw in power.max_mw_by_vendor.items():
            limits.append(("power_vendor", mw, vendors.index(name)))
        for family, mw, v in limits:
            rr, cc, vv = [], [], []
            for k, c in enumerate(spec.contracts):
                g = groups.index((c.provider, cid[c.chip]))
                if k in deliv and (v < 0 or group_vendor[g] == v):
                    r, col, val = deliv[k]
                    watts = proc.contract_watts[k] or 0.0
                    rr.append(r)
                    cc.append(col)
                    vv.append(val * watts * power.pue / 1e6)
            for j, o in enumerate(spec.on_demand):
                g = groups.index((o.provider, cid[o.chip]))
                if v < 0 or group_vendor[g] == v:
                    rr.append(rec)
                    cc.append(od_off[j] + rec)
                    vv.append(np.full(n_r, (proc.offer_watts[j] or 0.0) * power.pue / 1e6))
            a.rows(family, n_r, _cat(rr, np.int64), _cat(cc, np.int64), _cat(vv, np.float64),
                   -np.inf, mw, rec)  # fmt: skip

    # ----- costs: expected objective, per-scenario and per-vendor matrices ----------------
    n_base = a.n_cols
    col = _cat(a.c_col, np.int64)
    node = _cat(a.c_node, np.int64)
    val = _cat(a.c_val, np.float64)
    vendor = _cat(a.c_vendor, np.int64)
    period_cost = sp.csr_matrix((val, (node, col)), shape=(n_r, n_base))
    vendor_cost = []
    for v in range(len(vendors)):
        m = vendor == v
        vendor_cost.append(sp.csr_matrix((val[m], (node[m], col[m])), shape=(n_r, n_base)))
    scenario_cost = (tree.membership @ period_cost).tocsr()
    expected = np.asarray(prob @ scenario_cost).reshape(-1)

    if pol.max_share < 1.0 and len(vendors) > 0:
        # total[r] = all vendors' dollars at node r; each vendor's dollars <= cap x total[r]
        n_v = len(vendors)
        total = a.cols("spend_total", n_r, np.inf)
        paid = vendor >= 0
        a.rows("spend_total", n_r, np.concatenate([node[paid], rec]),
               np.concatenate([col[paid], total + rec]),
               np.concatenate([val[paid], -np.ones(n_r)]), 0.0, 0.0, rec)  # fmt: skip
        a.rows("share_cap", n_v * n_r,
               np.concatenate([vendor[paid] * n_r + node[paid], np.arange(n_v * n_r)]),
               np.concatenate([col[paid], np.tile(total + rec, n_v)]),
               np.concatenate([val[paid], np.full(n_v * n_r, -pol.max_share)]),
               -np.inf, 0.0, np.tile(rec, n_v))  # fmt: skip

    risk = spec.risk
    weight = risk.cvar_weight
    objective: list[tuple[int, FloatArray]] = [(0, (1.0 - weight) * expected)]
    if weight > 0:
        eta = a.cols("cvar_eta", 1, np.inf, lower=-np.inf)
        excess = a.cols("cvar_excess", n_s, np.inf)
        sc = scenario_cost.tocoo()
        scen = np.arange(n_s)
        # excess_s >= cost_s - eta
        a.rows("cvar", n_s, np.concatenate([sc.row, scen, scen]),
               np.concatenate([sc.col, np.full(n_s, eta), excess + scen]),
               np.concatenate([-sc.data, np.ones(n_s), np.ones(n_s)]), 0.0, np.inf)  # fmt: skip
        objective += [(eta, np.array([weight])), (excess, weight * prob / (1 - risk.cvar_alpha))]
    c_vec = np.zeros(a.n_cols)
    for offset, values in objective:
        c_vec[offset : offset + values.shape[0]] = values

    A = sp.csc_matrix(
        (_cat(a.r_vals, np.float64), (_cat(a.r_rows, np.int64), _cat(a.r_cols, np.int64))),
        shape=(a.n_rows, a.n_cols),
    )
    A.sum_duplicates()
    n_rows = a.n_rows
    form = Formulation(
        c=c_vec,
        objective_offset=0.0,
        A=A,
        row_lower=_cat(a.row_lower, np.float64),
        row_upper=_cat(a.row_upper, np.float64),
        col_lower=_cat(a.lower, np.float64),
        col_upper=_cat(a.upper, np.float64),
        integrality=_cat(a.integer, np.int64),
        row_names=[f"{f}[{i}]" for i, f in enumerate(a.row_family)],
        row_family=list(a.row_family),
        row_role=["requirement"] * n_rows,
        row_key_a=np.full(n_rows, -1, dtype=np.int64),
        row_key_b=np.full(n_rows, -1, dtype=np.int64),
    )
    first_stage = np.zeros(a.n_cols, dtype=np.bool_)
    for sg in signings:
        first_stage[sg.offset : sg.offset + sg.nodes] = True
        if sg.binary_offset is not None:
            first_stage[sg.binary_offset : sg.binary_offset + sg.nodes] = True
    pad = a.n_cols - n_base
    if pad:
        scenario_cost = sp.hstack([scenario_cost, sp.csr_matrix((n_s, pad))]).tocsr()
        period_cost = sp.hstack([period_cost, sp.csr_matrix((n_r, pad))]).tocsr()
        vendor_cost = [sp.hstack([m, sp.csr_matrix((n_r, pad))]).tocsr() for m in vendor_cost]
    return ProcurementModel(
        procurement=proc,
        tree=tree,
        formulation=form,
        signings=signings,
        groups=groups,
        vendors=vendors,
        group_vendor=group_vendor,
        columns=dict(a.names),
        scenario_cost=scenario_cost,
        period_cost=period_cost,
        vendor_cost=vendor_cost,
        delivery=delivery,
        anticipative=anticipative,
        seconds=time.perf_counter() - started,
        row_node=_cat(a.row_node, np.int64),
        first_stage=first_stage,
    )
