"""The planning problem as pure data: offers, workloads, throughputs and policy in numpy arrays.

A ``Problem`` is what the formulation turns into a MILP and what analyses transform before
re-solving (leverage: raise a vendor's prices, drop a vendor; simulation: cut capacity, scale
demand). Every transformation returns a NEW problem; arrays are read-only so nothing can be
changed in place.

Index conventions: ``o`` indexes offers (``problem.offers``), ``w`` indexes workloads
(``problem.workloads``); matrices are ``[w, o]``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chipfolio.domain import Chip, Precision
from chipfolio.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
StrArray = NDArray[np.str_]


class WorkloadKind(StrEnum):
    """Training consumes a token budget by a deadline; inference serves a steady rate."""

    TRAINING = "training"
    INFERENCE = "inference"


class ShareBy(StrEnum):
    """What counts as one vendor for share caps, min_vendors and N-1."""

    PROVIDER = "provider"
    SILICON = "silicon"


@dataclass(frozen=True, slots=True)
class Policy:
    """Diversification and resilience requirements.

    ``max_share`` 1.0, ``min_vendors`` 1 and ``n_minus_1`` 0.0 mean "no requirement".
    """

    max_share: float = 1.0
    share_by: ShareBy = ShareBy.PROVIDER
    min_vendors: int = 1
    n_minus_1: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.max_share <= 1.0:
            raise InputError(f"max_share must be in (0, 1], got {self.max_share}")
        if self.min_vendors < 1:
            raise InputError(f"min_vendors must be >= 1, got {self.min_vendors}")
        if not 0.0 <= self.n_minus_1 <= 1.0:
            raise InputError(f"n_minus_1 must be in [0, 1], got {self.n_minus_1}")

    @property
    def caps_shares(self) -> bool:
        return self.max_share < 1.0

    @property
    def is_trivial(self) -> bool:
        """True when no diversification requirement is active."""
        return not self.caps_shares and self.min_vendors <= 1 and self.n_minus_1 <= 0.0


def _frozen(values: ArrayLike, dtype: Any) -> Any:
    """A read-only copy of ``values``; an array that is already read-only all the way down
    (one this module froze, or a slice of one) is returned as it is: nothing can change it."""
    if (
        isinstance(values, np.ndarray)
        and values.dtype.type is np.dtype(dtype).type
        and _read_only(values)
    ):
        return values
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


def _read_only(array: NDArray[Any]) -> bool:
    """True when neither ``array`` nor any array it views can be written."""
    current: Any = array
    while isinstance(current, np.ndarray):
        if current.flags.writeable:
            return False
        current = current.base
    return current is None


_UNIQUE_CACHE: dict[int, tuple[NDArray[Any], NDArray[Any], IntArray]] = {}
_UNIQUE_CACHE_ENTRIES = 256


def unique_inverse(values: NDArray[Any]) -> tuple[NDArray[Any], IntArray]:
    """``np.unique(values, return_inverse=True)`` for a 1-d array, remembered for read-only
    arrays (they cannot change): the same label column is ranked by every model built on
    it, thousands of times in a simulation. A constant array needs no sort."""
    frozen = _read_only(values)
    if frozen:
        hit = _UNIQUE_CACHE.get(id(values))
        if hit is not None and hit[0] is values:
            return hit[1], hit[2]
    if values.dtype.kind in "biuf" and values.size and (values == values[0]).all():
        return values[:1].copy(), np.zeros(values.size, dtype=np.int64)
    uniques, inverse = np.unique(values, return_inverse=True)
    inverse = inverse.astype(np.int64).reshape(-1)
    if frozen:
        uniques.setflags(write=False)
        inverse.setflags(write=False)
        if len(_UNIQUE_CACHE) >= _UNIQUE_CACHE_ENTRIES:
            _UNIQUE_CACHE.pop(next(iter(_UNIQUE_CACHE)))
        # the entry holds the array itself, so its id cannot be reused while it is cached
        _UNIQUE_CACHE[id(values)] = (values, uniques, inverse)
    return uniques, inverse


def _check_length(name: str, array: NDArray[Any], n: int) -> None:
    if array.ndim != 1 or array.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {array.shape}")


_OFFER_DTYPES: dict[str, Any] = {
    "ids": np.str_,
    "providers": np.str_,
    "vendors": np.str_,
    "chips": np.str_,
    "regions": np.str_,
    "pricing": np.str_,
    "chips_per_instance": np.int64,
    "instance_types": np.str_,
    "zones": np.str_,
}
_WORKLOAD_DTYPES: dict[str, Any] = {
    "names": np.str_,
    "kinds": np.str_,
    "critical": np.bool_,
    "gang": np.bool_,
}


@dataclass(frozen=True, eq=False)
class OfferTable:
    """Column-oriented offers: one entry per offer, all arrays of equal length.

    ``capacity_chips`` is ``inf`` where unlimited; ``take_or_pay_chips`` 0 where there is no
    commitment; the offer can be used on ``[available_from_hour, available_until_hour)``
    measured from the start of the horizon (``inf`` = until the end).
    """

    ids: StrArray
    providers: StrArray
    vendors: StrArray
    chips: StrArray
    regions: StrArray
    pricing: StrArray
    chips_per_instance: IntArray
    usd_per_chip_hour: FloatArray
    capacity_chips: FloatArray
    take_or_pay_chips: FloatArray
    available_from_hour: FloatArray
    available_until_hour: FloatArray
    # how to launch it, where known ("" = not known): the provider's instance type and zone
    instance_types: StrArray = dataclasses.field(default_factory=lambda: np.zeros(0, np.str_))
    zones: StrArray = dataclasses.field(default_factory=lambda: np.zeros(0, np.str_))

    def __post_init__(self) -> None:
        n = len(np.asarray(self.ids))
        for name in ("instance_types", "zones"):
            if len(np.asarray(getattr(self, name))) == 0 and n:
                object.__setattr__(self, name, np.full(n, "", dtype=np.str_))
        for f in fields(self):
            array = _frozen(getattr(self, f.name), _OFFER_DTYPES.get(f.name, np.float64))
            _check_length(f.name, array, n)
            object.__setattr__(self, f.name, array)
        if unique_inverse(self.ids)[0].size != n:
            raise ValueError("offer ids must be unique")
        if n and (self.chips_per_instance < 1).any():
            raise ValueError("chips_per_instance must be >= 1")
        if n and not (np.isfinite(self.usd_per_chip_hour) & (self.usd_per_chip_hour >= 0)).all():
            raise ValueError("usd_per_chip_hour must be finite and >= 0")
        if n and ((self.capacity_chips < 0) | np.isnan(self.capacity_chips)).any():
            raise ValueError("capacity_chips must be >= 0 (inf = unlimited)")
        if n and (self.take_or_pay_chips > self.capacity_chips).any():
            raise ValueError("take_or_pay_chips cannot exceed capacity_chips")
        if n and (self.available_until_hour <= self.available_from_hour).any():
            raise ValueError("available_until_hour must be after available_from_hour")

    @classmethod
    def build(
        cls,
        *,
        ids: ArrayLike,
        providers: ArrayLike,
        vendors: ArrayLike,
        chips: ArrayLike,
        usd_per_chip_hour: ArrayLike,
        chips_per_instance: ArrayLike = 1,
        regions: ArrayLike = "-",
        pricing: ArrayLike = "on_demand",
        capacity_chips: ArrayLike = math.inf,
        take_or_pay_chips: ArrayLike = 0.0,
        available_from_hour: ArrayLike = 0.0,
        available_until_hour: ArrayLike = math.inf,
        instance_types: ArrayLike = "",
        zones: ArrayLike = "",
    ) -> OfferTable:
        """Build from lists or scalars (scalars are repeated for every offer)."""
        n = len(np.atleast_1d(np.asarray(ids)))

        def col(values: ArrayLike, dtype: Any) -> Any:
            return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).copy()

        return cls(
            ids=col(ids, np.str_),
            providers=col(providers, np.str_),
            vendors=col(vendors, np.str_),
            chips=col(chips, np.str_),
            regions=col(regions, np.str_),
            pricing=col(pricing, np.str_),
            chips_per_instance=col(chips_per_instance, np.int64),
            usd_per_chip_hour=col(usd_per_chip_hour, np.float64),
            capacity_chips=col(capacity_chips, np.float64),
            take_or_pay_chips=col(take_or_pay_chips, np.float64),
            available_from_hour=col(available_from_hour, np.float64),
            available_until_hour=col(available_until_hour, np.float64),
            instance_types=col(instance_types, np.str_),
            zones=col(zones, np.str_),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, index: NDArray[Any]) -> OfferTable:
        """The offers at ``index`` (an integer index array or boolean mask), in that order."""
        return OfferTable(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def replace(self, **changes: ArrayLike) -> OfferTable:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def index_of(self, offer_id: str) -> int:
        hits = np.flatnonzero(self.ids == offer_id)
        if not hits.size:
            raise KeyError(offer_id)
        return int(hits[0])


@dataclass(frozen=True, eq=False)
class WorkloadTable:
    """Column-oriented workloads.

    ``demand_tokens_per_s`` is the rate to serve (inference) or the average rate needed to
    finish the token budget by the deadline (training). A workload runs on
    ``[0, min(deadline_hours, horizon))``; ``gang`` means all chips in one offer.
    """

    names: StrArray
    kinds: StrArray
    demand_tokens_per_s: FloatArray
    critical: BoolArray
    gang: BoolArray
    deadline_hours: FloatArray
    weight: FloatArray

    def __post_init__(self) -> None:
        n = len(np.asarray(self.names))
        for f in fields(self):
            array = _frozen(getattr(self, f.name), _WORKLOAD_DTYPES.get(f.name, np.float64))
            _check_length(f.name, array, n)
            object.__setattr__(self, f.name, array)
        if len(set(self.names.tolist())) != n:
            raise ValueError("workload names must be unique")
        valid = {k.value for k in WorkloadKind}
        if n and not set(self.kinds.tolist()) <= valid:
            raise ValueError(f"workload kinds must be in {sorted(valid)}")
        if n and not (np.isfinite(self.demand_tokens_per_s) & (self.demand_tokens_per_s > 0)).all():
            raise ValueError("demand_tokens_per_s must be finite and > 0")
        if n and (self.deadline_hours <= 0).any():
            raise ValueError("deadline_hours must be > 0")
        if n and (self.gang & (self.kinds != WorkloadKind.TRAINING.value)).any():
            raise ValueError("only training workloads can be gang-scheduled")

    @classmethod
    def build(
        cls,
        *,
        names: ArrayLike,
        demand_tokens_per_s: ArrayLike,
        kinds: ArrayLike = WorkloadKind.INFERENCE.value,
        critical: ArrayLike = False,
        gang: ArrayLike = False,
        deadline_hours: ArrayLike = math.inf,
        weight: ArrayLike = 1.0,
    ) -> WorkloadTable:
        """Build from lists or scalars (scalars are repeated for every workload)."""
        n = len(np.atleast_1d(np.asarray(names)))

        def col(values: ArrayLike, dtype: Any) -> Any:
            return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).copy()

        return cls(
            names=col(names, np.str_),
            kinds=col(kinds, np.str_),
            demand_tokens_per_s=col(demand_tokens_per_s, np.float64),
            critical=col(critical, np.bool_),
            gang=col(gang, np.bool_),
            deadline_hours=col(deadline_hours, np.float64),
            weight=col(weight, np.float64),
        )

    def __len__(self) -> int:
        return int(self.names.shape[0])

    def take(self, index: NDArray[Any]) -> WorkloadTable:
        return WorkloadTable(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def index_of(self, name: str) -> int:
        hits = np.flatnonzero(self.names == name)
        if not hits.size:
            raise KeyError(name)
        return int(hits[0])


def fields(obj: Any) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(obj)


def _mask(mask: ArrayLike, n: int, what: str) -> BoolArray:
    array = np.asarray(mask, dtype=np.bool_)
    if array.shape != (n,):
        raise ValueError(f"{what} mask must have shape ({n},), got {array.shape}")
    return array


def _per_item(values: ArrayLike, n: int, what: str) -> FloatArray:
    array = np.broadcast_to(np.asarray(values, dtype=np.float64), (n,))
    if not np.isfinite(array).all() and what != "capacity_chips":
        raise ValueError(f"{what} must be finite")
    return np.array(array, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything the planner decides over, as read-only arrays.

    ``tokens_per_s_per_chip[w, o]`` is 0 where workload w cannot run on offer o (incompatible
    stack, does not fit); ``allowed[w, o]`` is False where the user's rules forbid it (region
    allow-list, catalog filter). ``instances_per_unit[w, o]`` is how many instances make one
    indivisible serving unit (a model replica spanning instances); usually 1.
    ``budget_usd`` switches from least cost to most served demand within that budget.
    """

    offers: OfferTable
    workloads: WorkloadTable
    tokens_per_s_per_chip: FloatArray
    allowed: BoolArray
    policy: Policy = field(default_factory=Policy)
    horizon_hours: float = 730.0
    catalog_snapshot: str = "none"
    instances_per_unit: IntArray | None = None
    budget_usd: float | None = None
    # Metadata: [w, o] True where the throughput rests on an uncalibrated estimate (the
    # chip's software stack has no serving measurements for the workload's model kind).
    uncalibrated: BoolArray | None = None

    def __post_init__(self) -> None:
        shape = (len(self.workloads), len(self.offers))
        tput = _frozen(self.tokens_per_s_per_chip, np.float64).reshape(shape)
        allowed = _frozen(self.allowed, np.bool_).reshape(shape)
        if not (np.isfinite(tput) & (tput >= 0)).all():
            raise ValueError("tokens_per_s_per_chip must be finite and >= 0")
        object.__setattr__(self, "tokens_per_s_per_chip", tput)
        object.__setattr__(self, "allowed", allowed)
        units = self.instances_per_unit
        units_array = _frozen(np.ones(shape) if units is None else units, np.int64).reshape(shape)
        if (units_array < 1).any():
            raise ValueError("instances_per_unit must be >= 1")
        object.__setattr__(self, "instances_per_unit", units_array)
        if self.uncalibrated is not None:
            marks = np.asarray(self.uncalibrated, dtype=np.bool_)
            # Metadata only: a transformation that reshapes the problem without carrying the
            # marks along drops them rather than failing.
            fitting = marks.size == shape[0] * shape[1]
            frozen = _frozen(marks, np.bool_).reshape(shape) if fitting else None
            object.__setattr__(self, "uncalibrated", frozen)
        if not (math.isfinite(self.horizon_hours) and self.horizon_hours > 0):
            raise ValueError("horizon_hours must be finite and > 0")
        if self.budget_usd is not None and not (
            math.isfinite(self.budget_usd) and self.budget_usd > 0
        ):
            raise ValueError("budget_usd must be finite and > 0")

    @property
    def units(self) -> IntArray:
        """``instances_per_unit`` as a non-optional array."""
        assert self.instances_per_unit is not None
        return self.instances_per_unit

    @property
    def runnable(self) -> BoolArray:
        """``[w, o]``: workload w may be placed on offer o."""
        return self.allowed & (self.tokens_per_s_per_chip > 0)

    # ----- labels -------------------------------------------------------------------------
    def vendor_of_offers(self, share_by: ShareBy | str | None = None) -> StrArray:
        """The vendor label of each offer: its provider or its silicon vendor."""
        by = ShareBy(share_by) if share_by is not None else self.policy.share_by
        labels: StrArray = self.offers.providers if by is ShareBy.PROVIDER else self.offers.vendors
        return labels

    # ----- transformations (each returns a new Problem) -------------------------------------
    def scale_prices(self, offer_mask: ArrayLike, factor: float | ArrayLike) -> Problem:
        """Multiply the price of the masked offers by ``factor`` (scalar or per offer)."""
        n = len(self.offers)
        mask = _mask(offer_mask, n, "offer")
        scale = _per_item(factor, n, "factor")
        if (scale < 0).any():
            raise ValueError("price factor must be >= 0")
        prices = np.where(
            mask, self.offers.usd_per_chip_hour * scale, self.offers.usd_per_chip_hour
        )
        return dataclasses.replace(self, offers=self.offers.replace(usd_per_chip_hour=prices))

    def drop_offers(self, offer_mask: ArrayLike) -> Problem:
        """Remove the masked offers entirely (e.g. every offer of a lost vendor)."""
        keep = ~_mask(offer_mask, len(self.offers), "offer")
        return dataclasses.replace(
            self,
            offers=self.offers.take(keep),
            tokens_per_s_per_chip=self.tokens_per_s_per_chip[:, keep],
            allowed=self.allowed[:, keep],
            instances_per_unit=self.units[:, keep],
            uncalibrated=None if self.uncalibrated is None else self.uncalibrated[:, keep],
        )

    def with_policy(self, policy: Policy) -> Problem:
        return dataclasses.replace(self, policy=policy)

    def with_capacity(self, offer_mask: ArrayLike, capacity_chips: float | ArrayLike) -> Problem:
        """Set the capacity (chips; ``inf`` = unlimited) of the masked offers.

        A take-or-pay commitment larger than the new capacity is cut down to it (the
        commitment cannot be delivered beyond what exists).
        """
        n = len(self.offers)
        mask = _mask(offer_mask, n, "offer")
        new = _per_item(capacity_chips, n, "capacity_chips")
        if (np.isnan(new) | (new < 0)).any():
            raise ValueError("capacity_chips must be >= 0")
        capacity = np.where(mask, new, self.offers.capacity_chips)
        take_or_pay = np.minimum(self.offers.take_or_pay_chips, capacity)
        offers = self.offers.replace(capacity_chips=capacity, take_or_pay_chips=take_or_pay)
        return dataclasses.replace(self, offers=offers)

    def with_demand(self, workload_scale: float | ArrayLike) -> Problem:
        """Multiply each workload's demand by ``workload_scale`` (scalar or per workload)."""
        n = len(self.workloads)
        scale = _per_item(workload_scale, n, "workload_scale")
        if (scale <= 0).any():
            raise ValueError("workload_scale must be > 0")
        demand = self.workloads.demand_tokens_per_s * scale
        workloads = dataclasses.replace(self.workloads, demand_tokens_per_s=demand)
        return dataclasses.replace(self, workloads=workloads)

    def with_budget(self, budget_usd: float | None) -> Problem:
        """Switch to budget mode (most served demand for ``budget_usd``) or back (None)."""
        return dataclasses.replace(self, budget_usd=budget_usd)

    def with_availability(
        self, offer_mask: ArrayLike, from_hour: float | ArrayLike, until_hour: float | ArrayLike
    ) -> Problem:
        """Set when the masked offers can be used (late delivery, early end of a term)."""
        n = len(self.offers)
        mask = _mask(offer_mask, n, "offer")
        start = np.broadcast_to(np.asarray(from_hour, dtype=np.float64), (n,))
        end = np.broadcast_to(np.asarray(until_hour, dtype=np.float64), (n,))
        offers = self.offers.replace(
            available_from_hour=np.where(mask, start, self.offers.available_from_hour),
            available_until_hour=np.where(mask, end, self.offers.available_until_hour),
        )
        return dataclasses.replace(self, offers=offers)

    def restrict(self, allowed: ArrayLike) -> Problem:
        """AND an extra ``[w, o]`` mask into ``allowed`` (used by pruning and analyses)."""
        extra = np.asarray(allowed, dtype=np.bool_).reshape(self.allowed.shape)
        return dataclasses.replace(self, allowed=self.allowed & extra)


class PerfModel(Protocol):
    """What the planner needs from the performance model (chipfolio.perfmodel satisfies it)."""

    def inference(
        self,
        model: str,
        chip: Chip,
        precision: Precision,
        input_tokens: int,
        output_tokens: int,
        ttft_ms: float | None,
        tpot_ms: float | None,
    ) -> tuple[int, float] | None:
        """(chips per replica, output tokens/s per chip under the SLO), or None if it can't."""
        ...

    # Optional (not part of the protocol): ``uncalibrated(model, chip) -> bool`` says whether
    # the last inference answer for the pair rested on an uncalibrated estimate; the builder
    # marks such (workload, offer) pairs in ``Problem.uncalibrated``.

    def training(self, model: str, chip: Chip, precision: Precision, chips: int) -> float | None:
        """Training tokens/s per chip at ``chips`` chips, or None if it does not fit."""
        ...


def label_names(labels: Sequence[str] | StrArray) -> list[str]:
    """Distinct labels in first-seen order (stable output ordering)."""
    seen: dict[str, None] = {}
    for label in np.asarray(labels).tolist():
        seen.setdefault(str(label), None)
    return list(seen)
