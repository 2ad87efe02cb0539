"""Index sets of the planning model: virtual offers, allocation columns and demand slots.

Time model. Every workload starts at hour 0 and runs until ``min(deadline, horizon)``; an offer
can be used on its availability window clipped to the horizon. An allocation (a *column*) of
workload w on offer o therefore runs on ``[s_o, min(end_w, e_o))`` with ``s_o`` the offer's
start — all allocations of one offer start together, so an offer's peak use is at its start
and one capacity row per offer is exact.

* Inference demand must hold at every moment: each inference workload's window is cut into
  *slots* wherever one of its candidate offers starts or stops being available, and the
  demand row is written per slot (a reserved block that starts on day 10 cannot serve days
  0-9). An allocation is constant while it runs.
* Training demand is a token budget: one slot per training workload; an allocation counts for
  the hours it runs (``tokens/s x hours``), normalised to an average rate over the window.

Take-or-pay. An offer with a commitment of T chips is split into two *virtual offers*: the
committed part (capacity T, marginal price 0; its cost ``T x price x hours`` is a fixed cost
paid whether used or not) and the overflow part (the rest of the capacity at the list price).
So the plan uses committed chips first, because they are already paid for.

Gang scheduling. A gang (non-splittable) training job runs all its chips in one offer: for each
candidate offer the number of serving units it needs there is fixed (``gang_units``), and a
binary choice picks one offer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chipfolio.planner.memo import Memo, content_key, read_only
from chipfolio.planner.problem import (
    BoolArray,
    FloatArray,
    IntArray,
    Problem,
    WorkloadKind,
    unique_inverse,
)

TIME_DECIMALS = 6
GANG_TOLERANCE = 1e-9
# Committed chips are already paid for; in the objective only, a token price (a millionth of
# list) makes the plan draw only what it needs from them instead of parking idle committed
# chips on a workload. Share caps and budgets see the true (zero) marginal cost.
COMMITTED_TIEBREAK = 1e-6


@dataclass(frozen=True, eq=False)
class VirtualOffers:
    """Offers as the model sees them: index ``v < n_offers`` is offer v itself (or its
    overflow part when it has a commitment); ``v >= n_offers`` are committed parts."""

    offer: IntArray
    committed: BoolArray
    capacity_chips: FloatArray
    usd_per_chip_hour: FloatArray


@dataclass(frozen=True, eq=False)
class Structure:
    """The columns, slots and their incidence, all as flat numpy arrays."""

    offer_start_hour: FloatArray  # [o] clipped to the horizon
    offer_end_hour: FloatArray  # [o]
    workload_end_hour: FloatArray  # [w]
    fixed_usd_by_offer: FloatArray  # [o] take-or-pay commitment cost over the horizon
    labels: tuple[str, ...]  # vendor labels under the policy's share_by
    offer_label: IntArray  # [o] index into labels
    virtual: VirtualOffers
    # columns: one integer variable each, counting serving units (instances_per_unit instances)
    col_workload: IntArray
    col_offer: IntArray
    col_virtual: IntArray
    col_pair: IntArray  # index of the (workload, offer) pair the column belongs to
    col_hours: FloatArray
    col_start_hour: FloatArray
    col_end_hour: FloatArray
    col_instances_per_x: IntArray
    col_chips_per_x: FloatArray
    col_tokens_per_s_per_x: FloatArray  # while running
    col_usd_per_x: FloatArray  # marginal cost over the hours it runs
    col_upper: FloatArray
    col_whole_job: BoolArray  # gang job placed whole (x is 0/1); others count serving units
    col_label: IntArray  # vendor label of the column's offer (index into labels)
    # (workload, offer) pairs; gang pairs carry their fixed unit count
    pair_workload: IntArray
    pair_offer: IntArray
    pair_gang_units: FloatArray  # 0 for non-gang pairs
    # slots: demand rows
    slot_workload: IntArray
    slot_start_hour: FloatArray
    slot_end_hour: FloatArray
    slot_demand: FloatArray  # tokens/s (average over the window for training)
    # incidence of columns in slots: coefficient = tokens/s one x contributes to that slot
    inc_col: IntArray
    inc_slot: IntArray
    inc_coef: FloatArray
    # capacity checks: chips in use on a finite-capacity virtual offer at the moments when
    # use can rise (the start of any of its columns); incidence rows x columns
    check_virtual: IntArray
    check_hour: FloatArray
    check_inc_row: IntArray
    check_inc_col: IntArray

    @property
    def n_cols(self) -> int:
        return int(self.col_workload.shape[0])

    @property
    def n_slots(self) -> int:
        return int(self.slot_workload.shape[0])

    def objective_usd_per_x(self, list_price: FloatArray) -> FloatArray:
        """Column costs for the objective: true costs plus the committed-chip tie-break."""
        committed = self.virtual.committed[self.col_virtual]
        nudge = COMMITTED_TIEBREAK * list_price[self.col_offer] * self.col_chips_per_x
        out: FloatArray = self.col_usd_per_x + np.where(committed, nudge * self.col_hours, 0.0)
        return out


def _virtual_offers(problem: Problem) -> VirtualOffers:
    offers = problem.offers
    n = len(offers)
    committed_idx = np.flatnonzero(offers.take_or_pay_chips > 0)
    plain_capacity = offers.capacity_chips - offers.take_or_pay_chips
    return VirtualOffers(
        offer=np.concatenate([np.arange(n), committed_idx]).astype(np.int64),
        committed=np.concatenate([np.zeros(n, bool), np.ones(committed_idx.size, bool)]),
        capacity_chips=np.concatenate([plain_capacity, offers.take_or_pay_chips[committed_idx]]),
        usd_per_chip_hour=np.concatenate([offers.usd_per_chip_hour, np.zeros(committed_idx.size)]),
    )


def _windows(problem: Problem) -> tuple[FloatArray, FloatArray, FloatArray]:
    horizon = problem.horizon_hours
    offers = problem.offers
    start = np.round(np.clip(offers.available_from_hour, 0.0, horizon), TIME_DECIMALS)
    end = np.round(np.clip(offers.available_until_hour, 0.0, horizon), TIME_DECIMALS)
    w_end = np.round(np.minimum(problem.workloads.deadline_hours, horizon), TIME_DECIMALS)
    return start.astype(np.float64), end.astype(np.float64), w_end.astype(np.float64)


def _pairs(problem: Problem, start: FloatArray, end: FloatArray, w_end: FloatArray) -> IntArray:
    """Candidate (workload, offer) pairs as an (n, 2) array, row-major order."""
    overlap = np.minimum(w_end[:, None], end[None, :]) - start[None, :]
    w, o = np.nonzero(problem.runnable & (overlap > 0))
    return np.stack([w, o], axis=1).astype(np.int64)


_Slots = tuple[IntArray, FloatArray, FloatArray, IntArray, IntArray]
_SLOTS: Memo[_Slots] = Memo(1024)
_Checks = tuple[IntArray, FloatArray, IntArray, IntArray]
_CHECKS: Memo[_Checks] = Memo(1024)


def _slots(
    problem: Problem,
    w_end: FloatArray,
    col_w: IntArray,
    col_start: FloatArray,
    col_end: FloatArray,
) -> _Slots:
    """Slot table and each column's slot range [first, last) (remembered per content)."""
    inference = problem.workloads.kinds == WorkloadKind.INFERENCE.value
    key = content_key(inference, w_end, col_w, col_start, col_end)
    return _SLOTS.get(key, lambda: _new_slots(inference, w_end, col_w, col_start, col_end))


def _new_slots(
    inference: BoolArray,
    w_end: FloatArray,
    col_w: IntArray,
    col_start: FloatArray,
    col_end: FloatArray,
) -> _Slots:
    n_w = inference.shape[0]
    col_inf = inference[col_w]
    all_w = np.arange(n_w)
    wt = np.concatenate([all_w, all_w, col_w[col_inf], col_w[col_inf]])
    tt = np.concatenate([np.zeros(n_w), w_end, col_start[col_inf], col_end[col_inf]])
    times = np.unique(tt)
    radix = np.int64(times.size + 1)
    keys = np.unique(wt * radix + np.searchsorted(times, tt))
    same = keys[:-1] // radix == keys[1:] // radix
    start_keys, end_keys = keys[:-1][same], keys[1:][same]
    slot_w = (start_keys // radix).astype(np.int64)
    slot_start = times[start_keys % radix]
    slot_end = times[end_keys % radix]
    # inference columns span slots by time; training columns own the single slot of their job
    col_first = np.searchsorted(start_keys, col_w * radix + np.searchsorted(times, col_start))
    col_last = np.searchsorted(start_keys, col_w * radix + np.searchsorted(times, col_end))
    first_of_w = np.searchsorted(slot_w, col_w)
    col_first = np.where(col_inf, col_first, first_of_w).astype(np.int64)
    col_last = np.where(col_inf, col_last, first_of_w + 1).astype(np.int64)
    read_only(slot_w, slot_start, slot_end, col_first, col_last)
    return slot_w, slot_start, slot_end, col_first, col_last


def _capacity_checks(
    virtual: VirtualOffers, col_virtual: IntArray, col_start: FloatArray, col_end: FloatArray
) -> _Checks:
    """Rows (virtual offer, hour) at every column start on finite-capacity virtual offers,
    and which columns are running at each of those moments (remembered per content)."""
    finite = np.isfinite(virtual.capacity_chips)[col_virtual]
    key = content_key(finite, col_virtual, col_start, col_end)
    return _CHECKS.get(key, lambda: _new_checks(finite, col_virtual, col_start, col_end))


def _new_checks(
    finite: BoolArray, col_virtual: IntArray, col_start: FloatArray, col_end: FloatArray
) -> _Checks:
    cols = np.flatnonzero(finite)
    times = np.unique(np.concatenate([col_start[cols], col_end[cols]]))
    radix = np.int64(times.size + 1)
    start_rank = np.searchsorted(times, col_start[cols])
    end_rank = np.searchsorted(times, col_end[cols])
    keys = np.unique(col_virtual[cols] * radix + start_rank)
    first = np.searchsorted(keys, col_virtual[cols] * radix + start_rank)
    last = np.searchsorted(keys, col_virtual[cols] * radix + end_rank)
    cover = last - first
    inc_col = np.repeat(cols, cover)
    offsets = np.repeat(np.cumsum(cover) - cover, cover)
    inc_row = np.repeat(first, cover) + (np.arange(inc_col.size) - offsets)
    out = (
        (keys // radix).astype(np.int64),
        times[keys % radix].astype(np.float64),
        inc_row.astype(np.int64),
        inc_col.astype(np.int64),
    )
    read_only(*out)
    return out


def _labels(problem: Problem) -> tuple[tuple[str, ...], IntArray]:
    names, inverse = unique_inverse(problem.vendor_of_offers())
    return tuple(str(n) for n in names.tolist()), inverse


def build_structure(problem: Problem) -> Structure:
    """Enumerate columns and slots for ``problem`` (vectorised; no per-element loops)."""
    offers, workloads = problem.offers, problem.workloads
    start, end, w_end = _windows(problem)
    virtual = _virtual_offers(problem)
    pairs = _pairs(problem, start, end, w_end)
    pw, po = pairs[:, 0], pairs[:, 1]
    hours = np.minimum(w_end[pw], end[po]) - start[po]
    units = problem.units[pw, po]
    chips_per_x = (units * offers.chips_per_instance[po]).astype(np.float64)
    rate_per_x = chips_per_x * problem.tokens_per_s_per_chip[pw, po]

    # gang pairs: fixed number of units to finish the token budget in the hours available
    gang = workloads.gang[pw]
    demand = workloads.demand_tokens_per_s[pw]
    needed = demand * w_end[pw] / np.maximum(rate_per_x * hours, 1e-300)
    gang_units = np.where(gang, np.ceil(needed - GANG_TOLERANCE), 0.0)
    fits = ~gang | (gang_units * chips_per_x <= offers.capacity_chips[po])
    keep_pairs = np.flatnonzero(fits)

    # slots from the pair windows, then one piece per (pair, slot) for inference
    kw, ko = pw[keep_pairs], po[keep_pairs]
    p_start, p_end = start[ko], np.minimum(w_end[kw], end[ko])
    slot_w, slot_start, slot_end, first, last = _slots(problem, w_end, kw, p_start, p_end)
    cover = last - first
    piece_pair = np.repeat(keep_pairs, cover)
    offsets = np.repeat(np.cumsum(cover) - cover, cover)
    piece_slot = np.repeat(first, cover) + (np.arange(piece_pair.size) - offsets)
    training = ~(workloads.kinds == WorkloadKind.INFERENCE.value)[pw[piece_pair]]
    piece_start = np.where(training, start[po[piece_pair]], slot_start[piece_slot])
    piece_end = np.where(
        training, np.minimum(w_end[pw[piece_pair]], end[po[piece_pair]]), slot_end[piece_slot]
    )

    # columns: every piece on its offer (or overflow part), plus the committed part if any
    committed_of = np.full(len(offers), -1, dtype=np.int64)
    committed_of[virtual.offer[virtual.committed]] = np.flatnonzero(virtual.committed)
    has_commit = np.flatnonzero(committed_of[po[piece_pair]] >= 0)
    col_piece = np.concatenate([np.arange(piece_pair.size), has_commit])
    col_pair = piece_pair[col_piece]
    col_virtual = np.concatenate([po[piece_pair], committed_of[po[piece_pair[has_commit]]]])
    cap_units = np.floor(virtual.capacity_chips[col_virtual] / chips_per_x[col_pair] + 1e-9)
    col_upper = np.where(gang[col_pair], np.minimum(cap_units, gang_units[col_pair]), cap_units)
    usable = col_upper > 0
    order = np.lexsort((col_virtual[usable], piece_slot[col_piece][usable], col_pair[usable]))
    col_piece = col_piece[usable][order]
    col_pair, col_virtual, col_upper = (
        col_pair[usable][order],
        col_virtual[usable][order],
        col_upper[usable][order],
    )
    col_slot = piece_slot[col_piece]
    col_start, col_end = piece_start[col_piece], piece_end[col_piece]

    col_w, col_o = pw[col_pair], po[col_pair]
    col_hours = col_end - col_start
    # a gang job on an offer without commitment is one binary column: the whole job
    whole = gang[col_pair] & (committed_of[col_o] < 0)
    scale = np.where(whole, gang_units[col_pair], 1.0)
    col_upper = np.where(whole, 1.0, col_upper)
    col_chips = chips_per_x[col_pair] * scale
    col_rate = rate_per_x[col_pair] * scale
    slot_hours = np.maximum((slot_end - slot_start)[col_slot], 1e-300)
    inc_coef = col_rate * np.minimum(col_hours / slot_hours, 1.0)
    cap = _capacity_checks(virtual, col_virtual, col_start, col_end)

    labels, offer_label = _labels(problem)
    offer_hours = end - start
    fixed = offers.take_or_pay_chips * offers.usd_per_chip_hour * offer_hours
    return Structure(
        offer_start_hour=start,
        offer_end_hour=end,
        workload_end_hour=w_end,
        fixed_usd_by_offer=fixed,
        labels=labels,
        offer_label=offer_label,
        virtual=virtual,
        col_workload=col_w,
        col_offer=col_o,
        col_virtual=col_virtual,
        col_pair=col_pair,
        col_hours=col_hours,
        col_start_hour=col_start,
        col_end_hour=col_end,
        col_instances_per_x=(units[col_pair] * scale).astype(np.int64),
        col_chips_per_x=col_chips,
        col_tokens_per_s_per_x=col_rate,
        col_usd_per_x=col_chips * virtual.usd_per_chip_hour[col_virtual] * col_hours,
        col_upper=col_upper,
        col_whole_job=whole,
        col_label=offer_label[col_o],
        pair_workload=pw,
        pair_offer=po,
        pair_gang_units=gang_units,
        slot_workload=slot_w,
        slot_start_hour=slot_start,
        slot_end_hour=slot_end,
        slot_demand=workloads.demand_tokens_per_s[slot_w],
        inc_col=np.arange(col_pair.size, dtype=np.int64),
        inc_slot=col_slot.astype(np.int64),
        inc_coef=inc_coef,
        check_virtual=cap[0],
        check_hour=cap[1],
        check_inc_row=cap[2],
        check_inc_col=cap[3],
    )
