"""The portfolio file: pydantic models, a hardened YAML loader, and its JSON Schema.

A portfolio states the planning horizon, which offers exist (the public catalog, filtered and
discounted, and/or private offers), the diversification policy, and the workloads — either
architecture-based (a model served or trained, turned into per-chip throughput by the
performance model) or with explicit measured throughput per chip. docs/portfolio.md
describes every field; docs/portfolio.schema.json is generated from these models.

Every error names the file, the line and the field (``workloads[1].slo.tpot_ms``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chipfolio.catalog.chips import registry
from chipfolio.catalog.sources.private import (
    ItemLines,
    PrivateOfferSpec,
    parse_private_offers,
)
from chipfolio.domain import Offer, Precision, PricingModel, SiliconVendor, SoftwareStack
from chipfolio.errors import FieldIssue, InputError, SchemaError, UnknownNameError
from chipfolio.textfile import read_text_file
from chipfolio.workloads.frameworks import Framework
from chipfolio.workloads.traces import RateStatistic

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_YAML_NODES = 500_000
MAX_YAML_DEPTH = 64
MAX_WORKLOADS = 20_000
PORTFOLIO_SNAPSHOT = "portfolio"
DEFAULT_PRICING = (PricingModel.ON_DEMAND, PricingModel.RESERVED, PricingModel.COMMITTED)

_Strict = ConfigDict(extra="forbid", frozen=True)


def _num(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    return Field(gt=gt, ge=ge, le=le, allow_inf_nan=False)


Name = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][\w.:/+@-]*$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
TokensPerS = Annotated[float, _num(gt=0, le=1e13)]
Hours = Annotated[float, _num(gt=0, le=876_000)]
Share = Annotated[float, _num(gt=0, le=1)]
Fraction = Annotated[float, _num(ge=0, le=1)]
TokenCount = Annotated[int, Field(ge=1, le=10_000_000)]


class Traffic(BaseModel):
    """Steady inference traffic: request rate and mean prompt / output lengths."""

    model_config = _Strict
    requests_per_s: Annotated[float, _num(gt=0, le=1e9)]
    input_tokens: TokenCount
    output_tokens: TokenCount


class TraceRef(BaseModel):
    """Traffic from a request trace (Azure LLM trace CSV), scaled to the lab's volume."""

    model_config = _Strict
    file: Annotated[str, Field(min_length=1, max_length=1000)]
    scale: Annotated[float, _num(gt=0, le=1e9)] = 1.0
    rate: RateStatistic = RateStatistic.P90


class Slo(BaseModel):
    """Latency objectives for serving: time to first token and time per output token."""

    model_config = _Strict
    ttft_ms: Annotated[float, _num(gt=0, le=600_000)] | None = None
    tpot_ms: Annotated[float, _num(gt=0, le=60_000)] | None = None


EnvName = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Command = Annotated[str, Field(min_length=1, max_length=20_000)]


class LaunchSpec(BaseModel):
    """How to start the workload where the plan puts it (read by ``chipfolio export`` only)."""

    model_config = _Strict
    setup: Command | None = Field(default=None, description="Shell commands run once per node.")
    run: Command | None = Field(default=None, description="Shell commands that run the job.")
    image: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^\S+$")] | None = Field(
        default=None, description="Container image (Kubernetes and Ray exports, SkyPilot image_id)."
    )
    envs: dict[EnvName, Annotated[str, Field(max_length=10_000)]] = Field(default_factory=dict)
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None, description="Serving port of an inference workload (default 8000)."
    )


class _WorkloadBase(BaseModel):
    model_config = _Strict
    name: Name
    critical: bool = False
    model: Text | None = None
    precision: Precision = Precision.BF16
    throughput: dict[Text, TokensPerS] | None = Field(
        default=None, description="Measured tokens/s per chip, keyed by chip name."
    )
    frameworks: list[Framework] | None = None
    stacks: list[SoftwareStack] | None = None
    regions: list[Text] | None = None
    providers: list[Text] | None = None
    weight: Annotated[float, _num(gt=0, le=1e6)] = 1.0
    launch: LaunchSpec | None = None

    def _one_source(self) -> None:
        if (self.model is None) == (self.throughput is None):
            raise ValueError("give exactly one of 'model' (performance model) or 'throughput'")
        if self.throughput is not None and not self.throughput:
            raise ValueError("'throughput' must list at least one chip")


class InferenceSpec(_WorkloadBase):
    """A model served at a traffic level, under an optional latency SLO."""

    kind: Literal["inference"]
    demand_tokens_per_s: TokensPerS | None = None
    traffic: Traffic | None = None
    trace: TraceRef | None = None
    slo: Slo | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._one_source()
        given = [self.demand_tokens_per_s, self.traffic, self.trace]
        if sum(g is not None for g in given) != 1:
            raise ValueError("give exactly one of 'demand_tokens_per_s', 'traffic' or 'trace'")
        if self.model is not None and self.demand_tokens_per_s is not None:
            raise ValueError("a 'model' workload needs 'traffic' or 'trace' (prompt lengths)")
        return self


class TrainingSpec(_WorkloadBase):
    """A training run: a token budget by a deadline (or a steady token rate)."""

    kind: Literal["training"]
    tokens: Annotated[float, _num(gt=0, le=1e18)] | None = None
    demand_tokens_per_s: TokensPerS | None = None
    deadline_hours: Hours | None = None
    splittable: bool = False
    chips: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="Expected job size, used to model scaling efficiency."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._one_source()
        if (self.tokens is None) == (self.demand_tokens_per_s is None):
            raise ValueError(
                "give exactly one of 'tokens' (with a deadline) or 'demand_tokens_per_s'"
            )
        return self


WorkloadSpec = Annotated[InferenceSpec | TrainingSpec, Field(discriminator="kind")]


class CatalogSpec(BaseModel):
    """Which public offers to consider, and negotiated discounts per provider."""

    model_config = _Strict
    snapshot: Text | None = None
    providers: list[Text] | None = None
    exclude_providers: list[Text] | None = None
    chips: list[Text] | None = None
    vendors: list[SiliconVendor] | None = None
    regions: list[Text] | None = None
    pricing: list[PricingModel] = Field(default_factory=lambda: list(DEFAULT_PRICING))
    discounts: dict[Text, Annotated[float, _num(ge=0, le=0.95)]] = Field(default_factory=dict)


class PolicySpec(BaseModel):
    """Diversification and resilience requirements (defaults: none)."""

    model_config = _Strict
    max_share: Share = 1.0
    share_by: Literal["provider", "silicon"] = "provider"
    min_vendors: Annotated[int, Field(ge=1, le=100)] = 1
    n_minus_1: Fraction = 0.0
    # Plan on the median throughput estimate (p50) or on the pessimistic end of its 80%
    # interval (p10): the 10th percentile of out-of-sample errors of the performance model.
    perf_quantile: Literal["p50", "p10"] = "p50"


class PortfolioSpec(BaseModel):
    """The whole portfolio file."""

    model_config = _Strict
    name: Text | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    horizon_hours: Hours = 730.0
    start_date: date | None = None
    catalog: Literal["none", "default"] | Text | CatalogSpec = "default"
    policy: PolicySpec = Field(default_factory=PolicySpec)
    budget_usd: Annotated[float, _num(gt=0, le=1e13)] | None = None
    offers: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)
    workloads: list[WorkloadSpec] = Field(min_length=1, max_length=MAX_WORKLOADS)


@dataclass(frozen=True, eq=False)
class LineIndex:
    """Line numbers (1-based) of every key and item in the YAML file, by path."""

    lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict)

    def of(self, path: tuple[str | int, ...]) -> int | None:
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


@dataclass(frozen=True, eq=False)
class Portfolio:
    """A validated portfolio: the spec, its private offers, and where it came from."""

    spec: PortfolioSpec
    offers: tuple[Offer, ...]
    file: str
    base_dir: Path
    lines: LineIndex = field(default_factory=LineIndex)

    def line_of(self, *path: str | int) -> int | None:
        return self.lines.of(tuple(path))

    def error(self, message: str, *path: str | int) -> InputError:
        """An InputError located at ``path`` (e.g. ``"workloads", 2, "trace", "file"``)."""
        return InputError(message, file=self.file, line=self.line_of(*path), field=render(path))


def render(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ----- YAML ---------------------------------------------------------------------------------


def _check_tree(node: yaml.Node) -> None:
    """Refuse alias bombs and absurd nesting before constructing any Python object."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            raise ValueError(f"document expands to more than {MAX_YAML_NODES} nodes")
        if depth > MAX_YAML_DEPTH:
            raise ValueError(f"nesting deeper than {MAX_YAML_DEPTH} levels")
        if isinstance(current, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def _index_lines(node: yaml.Node | None) -> LineIndex:
    lines: dict[tuple[str | int, ...], int] = {}
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(node, ())] if node else []
    seen = 0
    while stack and seen < MAX_YAML_NODES:
        current, path = stack.pop()
        seen += 1
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.SequenceNode):
            stack.extend((child, (*path, i)) for i, child in enumerate(current.value))
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                name = str(key.value)
                lines.setdefault((*path, name), key.start_mark.line + 1)
                stack.append((value, (*path, name)))
    return LineIndex(lines)


def read_input_text(path: Path, kind: str = "a portfolio YAML file") -> str:
    """The UTF-8 text of an input file (at most MAX_FILE_BYTES), or one-line errors."""
    return read_text_file(path, limit=MAX_FILE_BYTES, kind=kind)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 exponent floats (``1e12``, ``1.5e12``) as numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, file: str) -> tuple[object, LineIndex]:
    """Parse YAML safely (no tags, bounded size after alias expansion) with a line index."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader rejects control characters up front
        raise InputError(f"invalid YAML: {exc}", file=file) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("empty file, expected a portfolio mapping", file=file, line=1)
        _check_tree(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from exc
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as exc:
        raise InputError(f"invalid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()
    return data, _index_lines(node)


# ----- validation ---------------------------------------------------------------------------


def _yaml_path(loc: tuple[int | str, ...]) -> tuple[str | int, ...]:
    """Pydantic's error location as a path into the YAML (drop union/tag segments)."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        after_item = i >= 2 and loc[0] == "workloads" and i == 2
        if after_item and part in ("inference", "training"):
            continue
        if isinstance(part, str) and ("[" in part or part.startswith(("literal", "function"))):
            continue
        out.append(part)
    return tuple(out)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_not_found":
        return "missing 'kind' (expected 'inference' or 'training')"
    if kind == "union_tag_invalid":
        tag = (error.get("ctx") or {}).get("tag")
        return f"unknown kind {tag!r} (expected 'inference' or 'training')"
    reason = str(error["msg"]).removeprefix("Value error, ")
    value = repr(error.get("input"))
    value = value if len(value) <= 40 else value[:37] + "..."
    return reason if kind == "value_error" else f"{reason}, got {value}"


def _schema_error(exc: ValidationError, file: str, lines: LineIndex) -> SchemaError:
    issues = []
    for error in exc.errors():
        path = _yaml_path(tuple(error["loc"]))
        issues.append(
            FieldIssue(field=render(path) or "(top)", message=_message(error), line=lines.of(path))
        )
    return SchemaError(file, issues)


def _check_workloads(spec: PortfolioSpec, file: str, lines: LineIndex) -> None:
    chips = registry()
    seen: dict[str, int] = {}
    for i, w in enumerate(spec.workloads):
        if w.name in seen:
            raise InputError(
                f"duplicate workload name '{w.name}' (first used by workloads[{seen[w.name]}])",
                file=file,
                line=lines.of(("workloads", i, "name")),
                field=f"workloads[{i}].name",
            )
        seen[w.name] = i
        for chip in w.throughput or {}:
            if chips.find(chip) is None:
                raise UnknownNameError(
                    "chip",
                    chip,
                    chips.known_names(),
                    file=file,
                    line=lines.of(("workloads", i, "throughput", chip)),
                    field=f"workloads[{i}].throughput.{chip}",
                )


def _offer_lines(lines: LineIndex, count: int) -> list[ItemLines]:
    out = []
    for i in range(count):
        fields = {
            str(path[2]): line
            for path, line in lines.lines.items()
            if len(path) == 3 and path[0] == "offers" and path[1] == i
        }
        out.append(ItemLines(lines.of(("offers", i)), fields))
    return out


def portfolio_from_data(data: object, file: str, base_dir: Path, lines: LineIndex) -> Portfolio:
    """Validate already-parsed YAML/JSON data into a Portfolio."""
    if not isinstance(data, dict):
        raise InputError(
            f"expected a mapping of portfolio fields, got {type(data).__name__}", file=file, line=1
        )
    try:
        spec = PortfolioSpec.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, file, lines) from exc
    _check_workloads(spec, file, lines)
    offers = parse_private_offers(
        spec.offers,
        file,
        PORTFOLIO_SNAPSHOT,
        lines=_offer_lines(lines, len(spec.offers)) if spec.offers else None,
        field_prefix="offers",
    )
    return Portfolio(spec=spec, offers=tuple(offers), file=file, base_dir=base_dir, lines=lines)


def parse_portfolio_text(
    text: str, file: str = "<portfolio>", base_dir: Path | None = None
) -> Portfolio:
    """Parse portfolio YAML text (trace paths resolve against ``base_dir``)."""
    data, lines = parse_yaml(text, file)
    return portfolio_from_data(data, file, base_dir or Path.cwd(), lines)


def load_portfolio(path: Path | str) -> Portfolio:
    """Read and validate a portfolio file; every error names file, line and field."""
    path = Path(path)
    return parse_portfolio_text(read_input_text(path), str(path), path.resolve().parent)


def portfolio_json_schema() -> dict[str, Any]:
    """JSON Schema of the portfolio file (offers items use the private-offer schema)."""
    schema = PortfolioSpec.model_json_schema()
    offer = PrivateOfferSpec.model_json_schema()
    schema.setdefault("$defs", {})["PrivateOffer"] = offer
    schema["properties"]["offers"]["items"] = {"$ref": "#/$defs/PrivateOffer"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "chipfolio portfolio"
    return schema
