"""The procurement file: pydantic models, loading, and the checks that need the whole file.

A procurement file states the horizon (periods of ``hours_per_period`` hours), demand
scenarios with probabilities, workloads with per-chip throughput, the contracts that can be
signed (term, lead time, sign periods, take-or-pay share, ramp, size limits) and the on-demand
offers bought once demand is known. docs/procurement.md describes every field.

Every error names the file, the line and the field (``contracts[1].sign_periods``), exit 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chipfolio.catalog.chips import registry
from chipfolio.errors import FieldIssue, InputError, SchemaError, UnknownNameError
from chipfolio.procurement.scenarios import generated_demand
from chipfolio.workloads.spec import LineIndex, parse_yaml, read_input_text, render

MAX_PERIODS = 600
MAX_SCENARIOS = 5_000
MAX_ITEMS = 2_000
PROBABILITY_TOLERANCE = 1e-6
MAX_DEMAND_CELLS = 2_000_000
HOURS_PER_YEAR = 8760.0  # workloads x periods x scenarios (memory and model size)

_Strict = ConfigDict(extra="forbid", frozen=True)


def _num(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    return Field(gt=gt, ge=ge, le=le, allow_inf_nan=False)


Name = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][\w.:/+@-]*$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Rate = Annotated[float, _num(ge=0, le=1e13)]
PositiveRate = Annotated[float, _num(gt=0, le=1e13)]
Price = Annotated[float, _num(ge=0, le=1e6)]
Period = Annotated[int, Field(ge=0, le=MAX_PERIODS)]
Chips = Annotated[int, Field(ge=0, le=100_000_000)]
Fraction = Annotated[float, _num(ge=0, le=1)]

# Demand of one workload in one scenario: a constant, one value per period, or a mapping
# {period: value} that holds from that period on (piecewise constant).
Demand = Rate | list[Rate] | dict[Period, Rate]


class ScenarioSpec(BaseModel):
    """One future: its probability and the demand (tokens/s) of every workload."""

    model_config = _Strict
    name: Name
    probability: Annotated[float, _num(gt=0, le=1)]
    demand: dict[Name, Demand] = Field(min_length=1)


class WorkloadSpec(BaseModel):
    """A workload served on chips: tokens/s per chip (measured, or from the performance
    model for a named model), and what unserved demand costs."""

    model_config = _Strict
    name: Name
    throughput: dict[Text, PositiveRate] = Field(default_factory=dict)
    critical: bool = False
    unserved_usd_per_token: Annotated[float, _num(ge=0, le=1e6)] | None = None
    # model-based throughput: output tokens/s per chip from chipfolio's performance model for
    # every chip of the contracts and offers not listed under `throughput`
    model: Text | None = None
    precision: Literal["bf16", "fp8", "fp4", "int8"] = "fp8"
    input_tokens: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    output_tokens: Annotated[int, Field(ge=1, le=1_000_000)] = 250
    ttft_ms: Annotated[float, _num(gt=0, le=1e6)] | None = None
    tpot_ms: Annotated[float, _num(gt=0, le=1e6)] | None = None
    # p50: the median estimate; p10: the pessimistic end of its 80% interval
    perf_quantile: Literal["p50", "p10"] = "p50"

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.throughput and self.model is None:
            raise ValueError("give 'throughput' (tokens/s per chip) and/or a 'model'")
        return self


class ContractSpec(BaseModel):
    """A commitment that can be signed: q chips from s + lead for term periods, paid in full
    (or at least the take-or-pay share) whether used or not."""

    model_config = _Strict
    id: Name
    provider: Text
    chip: Text
    usd_per_chip_hour: Price
    term_periods: Annotated[int, Field(ge=1, le=MAX_PERIODS)]
    lead_periods: Annotated[int, Field(ge=0, le=MAX_PERIODS)] = 0
    sign_periods: list[Period] = Field(default_factory=lambda: [0], min_length=1, max_length=600)
    chips_per_instance: Annotated[int, Field(ge=1, le=100_000)] = 1
    min_chips: Chips = 0
    max_chips: Chips | None = None
    take_or_pay: Fraction = 1.0
    ramp: list[Annotated[float, _num(gt=0, le=1)]] = Field(default_factory=list, max_length=600)
    watts_per_chip: Annotated[float, _num(gt=0, le=100_000)] | None = None
    source: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.max_chips is not None and self.min_chips > self.max_chips:
            raise ValueError(f"min_chips {self.min_chips} exceeds max_chips {self.max_chips}")
        if len(self.ramp) > self.term_periods:
            raise ValueError(f"ramp lists more periods than the term ({self.term_periods})")
        if len(set(self.sign_periods)) != len(self.sign_periods):
            raise ValueError("sign_periods lists a period twice")
        return self


class OnDemandSpec(BaseModel):
    """Capacity bought per period and scenario, once that period's demand is known."""

    model_config = _Strict
    id: Name
    provider: Text
    chip: Text
    usd_per_chip_hour: Price
    max_chips: Chips | None = None
    watts_per_chip: Annotated[float, _num(gt=0, le=100_000)] | None = None
    source: Annotated[str, Field(max_length=500)] | None = None


class RoadmapSpec(BaseModel):
    """When a chip can first be delivered, and how its prices move over time."""

    model_config = _Strict
    chip: Text
    available_from: Period = 0
    # yearly change of every price of the chip: -0.2 = 20% cheaper each year (compounded
    # per period); a contract keeps the price of its signing period
    price_change_per_year: Annotated[float, _num(ge=-0.9, le=1.0)] = 0.0
    source: Annotated[str, Field(max_length=500)] | None = None


class PowerSpec(BaseModel):
    """Facility power: chip watts times PUE, as a limit per period and in the output."""

    model_config = _Strict
    pue: Annotated[float, _num(ge=1.0, le=3.0)] = 1.0
    max_mw: Annotated[float, _num(gt=0, le=1e6)] | None = None
    # by the policy's share_by (provider or silicon vendor)
    max_mw_by_vendor: dict[Text, Annotated[float, _num(ge=0, le=1e6)]] = Field(default_factory=dict)


class NegotiateSpec(BaseModel):
    """A proposed contract to price: its break-even price and the value of a shorter term."""

    model_config = _Strict
    contract: Name
    shorter_term_periods: Annotated[int, Field(ge=1, le=MAX_PERIODS)] | None = None


class PolicySpec(BaseModel):
    """The planner's policy, applied in every period and scenario (defaults: none)."""

    model_config = _Strict
    max_share: Annotated[float, _num(gt=0, le=1)] = 1.0
    share_by: Literal["provider", "silicon"] = "provider"
    min_vendors: Annotated[int, Field(ge=1, le=100)] = 1
    n_minus_1: Fraction = 0.0


class RiskSpec(BaseModel):
    """The objective: (1 - cvar_weight) x expected cost + cvar_weight x CVaR_alpha(cost)."""

    model_config = _Strict
    cvar_weight: Fraction = 0.0
    cvar_alpha: Annotated[float, _num(ge=0.5, le=0.999)] = 0.95


class GrowthSpec(BaseModel):
    """Lognormal growth per step: demand x exp(Normal(mean, sd))."""

    model_config = _Strict
    mean: Annotated[float, _num(ge=-2, le=2)] = 0.0
    sd: Annotated[float, _num(ge=0, le=2)] = 0.1


class GeneratedSpec(BaseModel):
    """Seeded growth scenarios (a fan of sampled paths, or a tree with ``branching``)."""

    model_config = _Strict
    scenarios: Annotated[int, Field(ge=1, le=MAX_SCENARIOS)]
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    every: Annotated[int, Field(ge=1, le=MAX_PERIODS)] = 3
    branching: Annotated[int, Field(ge=2, le=100)] | None = None
    start: dict[Name, Rate] = Field(min_length=1)
    growth: GrowthSpec = Field(default_factory=GrowthSpec)
    weight: Annotated[float, _num(gt=0, le=1)] | None = None
    out_of_sample: Annotated[int, Field(ge=0, le=MAX_SCENARIOS)] = 0
    prefix: Name = "g"


class ProcurementSpec(BaseModel):
    """The whole procurement file."""

    model_config = _Strict
    name: Text | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    periods: Annotated[int, Field(ge=1, le=MAX_PERIODS)]
    hours_per_period: Annotated[float, _num(gt=0, le=10_000)] = 730.0
    scenarios: list[ScenarioSpec] = Field(default_factory=list, max_length=MAX_SCENARIOS)
    generated: GeneratedSpec | None = None
    workloads: list[WorkloadSpec] = Field(min_length=1, max_length=MAX_ITEMS)
    contracts: list[ContractSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    on_demand: list[OnDemandSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    risk: RiskSpec = Field(default_factory=RiskSpec)
    roadmap: list[RoadmapSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    power: PowerSpec | None = None
    negotiate: list[NegotiateSpec] = Field(default_factory=list, max_length=20)


@dataclass(frozen=True, eq=False)
class Procurement:
    """A validated procurement file, with demand expanded to [workload, period, scenario]."""

    spec: ProcurementSpec
    demand: np.ndarray[Any, np.dtype[np.float64]]
    file: str
    lines: LineIndex = field(default_factory=LineIndex)
    # silicon vendor of every chip named in the file (canonical chip id -> vendor)
    chip_ids: Mapping[str, str] = field(default_factory=dict)
    silicon: Mapping[str, str] = field(default_factory=dict)
    # per canonical chip: first period it can be delivered, and yearly price change
    available: Mapping[str, int] = field(default_factory=dict)
    price_change: Mapping[str, float] = field(default_factory=dict)
    # watts per chip of every contract and on-demand offer (None: unknown)
    contract_watts: tuple[float | None, ...] = ()
    offer_watts: tuple[float | None, ...] = ()

    def price_factor(self, chip: str, period: float) -> float:
        """Multiplier of the chip's prices at ``period`` (1 at period 0)."""
        change = self.price_change.get(self.chip_ids.get(chip, chip), 0.0)
        years = period * self.spec.hours_per_period / HOURS_PER_YEAR
        return float((1.0 + change) ** years)

    def available_from(self, chip: str) -> int:
        return int(self.available.get(self.chip_ids.get(chip, chip), 0))

    # every scenario's name and probability (explicit ones first, then generated ones)
    names: tuple[str, ...] = ()
    probs: tuple[float, ...] = ()
    # tokens/s per chip of every workload (chip name or canonical id -> rate)
    throughput: tuple[dict[str, float], ...] = ()
    perf_notes: tuple[str, ...] = ()

    def rates(self, workload: int) -> dict[str, float]:
        """Tokens/s per chip of a workload (the file's, and the performance model's)."""
        if self.throughput:
            return self.throughput[workload]
        return dict(self.spec.workloads[workload].throughput)

    @property
    def probabilities(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        if self.probs:
            return np.array(self.probs, dtype=np.float64)
        return np.array([s.probability for s in self.spec.scenarios], dtype=np.float64)

    @property
    def scenario_names(self) -> list[str]:
        return list(self.names) if self.names else [s.name for s in self.spec.scenarios]


# ----- reading ------------------------------------------------------------------------------


def _yaml_path(loc: tuple[int | str, ...]) -> tuple[str | int, ...]:
    """Pydantic's location as a path into the YAML (drop union-branch segments)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            "[" in part or part.startswith(("literal", "function")) or part in ("float", "int")
        ):
            continue
        out.append(part)
    return tuple(out)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    reason = str(error["msg"]).removeprefix("Value error, ")
    value = repr(error.get("input"))
    value = value if len(value) <= 40 else value[:37] + "..."
    return reason if kind == "value_error" else f"{reason}, got {value}"


def _schema_error(exc: ValidationError, file: str, lines: LineIndex) -> SchemaError:
    issues: list[FieldIssue] = []
    seen: set[str] = set()
    for error in exc.errors():
        path = _yaml_path(tuple(error["loc"]))
        name = render(path) or "(top)"
        if name in seen:  # a union reports each branch; one line per field is enough
            continue
        seen.add(name)
        message = _message(error)
        if path and path[0] == "scenarios" and "demand" in path:
            message = "expected a number, a list (one per period) or {period: value}: " + message
        issues.append(FieldIssue(field=name, message=message, line=lines.of(path)))
    return SchemaError(file, issues)


# ----- checks on the whole file -------------------------------------------------------------


class _Checker:
    def __init__(self, spec: ProcurementSpec, file: str, lines: LineIndex) -> None:
        self.spec, self.file, self.lines = spec, file, lines

    def error(self, message: str, *path: str | int) -> InputError:
        return InputError(message, file=self.file, line=self.lines.of(path), field=render(path))

    def unique(self, kind: str, key: str, names: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                raise self.error(
                    f"duplicate {key} '{name}' (first used by {kind}[{seen[name]}])", kind, i, key
                )
            seen[name] = i

    def chip(self, name: str, *path: str | int) -> tuple[str, str]:
        chips = registry()
        found = chips.find(name)
        if found is None:
            raise UnknownNameError(
                "chip",
                name,
                chips.known_names(),
                file=self.file,
                line=self.lines.of(path),
                field=render(path),
            )
        return found.id, found.vendor.value

    def demand(self, value: Any, *path: str | int) -> np.ndarray[Any, np.dtype[np.float64]]:
        n = self.spec.periods
        if isinstance(value, list):
            if len(value) != n:
                raise self.error(f"lists {len(value)} values, expected one per period ({n})", *path)
            return np.array(value, dtype=np.float64)
        if isinstance(value, dict):
            out = np.zeros(n)
            keys = sorted(value)
            if not keys or keys[0] != 0:
                raise self.error("a {period: value} demand must start at period 0", *path)
            for k in keys:
                if k >= n:
                    raise self.error(f"period {k} is past the horizon (periods: {n})", *path, k)
                out[k:] = float(value[k])
            return out
        return np.full(n, float(value))

    def run(self) -> Procurement:
        spec = self.spec
        self.unique("scenarios", "name", [s.name for s in spec.scenarios])
        self.unique("workloads", "name", [w.name for w in spec.workloads])
        self.unique("contracts", "id", [c.id for c in spec.contracts])
        self.unique("on_demand", "id", [o.id for o in spec.on_demand])
        both = {c.id for c in spec.contracts} & {o.id for o in spec.on_demand}
        if both:
            name = sorted(both)[0]
            i = [o.id for o in spec.on_demand].index(name)
            raise self.error(f"id '{name}' is also a contract id", "on_demand", i, "id")
        gen = spec.generated
        if not spec.scenarios and gen is None:
            raise self.error("no scenarios: give scenarios and/or generated", "scenarios")
        weight = 0.0
        if gen is not None:
            if gen.weight is None and spec.scenarios:
                raise self.error(
                    "next to explicit scenarios, give the generated scenarios' total "
                    "probability (weight)", "generated",
                )  # fmt: skip
            weight = 1.0 if gen.weight is None else gen.weight
        total = sum(s.probability for s in spec.scenarios)
        if spec.scenarios and abs(total - (1.0 - weight)) > PROBABILITY_TOLERANCE:
            rest = "" if gen is None else f" (1 - generated.weight {weight:g})"
            raise self.error(
                f"scenario probabilities sum to {total:.6g}, expected {1.0 - weight:.6g}{rest}",
                "scenarios", 0, "probability",
            )  # fmt: skip
        if not spec.scenarios and gen is not None and gen.weight not in (None, 1.0):
            raise self.error("weight must be 1 without explicit scenarios", "generated", "weight")
        chip_ids: dict[str, str] = {}
        silicon: dict[str, str] = {}
        for i, wspec in enumerate(spec.workloads):
            mine: set[str] = set()
            for name in wspec.throughput:
                cid, vendor = self.chip(name, "workloads", i, "throughput", name)
                if cid in mine:
                    raise self.error(
                        f"chip '{name}' is listed twice (another name of {cid})",
                        "workloads", i, "throughput", name,
                    )  # fmt: skip
                mine.add(cid)
                chip_ids[name], silicon[cid] = cid, vendor
        named = [("contracts", i, c.chip) for i, c in enumerate(spec.contracts)]
        named += [("on_demand", i, o.chip) for i, o in enumerate(spec.on_demand)]
        for kind, i, chip in named:
            cid, vendor = self.chip(chip, kind, i, "chip")
            chip_ids[chip], silicon[cid] = cid, vendor
        throughput, perf_notes = self.rates(chip_ids)
        for i, c in enumerate(spec.contracts):
            for j, sp in enumerate(c.sign_periods):
                if sp >= spec.periods:
                    raise self.error(
                        f"sign period {sp} is past the horizon (periods 0..{spec.periods - 1})",
                        "contracts", i, "sign_periods", j,
                    )  # fmt: skip
        names = [w.name for w in spec.workloads]
        n_gen = 0 if gen is None else gen.scenarios
        cells = len(names) * spec.periods * (len(spec.scenarios) + n_gen)
        if cells > MAX_DEMAND_CELLS:
            raise self.error(
                f"workloads x periods x scenarios = {cells:,} exceeds {MAX_DEMAND_CELLS:,}; "
                "use fewer scenarios or longer periods", "scenarios",
            )  # fmt: skip
        demand = np.zeros((len(names), spec.periods, len(spec.scenarios)))
        for s, scen in enumerate(spec.scenarios):
            for w in scen.demand:
                if w not in names:
                    raise UnknownNameError(
                        "workload", w, names, file=self.file,
                        line=self.lines.of(("scenarios", s, "demand", w)),
                        field=f"scenarios[{s}].demand.{w}",
                    )  # fmt: skip
            for wi, w in enumerate(names):
                if w not in scen.demand:
                    raise self.error(f"no demand for workload '{w}'", "scenarios", s, "demand")
                demand[wi, :, s] = self.demand(scen.demand[w], "scenarios", s, "demand", w)
        scen_names = [s.name for s in spec.scenarios]
        probs = [s.probability for s in spec.scenarios]
        if gen is not None:
            start = self.levels(gen, names)
            made = generated_demand(
                start, spec.periods, gen.scenarios, gen.every, gen.growth.mean, gen.growth.sd,
                gen.seed, gen.branching,
            )  # fmt: skip
            n = made.shape[2]
            generated_names = [f"{gen.prefix}{i:04d}" for i in range(n)]
            clash = set(generated_names) & set(scen_names)
            if clash:
                raise self.error(
                    f"generated name '{sorted(clash)[0]}' is also an explicit scenario's: "
                    "change generated.prefix", "generated", "prefix",
                )  # fmt: skip
            demand = np.concatenate([demand, made], axis=2)
            scen_names += generated_names
            probs += [weight / n] * n
        if not spec.on_demand and not spec.contracts:
            raise self.error("nothing to buy: give contracts and/or on_demand offers", "contracts")
        available: dict[str, int] = {}
        change: dict[str, float] = {}
        for i, entry in enumerate(spec.roadmap):
            cid, vendor = self.chip(entry.chip, "roadmap", i, "chip")
            if cid in available:
                raise self.error(f"chip '{entry.chip}' is on the roadmap twice", "roadmap", i)
            if entry.available_from >= spec.periods:
                raise self.error(
                    f"available_from {entry.available_from} is past the horizon "
                    f"(periods 0..{spec.periods - 1})", "roadmap", i, "available_from",
                )  # fmt: skip
            chip_ids[entry.chip], silicon[cid] = cid, vendor
            available[cid], change[cid] = entry.available_from, entry.price_change_per_year
        contract_watts = tuple(self.watts(c.chip, c.watts_per_chip) for c in spec.contracts)
        offer_watts = tuple(self.watts(o.chip, o.watts_per_chip) for o in spec.on_demand)
        if spec.power is not None and (spec.power.max_mw or spec.power.max_mw_by_vendor):
            chips = [("contracts", i, c.chip) for i, c in enumerate(spec.contracts)]
            chips += [("on_demand", i, o.chip) for i, o in enumerate(spec.on_demand)]
            watts = list(contract_watts) + list(offer_watts)
            for (kind, i, chip), each in zip(chips, watts, strict=True):
                if each is None:
                    raise self.error(
                        f"no power figure for chip '{chip}' in the chip registry: "
                        "give watts_per_chip (with its source) for a power limit",
                        kind, i, "chip",
                    )  # fmt: skip
        if spec.power is not None:
            by = spec.policy.share_by
            pools = [(c.provider, c.chip) for c in spec.contracts]
            pools += [(o.provider, o.chip) for o in spec.on_demand]
            labels = {p if by == "provider" else silicon[chip_ids[c]] for p, c in pools}
            for name in spec.power.max_mw_by_vendor:
                if name not in labels:
                    raise UnknownNameError(
                        f"{by} (power.max_mw_by_vendor is by policy.share_by)", name,
                        sorted(labels), file=self.file,
                        line=self.lines.of(("power", "max_mw_by_vendor", name)),
                        field=f"power.max_mw_by_vendor.{name}",
                    )  # fmt: skip
        ids = [c.id for c in spec.contracts]
        for i, neg in enumerate(spec.negotiate):
            if neg.contract not in ids:
                raise UnknownNameError(
                    "contract", neg.contract, ids, file=self.file,
                    line=self.lines.of(("negotiate", i, "contract")),
                    field=f"negotiate[{i}].contract",
                )  # fmt: skip
            term = spec.contracts[ids.index(neg.contract)].term_periods
            if neg.shorter_term_periods is not None and neg.shorter_term_periods >= term:
                raise self.error(
                    f"shorter_term_periods {neg.shorter_term_periods} is not shorter than the "
                    f"contract's term ({term})", "negotiate", i, "shorter_term_periods",
                )  # fmt: skip
        return Procurement(
            spec, demand, self.file, self.lines, chip_ids, silicon, available, change,
            contract_watts, offer_watts, tuple(scen_names), tuple(probs), tuple(throughput),
            tuple(perf_notes),
        )  # fmt: skip

    def rates(self, chip_ids: dict[str, str]) -> tuple[list[dict[str, float]], list[str]]:
        """Tokens/s per chip of every workload: the file's, then the performance model's for
        the other chips bought (on the workload's quantile); notes on what was modelled."""
        from chipfolio.errors import ChipfolioError
        from chipfolio.perfmodel import inference_capability
        from chipfolio.workloads.models import get_model

        chips = registry()
        bought = sorted({chip_ids[c.chip] for c in self.spec.contracts}
                        | {chip_ids[o.chip] for o in self.spec.on_demand})  # fmt: skip
        out: list[dict[str, float]] = []
        notes: list[str] = []
        for i, w in enumerate(self.spec.workloads):
            rates = dict(w.throughput)
            if w.model is not None:
                try:
                    arch = get_model(w.model)
                except ChipfolioError as exc:
                    raise self.error(str(exc), "workloads", i, "model") from exc
                given = {chip_ids.get(n, n) for n in w.throughput}
                modelled = []
                for cid in bought:
                    if cid in given:
                        continue
                    chip = chips.find(cid)
                    assert chip is not None
                    cap = inference_capability(
                        arch, chip, w.precision, w.input_tokens, w.output_tokens, w.ttft_ms,
                        w.tpot_ms,
                    )  # fmt: skip
                    if cap is None:
                        continue
                    low = w.perf_quantile == "p10"
                    rate = cap.tokens_per_s_per_chip_low if low else cap.tokens_per_s_per_chip
                    rates[cid] = float(rate)
                    flag = "" if cap.calibrated else ", uncalibrated"
                    modelled.append(f"{cid} {rate:,.0f}{flag}")
                notes.append(
                    f"workload {w.name}: tokens/s per chip from the performance model "
                    f"({w.model}, {w.precision}, {w.perf_quantile}): "
                    + ("; ".join(modelled) if modelled else "no chip bought can serve it")
                )
            if not rates:
                raise self.error(
                    "no chip bought can serve this workload (performance model)",
                    "workloads", i, "model",
                )  # fmt: skip
            out.append(rates)
        return out, notes

    def levels(self, gen: GeneratedSpec, names: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The generated demand's period-0 level of every workload (all of them given)."""
        for w in gen.start:
            if w not in names:
                raise UnknownNameError(
                    "workload", w, names, file=self.file,
                    line=self.lines.of(("generated", "start", w)),
                    field=f"generated.start.{w}",
                )  # fmt: skip
        missing = [w for w in names if w not in gen.start]
        if missing:
            raise self.error(f"no start level for workload '{missing[0]}'", "generated", "start")
        return np.array([gen.start[w] for w in names], dtype=np.float64)

    def watts(self, chip: str, given: float | None) -> float | None:
        """Watts per chip: the file's figure, else the chip registry's (None: unknown)."""
        if given is not None:
            return given
        found = registry().find(chip)
        return None if found is None else found.tdp_w


def procurement_from_data(data: object, file: str, lines: LineIndex | None = None) -> Procurement:
    """Validate parsed YAML/JSON data into a Procurement."""
    lines = lines or LineIndex()
    if not isinstance(data, dict):
        raise InputError(
            f"expected a mapping of procurement fields, got {type(data).__name__}",
            file=file,
            line=1,
        )
    try:
        spec = ProcurementSpec.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, file, lines) from exc
    return _Checker(spec, file, lines).run()


def parse_procurement_text(text: str, file: str = "<procurement>") -> Procurement:
    """Parse procurement YAML text."""
    data, lines = parse_yaml(text, file)
    return procurement_from_data(data, file, lines)


def load_procurement(path: Path | str) -> Procurement:
    """Read and validate a procurement file; every error names file, line and field."""
    path = Path(path)
    return parse_procurement_text(read_input_text(path, "a procurement YAML file"), str(path))
