"""Calibration values: the few efficiency parameters that turn peaks into achieved speed.

Per software stack (CUDA, ROCm, XLA, Neuron, Maia SDK, Synapse):

* ``matmul`` — fraction of the peak matrix FLOP/s that large matmuls achieve;
* ``hbm`` — fraction of HBM bandwidth that streaming reads achieve;
* ``layer_overhead_us`` — fixed time per transformer layer per forward pass (kernel
  launches, synchronisation, small ops) that does not shrink with the work;
* ``step_overhead_us`` — fixed time per forward pass (launch of the step, host work);
* ``sequence_overhead_us`` — time per sequence in a decode step (scheduling, sampling,
  cache bookkeeping: work that grows with the batch but is not a matmul or a cache read).

Shared by all stacks: ``comm_efficiency`` (fraction of link bandwidth collectives reach),
``collective_latency_us`` (fixed cost per collective) and ``training_matmul_factor``
(training reaches this fraction of the inference matmul efficiency: norms, optimizer and
recomputation the model does not count) and ``fp4_matmul_factor`` (4-bit matmuls reach this
fraction of the efficiency wider ones do: scaling and the non-matmul work that does not shrink).

Stacks without measurements fall back to ``default`` (the fitted cross-stack centre), which
is how ROCm and the Maia SDK are estimated until someone supplies rows for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from chipfolio.domain import Precision, SoftwareStack
from chipfolio.errors import InputError
from chipfolio.perfmodel.serving import ServingParams

DEFAULT_CALIBRATION_RESOURCE = "default_calibration.json"


@dataclass(frozen=True, slots=True)
class StackEfficiency:
    """Achieved fractions of peak and fixed overheads for one software stack."""

    matmul: float
    hbm: float
    layer_overhead_us: float
    step_overhead_us: float
    sequence_overhead_us: float = 0.0

    def __post_init__(self) -> None:
        for name in ("matmul", "hbm"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InputError(f"efficiency '{name}' must be in (0, 1], got {value}")
        for name in ("layer_overhead_us", "step_overhead_us", "sequence_overhead_us"):
            if getattr(self, name) < 0.0:
                raise InputError(f"overhead '{name}' must be >= 0")


@dataclass(frozen=True, slots=True, eq=False)
class Calibration:
    """Every parameter of the performance model, plus what it was fitted on.

    Compared and hashed by identity, so estimates can be cached per calibration object.
    """

    default: StackEfficiency
    stacks: Mapping[SoftwareStack, StackEfficiency]
    comm_efficiency: float
    collective_latency_us: float
    training_matmul_factor: float
    fp4_matmul_factor: float = 0.8
    fitted_on: tuple[str, ...] = ()
    rows: int = 0
    label: str = "uncalibrated"
    fit_error: Mapping[str, float] = field(default_factory=dict)
    serving: ServingParams | None = None  # None: the shipped serving calibration

    def for_stack(self, stack: SoftwareStack) -> StackEfficiency:
        """The stack's own parameters, or the cross-stack default when it has none."""
        return self.stacks.get(stack, self.default)

    def matmul_efficiency(self, stack: SoftwareStack, precision: Precision) -> float:
        """Achieved fraction of the precision's peak for large matmuls on ``stack``."""
        eff = self.for_stack(stack).matmul
        return eff * self.fp4_matmul_factor if precision is Precision.FP4 else eff

    def is_calibrated(self, stack: SoftwareStack) -> bool:
        return stack in self.stacks

    def with_stack(self, stack: SoftwareStack, eff: StackEfficiency) -> Calibration:
        return replace(self, stacks={**self.stacks, stack: eff})

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "rows": self.rows,
            "fitted_on": list(self.fitted_on),
            "fit_error": dict(self.fit_error),
            "default": asdict(self.default),
            "stacks": {str(k): asdict(v) for k, v in sorted(self.stacks.items())},
            "comm_efficiency": self.comm_efficiency,
            "collective_latency_us": self.collective_latency_us,
            "training_matmul_factor": self.training_matmul_factor,
            "fp4_matmul_factor": self.fp4_matmul_factor,
            **({"serving": self.serving.to_json()} if self.serving is not None else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], file: str = "<calibration>") -> Calibration:
        try:
            stacks = {
                SoftwareStack(k): StackEfficiency(**v) for k, v in dict(data["stacks"]).items()
            }
            return cls(
                default=StackEfficiency(**data["default"]),
                stacks=stacks,
                comm_efficiency=float(data["comm_efficiency"]),
                collective_latency_us=float(data["collective_latency_us"]),
                training_matmul_factor=float(data["training_matmul_factor"]),
                fp4_matmul_factor=float(data.get("fp4_matmul_factor", 0.8)),
                fitted_on=tuple(str(s) for s in data.get("fitted_on", ())),
                rows=int(data.get("rows", 0)),
                label=str(data.get("label", "calibration")),
                fit_error={str(k): float(v) for k, v in dict(data.get("fit_error", {})).items()},
                serving=(
                    ServingParams.from_json(data["serving"], file) if "serving" in data else None
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a chipfolio calibration: {exc}", file=file) from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration saved by ``chipfolio calibrate --save``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read calibration: {exc}", file=str(p)) from exc
    if not isinstance(data, dict):
        raise InputError("a calibration file holds one JSON object", file=str(p))
    return Calibration.from_json(data, str(p))


UNCALIBRATED = Calibration(
    default=StackEfficiency(
        matmul=0.6,
        hbm=0.8,
        layer_overhead_us=20.0,
        step_overhead_us=200.0,
        sequence_overhead_us=5.0,
    ),
    stacks={},
    comm_efficiency=0.7,
    collective_latency_us=10.0,
    training_matmul_factor=0.8,
    fp4_matmul_factor=0.8,
    label="prior (before fitting)",
)
"""Round textbook values used as the starting point and prior centre of every fit."""

_default_cache: list[Calibration] = []


def default_calibration() -> Calibration:
    """The calibration shipped with the package (fitted on the published results)."""
    if not _default_cache:
        text = (
            resources.files("chipfolio.perfmodel")
            .joinpath("data", DEFAULT_CALIBRATION_RESOURCE)
            .read_text("utf-8")
        )
        _default_cache.append(Calibration.from_json(json.loads(text), DEFAULT_CALIBRATION_RESOURCE))
    return _default_cache[0]
