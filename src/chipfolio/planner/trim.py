"""Trim a plan: drop every unit that no requirement needs.

A plan from branch and bound stopped by a time limit, or from a rounding, can hold units that
serve nothing a requirement asks for (a workload served at many times its demand). Trimming
takes them away column by column, dearest first, as long as the column's demand slot still
meets its demand, N-1 and min_vendors rows and no vendor goes above its share cap; gang jobs
keep their fixed units. Capacity only loosens. The solver then re-checks the trimmed plan
when the auxiliary variables are completed, so a trim never yields a plan that breaks a row.
"""

from __future__ import annotations

import math

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import FloatArray, Problem
from chipfolio.planner.shares import over_cap, vendor_spend
from chipfolio.planner.structure import Structure

EPS = 1e-9


def trim_plan(problem: Problem, s: Structure, form: Formulation, units: FloatArray) -> FloatArray:
    """``units`` less every unit no requirement needs (the same array when none can go)."""
    if problem.budget_usd is not None or not units.size:
        return units
    policy = problem.policy
    n_labels = max(len(s.labels), 1)
    x = units[: s.n_cols].copy()
    served = np.bincount(s.inc_slot, weights=s.inc_coef * x, minlength=s.n_slots)
    by_label = np.zeros((s.n_slots, n_labels))
    np.add.at(by_label, (s.inc_slot, s.col_label), s.inc_coef * x)
    count = np.zeros((s.n_slots, n_labels))
    np.add.at(count, (s.inc_slot, s.col_label), x)
    spend = vendor_spend(s, x)
    cost = form.c[: s.n_cols]
    gang = problem.workloads.gang[s.col_workload]
    candidates = np.flatnonzero((x > 0.5) & ~gang & (s.inc_coef > 0))
    changed = False
    for col in candidates[np.argsort(-cost[candidates] * x[candidates], kind="stable")].tolist():
        slot, label, coef = int(s.inc_slot[col]), int(s.col_label[col]), float(s.inc_coef[col])
        w = int(s.slot_workload[slot])
        demand = float(s.slot_demand[slot])
        most = min(x[col], math.floor((served[slot] - demand * (1 + 1e-9)) / coef + EPS))
        critical = bool(problem.workloads.critical[w])
        if critical and policy.n_minus_1 > 0 and most > 0:
            # losing another vendor L leaves served - by_label[L], which this removal lowers
            others = np.delete(by_label[slot], label)
            if others.size:
                room = served[slot] - others.max() - policy.n_minus_1 * demand * (1 + 1e-9)
                most = min(most, math.floor(room / coef + EPS))
        last_here = most >= count[slot, label] - EPS
        if critical and policy.min_vendors > 1 and last_here:
            if_used = int((count[slot] > 0.5).sum())
            if if_used <= policy.min_vendors:
                most = min(most, count[slot, label] - 1)
        while most >= 1:
            delta = most * float(s.col_usd_per_x[col])
            after = spend.copy()
            after[label] -= delta
            if not over_cap(after, policy.max_share).any():
                break
            most = math.floor(most / 2)
        if most < 1:
            continue
        x[col] -= most
        served[slot] -= most * coef
        by_label[slot, label] -= most * coef
        count[slot, label] -= most
        spend[label] -= most * float(s.col_usd_per_x[col])
        changed = True
    if not changed:
        return units
    out = units.copy()
    out[: s.n_cols] = x
    return out
