"""Shadow prices of capacity: what one more chip-hour of a capacity-limited offer is worth.

Method: solve the LP relaxation of the full (unpruned) model and read the duals of the
``capacity`` rows — the change in optimal cost per extra chip of capacity over the offer's
availability window — and divide by that window's hours. The figure is *net* of the offer's
own price: it is how much the plan's cost falls if one more chip-hour were available at
today's price (A at $2 with its capacity exhausted, B at $3 next: $1 per chip-hour).

An offer whose whole capacity is a take-or-pay commitment has no capacity row (the committed
part is already paid); its ``take_or_pay`` row's dual is the gross value of one more
committed chip, from which its price is subtracted to stay on the same net footing.

Reported: every offer with a finite capacity that binds in the plan (no room for one more
serving unit) or whose relaxation dual is non-zero. Duals of an LP relaxation are exact for
the relaxation; for the integer plan they are the standard first-order estimate, which the
tests cross-check against re-solving with more capacity.

Each value comes with the capacity range over which it holds (HiGHS's LP ranging of the
row's bound, on the same model): exact for the relaxation, so "one more chip is worth $x
per hour up to N chips"; beyond the range the basis changes and so does the value. For the
whole-unit plan the range, like the value, is the relaxation's answer, not a MILP fact
(walk-away multipliers and the cost without a vendor are MILP answers and are not read from
ranging, which cannot answer them exactly).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from chipfolio.errors import SolverError
from chipfolio.planner import (
    FloatArray,
    Formulation,
    IntArray,
    LiveModel,
    Model,
    Plan,
    Problem,
    SolveMode,
    SolveOptions,
    Structure,
    build_formulation,
    build_structure,
)

DUAL_TOL_USD_PER_CHIP_HOUR = 1e-6


@dataclass(frozen=True, slots=True)
class ShadowPrice:
    """Worth of one more chip-hour of ``offer`` to the plan, net of its price."""

    offer: str
    vendor: str  # label under the policy's share_by
    chip: str
    usd_per_chip_hour: float
    list_usd_per_chip_hour: float
    capacity_chips: float
    used_chips: int
    binds_in_plan: bool
    # LP ranging: the capacity range (chips) over which this value holds exactly for the
    # relaxation (None: no ranging); beyond it the value changes
    valid_from_chips: float | None = None
    valid_to_chips: float | None = None

    def to_json(self) -> dict[str, object]:
        def chips(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else round(v, 3)

        return {
            "valid_for_capacity_chips": [
                chips(self.valid_from_chips),
                chips(self.valid_to_chips),
            ],
            "offer": self.offer,
            "usd_per_chip_hour": round(self.usd_per_chip_hour, 6),
            "vendor": self.vendor,
            "chip": self.chip,
            "list_usd_per_chip_hour": round(self.list_usd_per_chip_hour, 6),
            "capacity_chips": self.capacity_chips,
            "used_chips": self.used_chips,
            "binds_in_plan": self.binds_in_plan,
        }


def _capacity_in_rows_only(form: Formulation) -> Formulation:
    """Lift the allocation columns' upper bounds (capacity / chips per unit).

    Those bounds repeat the capacity rows; left in, the LP may put the whole dual on a
    column bound (a reduced cost) and leave the capacity row's dual at zero. Every bound
    they carry is also a row (capacity, take-or-pay, gang), so the relaxation is unchanged.
    """
    block = form.var_blocks["x"]
    upper = form.col_upper.copy()
    upper[block.offset : block.stop] = np.inf
    return dataclasses.replace(form, col_upper=upper)


def _net_values(
    problem: Problem, structure: Structure, options: SolveOptions
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per offer: net USD per extra chip-hour from the relaxation's duals, and the capacity
    range (chips) over which that dual holds (LP bound ranging; NaN where none)."""
    form = _capacity_in_rows_only(build_formulation(problem, structure))
    model = Model(problem, structure, form, 0, 0.0)
    live = LiveModel(model, options)
    result = live.solve(SolveMode.LP)
    if result.row_duals is None:
        raise SolverError(f"the LP relaxation gave no duals ({result.raw_status})")
    duals = result.row_duals
    ranging = live.ranging()
    hours = np.maximum(structure.offer_end_hour - structure.offer_start_hour, 1e-300)
    n = len(problem.offers)
    value = np.full(n, np.nan)
    low, high = np.full(n, np.nan), np.full(n, np.nan)

    def ranges(rows: IntArray, offers: IntArray) -> None:
        if ranging is not None:
            low[offers] = ranging.row_bound_lower[rows]
            high[offers] = ranging.row_bound_upper[rows]

    rows = form.rows_of("capacity")
    offers = form.row_key_b[rows]
    value[offers] = -duals[rows] / hours[offers]
    ranges(rows, offers)
    rows = form.rows_of("take_or_pay")
    offers = form.row_key_b[rows]
    only_committed = np.isnan(value[offers])
    rows, offers = rows[only_committed], offers[only_committed]
    price = problem.offers.usd_per_chip_hour[offers]
    value[offers] = np.maximum(-duals[rows] / hours[offers] - price, 0.0)
    ranges(rows, offers)
    return value, low, high


def _used_chips(plan: Plan) -> dict[str, int]:
    used: dict[str, int] = {}
    for a in plan.allocations:
        if a.workload is not None:
            used[a.offer] = used.get(a.offer, 0) + a.chips
    return used


def shadow_prices(
    problem: Problem,
    plan: Plan,
    options: SolveOptions | None = None,
) -> tuple[ShadowPrice, ...]:
    """Shadow prices of every binding capacity, highest first."""
    options = options or SolveOptions()
    structure = build_structure(problem)
    value, low, high = _net_values(problem, structure, options)
    offers = problem.offers
    labels = problem.vendor_of_offers()
    used = _used_chips(plan)
    unit = np.zeros(len(offers))
    np.maximum.at(unit, structure.col_offer, structure.col_chips_per_x)
    out: list[ShadowPrice] = []
    for o in np.flatnonzero(np.isfinite(offers.capacity_chips)).tolist():
        offer_id = str(offers.ids[o])
        chips = used.get(offer_id, 0)
        room = float(offers.capacity_chips[o]) - chips
        binds = chips > 0 and room < max(float(unit[o]), 1.0)
        worth = float(value[o]) if np.isfinite(value[o]) else 0.0
        if not binds and worth <= DUAL_TOL_USD_PER_CHIP_HOUR:
            continue
        out.append(
            ShadowPrice(
                offer=offer_id,
                vendor=str(labels[o]),
                chip=str(offers.chips[o]),
                usd_per_chip_hour=max(worth, 0.0),
                list_usd_per_chip_hour=float(offers.usd_per_chip_hour[o]),
                capacity_chips=float(offers.capacity_chips[o]),
                used_chips=chips,
                binds_in_plan=binds,
                valid_from_chips=float(low[o]) if np.isfinite(low[o]) else None,
                valid_to_chips=float(high[o]) if np.isfinite(high[o]) else None,
            )
        )
    out.sort(key=lambda s: (-s.usd_per_chip_hour, s.offer))
    return tuple(out)
