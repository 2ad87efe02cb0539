"""Portfolio -> Problem: gather offers, resolve demand, and fill the throughput matrix.

Offers: the catalog (filtered, negotiated discounts applied per provider) plus the
portfolio's private offers; contract terms become availability windows counted from the
portfolio's ``start_date``. Throughput: the user's measured table or the performance model,
zeroed where the workload's frameworks cannot run on the chip's software stack; region and
provider allow-lists go into the ``allowed`` mask. A model replica larger than an instance
becomes a serving unit of several instances (``instances_per_unit``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from chipfolio.catalog.chips import registry
from chipfolio.catalog.offers import Catalog
from chipfolio.domain import Chip, Offer, Precision
from chipfolio.errors import InfeasibleError, InputError, ModelError, UnknownNameError
from chipfolio.planner.plan import Plan
from chipfolio.planner.problem import (
    OfferTable,
    PerfModel,
    Policy,
    Problem,
    ShareBy,
    WorkloadTable,
)
from chipfolio.planner.solve import solve_problem
from chipfolio.planner.solvers.base import SolveOptions
from chipfolio.workloads.frameworks import allowed_stacks
from chipfolio.workloads.spec import (
    CatalogSpec,
    InferenceSpec,
    Portfolio,
    TrainingSpec,
)
from chipfolio.workloads.traces import TraceSummary, read_trace

HOURS_PER_DAY = 24.0
SECONDS_PER_HOUR = 3600.0
DEFAULT_TRAINING_CHIPS = 64


class DefaultPerfModel:
    """The performance model of chipfolio.perfmodel behind the planner's PerfModel protocol.

    ``quantile``: "p50" plans on the median estimate, "p10" on the low end of its 80%
    interval (see docs/validation.md). ``uncalibrated(model, chip)`` tells whether an
    inference answer rested on a stack without serving measurements for the model's kind.
    """

    def __init__(self, quantile: str = "p50") -> None:
        if quantile not in ("p50", "p10"):
            raise InputError(f"perf_quantile must be p50 or p10, got {quantile!r}")
        self.quantile = quantile
        self._uncalibrated: set[tuple[str, str]] = set()

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
        from chipfolio.perfmodel import inference_capability
        from chipfolio.workloads.models import get_model

        cap = inference_capability(
            get_model(model), chip, precision, input_tokens, output_tokens, ttft_ms, tpot_ms
        )
        if cap is None:
            return None
        if not cap.calibrated:
            self._uncalibrated.add((model, chip.id))
        rate = (
            cap.tokens_per_s_per_chip_low if self.quantile == "p10" else cap.tokens_per_s_per_chip
        )
        return int(cap.chips_per_replica), float(rate)

    def uncalibrated(self, model: str, chip: str) -> bool:
        return (model, chip) in self._uncalibrated

    def training(self, model: str, chip: Chip, precision: Precision, chips: int) -> float | None:
        from chipfolio.perfmodel import training_capability
        from chipfolio.workloads.models import get_model

        value = training_capability(get_model(model), chip, precision, chips)
        return None if value is None else float(value)


# ----- offers ---------------------------------------------------------------------------------


def catalog_choice(portfolio: Portfolio) -> tuple[bool, str | None]:
    """(whether the portfolio uses the catalog, which snapshot: None = the bundled default)."""
    choice = portfolio.spec.catalog
    if choice == "none":
        return False, None
    if isinstance(choice, CatalogSpec):
        return True, choice.snapshot
    return True, None if choice == "default" else choice


def _load_catalog(portfolio: Portfolio, catalog: Catalog | None) -> Catalog | None:
    wanted, snapshot = catalog_choice(portfolio)
    if not wanted:
        return None
    if catalog is not None:
        return catalog
    from chipfolio.catalog.snapshots import load_catalog

    return load_catalog(snapshot)


def _lower(values: Sequence[str] | None) -> set[str] | None:
    return None if values is None else {v.strip().lower() for v in values}


def _filter_catalog(portfolio: Portfolio, offers: Sequence[Offer]) -> list[Offer]:
    spec = portfolio.spec.catalog
    if not isinstance(spec, CatalogSpec):
        spec = CatalogSpec()
    chips = None
    if spec.chips is not None:
        found = []
        for i, name in enumerate(spec.chips):
            chip = registry().find(name)
            if chip is None:
                raise UnknownNameError(
                    "chip", name, registry().known_names(), file=portfolio.file,
                    line=portfolio.line_of("catalog", "chips", i), field=f"catalog.chips[{i}]",
                )  # fmt: skip
            found.append(chip.id)
        chips = set(found)
    providers, excluded = _lower(spec.providers), _lower(spec.exclude_providers) or set()
    regions = _lower(spec.regions)
    vendors = None if spec.vendors is None else set(spec.vendors)
    pricing = set(spec.pricing)
    known_providers = {o.provider.lower() for o in offers}
    for name in spec.discounts:
        if name.lower() not in known_providers:
            raise UnknownNameError(
                "provider", name, sorted(known_providers), file=portfolio.file,
                line=portfolio.line_of("catalog", "discounts", name),
                field=f"catalog.discounts.{name}",
            )  # fmt: skip
    discounts = {k.lower(): v for k, v in spec.discounts.items()}
    out = []
    for o in offers:
        p = o.provider.lower()
        if (
            o.pricing in pricing
            and (providers is None or p in providers)
            and p not in excluded
            and (chips is None or o.chip in chips)
            and (vendors is None or o.vendor in vendors)
            and (regions is None or o.region.lower() in regions)
        ):
            factor = 1.0 - discounts.get(p, 0.0)
            price = o.usd_per_instance_hour * factor
            out.append(o if factor == 1.0 else _with_price(o, price))
    return out


def _with_price(offer: Offer, usd_per_instance_hour: float) -> Offer:
    import dataclasses

    flags = (*offer.flags, "discounted")
    return dataclasses.replace(offer, usd_per_instance_hour=usd_per_instance_hour, flags=flags)


def collect_offers(portfolio: Portfolio, catalog: Catalog | None) -> tuple[list[Offer], str]:
    """The offers the plan may use, and the catalog snapshot id they come from."""
    loaded = _load_catalog(portfolio, catalog)
    public = _filter_catalog(portfolio, loaded.offers) if loaded is not None else []
    known = {o.id for o in public}
    for i, offer in enumerate(portfolio.offers):
        if offer.id in known:
            raise portfolio.error(
                f"offer id '{offer.id}' is already in the catalog", "offers", i, "id"
            )
    return public + list(portfolio.offers), (loaded.snapshot_id if loaded else "none")


def _hours_from(
    start: date | None, day: date | None, portfolio: Portfolio, i: int, key: str
) -> float | None:
    if day is None:
        return None
    if start is None:
        raise portfolio.error(
            f"offer has {key}; set the portfolio's start_date so its term can be placed in time",
            "offers", i, key,
        )  # fmt: skip
    return (day - start).days * HOURS_PER_DAY


def offer_table(portfolio: Portfolio, offers: Sequence[Offer]) -> OfferTable:
    start = portfolio.spec.start_date
    private_index = {o.id: i for i, o in enumerate(portfolio.offers)}
    begin, end = [], []
    for o in offers:
        i = private_index.get(o.id, -1)
        if i < 0 and o.term_start is not None and start is None:
            begin.append(0.0)  # catalog terms without a plan start date: available now
            end.append(math.inf)
            continue
        b = _hours_from(start, o.term_start, portfolio, i, "term_start")
        e = _hours_from(start, o.term_end, portfolio, i, "term_end")
        begin.append(b if b is not None else 0.0)
        end.append(e if e is not None else math.inf)
    return OfferTable.build(
        ids=[o.id for o in offers],
        providers=[o.provider for o in offers],
        vendors=[o.vendor.value for o in offers],
        chips=[o.chip for o in offers],
        regions=[o.region for o in offers],
        pricing=[o.pricing.value for o in offers],
        chips_per_instance=[o.chips_per_instance for o in offers],
        usd_per_chip_hour=[o.usd_per_chip_hour for o in offers],
        capacity_chips=[math.inf if o.capacity_chips is None else o.capacity_chips for o in offers],
        take_or_pay_chips=[o.take_or_pay_chips or 0 for o in offers],
        available_from_hour=begin,
        available_until_hour=end,
        instance_types=[o.instance_type or "" for o in offers],
        zones=[o.zone or "" for o in offers],
    )


# ----- workloads ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Demand:
    """A workload's resolved demand and request shape."""

    tokens_per_s: float
    deadline_hours: float
    input_tokens: int
    output_tokens: int


def _trace(portfolio: Portfolio, i: int, cache: dict[Path, TraceSummary]) -> TraceSummary:
    spec = portfolio.spec.workloads[i]
    assert isinstance(spec, InferenceSpec) and spec.trace is not None
    path = Path(spec.trace.file)
    path = path if path.is_absolute() else portfolio.base_dir / path
    if path not in cache:
        try:
            cache[path] = read_trace(path)
        except InputError as exc:
            raise portfolio.error(f"{exc}", "workloads", i, "trace", "file") from exc
    return cache[path]


def resolve_demand(portfolio: Portfolio, i: int, cache: dict[Path, TraceSummary]) -> Demand:
    spec = portfolio.spec.workloads[i]
    if isinstance(spec, TrainingSpec):
        deadline = spec.deadline_hours or portfolio.spec.horizon_hours
        if spec.tokens is not None:
            rate = spec.tokens / (deadline * SECONDS_PER_HOUR)
            return Demand(rate, deadline, 0, 0)
        assert spec.demand_tokens_per_s is not None
        return Demand(spec.demand_tokens_per_s, spec.deadline_hours or math.inf, 0, 0)
    if spec.traffic is not None:
        t = spec.traffic
        return Demand(t.requests_per_s * t.output_tokens, math.inf, t.input_tokens, t.output_tokens)
    if spec.trace is not None:
        summary = _trace(portfolio, i, cache)
        rate = summary.output_tokens_per_s(spec.trace.rate) * spec.trace.scale
        shape_in = max(1, round(summary.input_tokens_mean))
        shape_out = max(1, round(summary.output_tokens_mean))
        return Demand(rate, math.inf, shape_in, shape_out)
    assert spec.demand_tokens_per_s is not None
    return Demand(spec.demand_tokens_per_s, math.inf, 0, 0)


def _perf_rates(
    portfolio: Portfolio, i: int, chips: Sequence[Chip], demand: Demand, perf: PerfModel
) -> dict[str, tuple[int, float]]:
    """Per chip id: (chips per replica, tokens/s per chip) from the table or the model."""
    spec = portfolio.spec.workloads[i]
    if spec.throughput is not None:
        table = {registry().resolve(k): v for k, v in spec.throughput.items()}
        return {c.id: (1, table[c.id]) for c in chips if c.id in table}
    assert spec.model is not None
    from chipfolio.workloads.models import get_model

    try:
        get_model(spec.model)
    except UnknownNameError as exc:
        raise portfolio.error(str(exc.reason), "workloads", i, "model") from exc
    out: dict[str, tuple[int, float]] = {}
    for chip in chips:
        try:
            rate = _model_rate(spec, chip, demand, perf)
        except ModelError as exc:
            raise portfolio.error(f"performance model: {exc}", "workloads", i, "model") from exc
        if rate is not None and rate[1] > 0:
            out[chip.id] = rate
    return out


def _model_rate(
    spec: InferenceSpec | TrainingSpec, chip: Chip, demand: Demand, perf: PerfModel
) -> tuple[int, float] | None:
    assert spec.model is not None
    if isinstance(spec, InferenceSpec):
        slo = spec.slo
        return perf.inference(
            spec.model, chip, spec.precision, demand.input_tokens, demand.output_tokens,
            slo.ttft_ms if slo else None, slo.tpot_ms if slo else None,
        )  # fmt: skip
    size = spec.chips or DEFAULT_TRAINING_CHIPS
    first = perf.training(spec.model, chip, spec.precision, size)
    if first is None or first <= 0:
        return None
    if spec.chips is None:  # re-estimate at the scale this demand needs
        needed = max(1, math.ceil(demand.tokens_per_s / first))
        size = 1 << max(0, (needed - 1).bit_length())
        again = perf.training(spec.model, chip, spec.precision, size)
        first = again if again is not None and again > 0 else first
    return (1, first)


def _explain_unrunnable(
    portfolio: Portfolio,
    i: int,
    offers: Sequence[Offer],
    rates: dict[str, tuple[int, float]],
    stacks: frozenset[str],
) -> str:
    spec = portfolio.spec.workloads[i]
    offered = sorted({o.chip for o in offers})
    if not offers:
        return f"workload '{spec.name}' has no offers at all to run on"
    if not rates:
        source = "its throughput table" if spec.throughput is not None else "the performance model"
        return (
            f"workload '{spec.name}' can run on none of the offered chips ({', '.join(offered)}) "
            f"according to {source}"
        )
    chips = registry()
    fitting = sorted(c for c in rates if chips.get(c).stack.value in stacks)
    if not fitting:
        usable = sorted({chips.get(c).stack.value for c in rates})
        return (
            f"workload '{spec.name}': its frameworks/stacks allow {', '.join(sorted(stacks))}, "
            f"but the chips it can use run {', '.join(usable)}"
        )
    return (
        f"workload '{spec.name}': no offer of {', '.join(fitting)} is inside its allowed "
        "regions/providers"
    )


@dataclass(frozen=True, eq=False)
class WorkloadRows:
    """The per-workload arrays of a Problem, built row by row."""

    table: WorkloadTable
    tokens_per_s_per_chip: np.ndarray
    allowed: np.ndarray
    units: np.ndarray
    uncalibrated: np.ndarray | None = None


def workload_rows(
    portfolio: Portfolio, offers: Sequence[Offer], perf: PerfModel | None
) -> WorkloadRows:
    chips = registry()
    chip_objs = [chips.get(c) for c in sorted({o.chip for o in offers})]
    offer_chip = np.array([o.chip for o in offers], dtype=str)
    per_instance = np.array([o.chips_per_instance for o in offers], dtype=np.int64)
    providers = np.array([o.provider.lower() for o in offers], dtype=str)
    regions = np.array([o.region.lower() for o in offers], dtype=str)
    n_w, n_o = len(portfolio.spec.workloads), len(offers)
    tput, allowed, units = (
        np.zeros((n_w, n_o)),
        np.ones((n_w, n_o), bool),
        np.ones((n_w, n_o), np.int64),
    )
    uncal = np.zeros((n_w, n_o), bool)
    cache: dict[Path, TraceSummary] = {}
    demands = []
    for i, spec in enumerate(portfolio.spec.workloads):
        demand = resolve_demand(portfolio, i, cache)
        demands.append(demand)
        if spec.model is not None and perf is None:
            perf = DefaultPerfModel(portfolio.spec.policy.perf_quantile)
        rates = _perf_rates(portfolio, i, chip_objs, demand, perf or DefaultPerfModel())
        marked = getattr(perf, "uncalibrated", None)
        stacks = {s.value for s in allowed_stacks(spec.frameworks, spec.stacks)}
        for chip_id, (cpr, rate) in rates.items():
            if chips.get(chip_id).stack.value not in stacks:
                continue
            cols = offer_chip == chip_id
            k = per_instance[cols]
            m = np.ceil(cpr / k).astype(np.int64)
            replicas = (m * k) // cpr
            tput[i, cols] = replicas * cpr * rate / (m * k)
            units[i, cols] = m
            if spec.throughput is None and spec.model is not None and callable(marked):
                uncal[i, cols] = bool(marked(spec.model, chip_id))
        if spec.regions is not None:
            allowed[i] &= np.isin(regions, list(_lower(spec.regions) or ()))
        if spec.providers is not None:
            allowed[i] &= np.isin(providers, list(_lower(spec.providers) or ()))
        if not (allowed[i] & (tput[i] > 0)).any():
            raise InfeasibleError(
                "no feasible plan: "
                + _explain_unrunnable(portfolio, i, offers, rates, frozenset(stacks))
            )
    table = WorkloadTable.build(
        names=[w.name for w in portfolio.spec.workloads],
        kinds=[w.kind for w in portfolio.spec.workloads],
        demand_tokens_per_s=[d.tokens_per_s for d in demands],
        critical=[w.critical for w in portfolio.spec.workloads],
        gang=[isinstance(w, TrainingSpec) and not w.splittable for w in portfolio.spec.workloads],
        deadline_hours=[d.deadline_hours for d in demands],
        weight=[w.weight for w in portfolio.spec.workloads],
    )
    return WorkloadRows(table, tput, allowed, units, uncal)


def build_problem(
    portfolio: Portfolio, catalog: Catalog | None = None, perf: PerfModel | None = None
) -> Problem:
    """The planning Problem of ``portfolio`` (catalog: loaded per the file when None)."""
    offers, snapshot = collect_offers(portfolio, catalog)
    rows = workload_rows(portfolio, offers, perf)
    spec = portfolio.spec
    policy = Policy(
        max_share=spec.policy.max_share,
        share_by=ShareBy(spec.policy.share_by),
        min_vendors=spec.policy.min_vendors,
        n_minus_1=spec.policy.n_minus_1,
    )
    return Problem(
        offers=offer_table(portfolio, offers),
        workloads=rows.table,
        tokens_per_s_per_chip=rows.tokens_per_s_per_chip,
        allowed=rows.allowed,
        policy=policy,
        horizon_hours=spec.horizon_hours,
        catalog_snapshot=snapshot,
        instances_per_unit=rows.units,
        budget_usd=spec.budget_usd,
        uncalibrated=rows.uncalibrated,
    )


def plan_portfolio(
    portfolio: Portfolio,
    catalog: Catalog | None = None,
    perf: PerfModel | None = None,
    options: SolveOptions | None = None,
) -> Plan:
    """Build the problem of ``portfolio`` and solve it (see ``solve_problem``)."""
    problem = build_problem(portfolio, catalog, perf)
    return mark_uncalibrated(solve_problem(problem, options), problem)


def mark_uncalibrated(plan: Plan, problem: Problem) -> Plan:
    """``plan`` with the (workload, offer) pairs that rest on uncalibrated estimates (decode
    marks them already; kept for plans decoded from another problem)."""
    if problem.uncalibrated is None or not problem.uncalibrated.any():
        return plan
    workloads, offers = problem.workloads.names, problem.offers.ids
    pairs = frozenset(
        (str(workloads[w]), str(offers[o]))
        for w, o in zip(*np.nonzero(problem.uncalibrated), strict=True)
    )
    return dataclasses.replace(plan, uncalibrated=pairs)
