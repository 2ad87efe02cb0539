"""Fitting the calibration to measurements, and reporting the model's error honestly.

The fit is a regularised least-squares problem on log error (scipy.optimize.least_squares).
Parameters live in unconstrained coordinates: logits for fractions (so they stay in (0, 1))
and logarithms for times. The structure is hierarchical: a cross-stack value for every
parameter, plus a per-stack deviation for each software stack that has measurements. A
Gaussian prior pulls the cross-stack values toward the prior calibration and each deviation
toward zero, so a stack with few rows moves only as far as its rows demand, and a stack with
none keeps the prior (for the shipped calibration: the cross-stack centre).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chipfolio.domain import SoftwareStack
from chipfolio.errors import InputError
from chipfolio.perfmodel.efficiency import UNCALIBRATED, Calibration, StackEfficiency
from chipfolio.perfmodel.measurements import Measurement
from chipfolio.perfmodel.predict import CannotPredict, predict

MEASUREMENT_SIGMA = 0.10
"""Expected log error of a good model on one row (weights rows against the prior)."""

ROBUST_SCALE = 2.0
"""Residuals (in units of MEASUREMENT_SIGMA) beyond which a row counts as an outlier and its
pull grows only linearly (soft-L1 loss): one odd row cannot drag a whole stack."""

PRIOR_SIGMA_LOGIT = 1.0
PRIOR_SIGMA_LOG = 1.5

_STACK_FIELDS = (
    "matmul",
    "hbm",
    "layer_overhead_us",
    "step_overhead_us",
    "sequence_overhead_us",
)
_GLOBAL_FIELDS = (
    "comm_efficiency",
    "collective_latency_us",
    "training_matmul_factor",
    "fp4_matmul_factor",
)
_OVERHEADS = frozenset({"layer_overhead_us", "step_overhead_us", "sequence_overhead_us"})
PINNED_SIGMA = 0.01
_FRACTIONS = frozenset({"matmul", "hbm", "comm_efficiency", "training_matmul_factor"})
_FRACTIONS_CAPPED = frozenset({"fp4_matmul_factor"})


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _encode(name: str, value: float) -> float:
    if name in _FRACTIONS or name in _FRACTIONS_CAPPED:
        return _logit(value)
    return math.log(max(value, 1e-3))


def _decode(name: str, x: float) -> float:
    if name in _FRACTIONS or name in _FRACTIONS_CAPPED:
        return _sigmoid(x)
    return math.exp(x)


def _sigma(name: str) -> float:
    return PRIOR_SIGMA_LOGIT if name in _FRACTIONS or name in _FRACTIONS_CAPPED else PRIOR_SIGMA_LOG


@dataclass(frozen=True, slots=True)
class _Space:
    """Maps a parameter vector to a Calibration and back."""

    prior: Calibration
    stacks: tuple[SoftwareStack, ...]

    @property
    def size(self) -> int:
        return len(_STACK_FIELDS) * (1 + len(self.stacks)) + len(_GLOBAL_FIELDS)

    def centre(self) -> np.ndarray:
        """Prior centre: cross-stack values from the prior, deviations of the prior stacks."""
        x = [_encode(f, getattr(self.prior.default, f)) for f in _STACK_FIELDS]
        for stack in self.stacks:
            own = self.prior.for_stack(stack)
            x += [_encode(f, getattr(own, f)) - _encode(f, getattr(self.prior.default, f))
                  for f in _STACK_FIELDS]  # fmt: skip
        x += [_encode(f, getattr(self.prior, f)) for f in _GLOBAL_FIELDS]
        return np.array(x, dtype=float)

    def sigmas(self) -> np.ndarray:
        per_stack = [_sigma(f) for f in _STACK_FIELDS]
        # Overheads are software-specific: the cross-stack value stays at the prior and each
        # stack departs from it only as its own rows demand.
        cross = [_sigma(f) if f not in _OVERHEADS else PINNED_SIGMA for f in _STACK_FIELDS]
        return np.array(
            cross + per_stack * len(self.stacks) + [_sigma(f) for f in _GLOBAL_FIELDS],
            dtype=float,
        )

    def calibration(self, x: np.ndarray, label: str) -> Calibration:
        n = len(_STACK_FIELDS)
        base = [float(v) for v in x[:n]]
        default = StackEfficiency(
            *(_decode(f, v) for f, v in zip(_STACK_FIELDS, base, strict=True))
        )
        stacks = dict(self.prior.stacks)
        for i, stack in enumerate(self.stacks):
            dev = x[n * (i + 1) : n * (i + 2)]
            stacks[stack] = StackEfficiency(
                *(
                    _decode(f, b + float(d))
                    for f, b, d in zip(_STACK_FIELDS, base, dev, strict=True)
                )
            )
        g = [float(v) for v in x[n * (1 + len(self.stacks)) :]]
        comm, latency, training, fp4 = (
            _decode(f, v) for f, v in zip(_GLOBAL_FIELDS, g, strict=True)
        )
        return Calibration(
            default=default,
            stacks=stacks,
            comm_efficiency=comm,
            collective_latency_us=latency,
            training_matmul_factor=training,
            fp4_matmul_factor=fp4,
            label=label,
        )


@dataclass(frozen=True, slots=True)
class RowResult:
    """One measurement next to the model's prediction."""

    measurement: Measurement
    predicted: float | None
    reason: str = ""

    @property
    def error(self) -> float | None:
        """Signed relative error (predicted / measured - 1)."""
        if self.predicted is None:
            return None
        return self.predicted / self.measurement.value - 1.0


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    rows: int
    median_abs_pct: float
    worst_abs_pct: float
    chips: int
    vendors: int


def evaluate(rows: Sequence[Measurement], cal: Calibration) -> list[RowResult]:
    """Predict every row with ``cal`` (rows the model cannot predict carry a reason)."""
    results: list[RowResult] = []
    for m in rows:
        try:
            results.append(RowResult(m, predict(m, cal)))
        except CannotPredict as exc:
            results.append(RowResult(m, None, str(exc)))
    return results


def summarize(results: Sequence[RowResult]) -> ErrorSummary:
    errors = [abs(r.error) * 100 for r in results if r.error is not None]
    used = [r.measurement for r in results if r.error is not None]
    if not errors:
        return ErrorSummary(0, math.nan, math.nan, 0, 0)
    return ErrorSummary(
        rows=len(errors),
        median_abs_pct=statistics.median(errors),
        worst_abs_pct=max(errors),
        chips=len({m.chip.id for m in used}),
        vendors=len({m.chip.vendor for m in used}),
    )


def data_loss(rows: Sequence[Measurement], cal: Calibration) -> float:
    """The fit's data term: soft-L1 loss of the log errors (what fitting lowers)."""
    total = 0.0
    for m in rows:
        z = math.log(max(predict(m, cal), 1e-12) / m.value) / MEASUREMENT_SIGMA / ROBUST_SCALE
        total += 2.0 * (math.sqrt(1.0 + z * z) - 1.0)
    return total * ROBUST_SCALE**2


def _residual_fn(rows: Sequence[Measurement], space: _Space) -> Callable[[np.ndarray], np.ndarray]:
    centre, sigmas = space.centre(), space.sigmas()
    measured = np.log(np.array([m.value for m in rows]))

    def residuals(x: np.ndarray) -> np.ndarray:
        cal = space.calibration(x, "fitting")
        predicted = np.log(np.array([max(predict(m, cal), 1e-12) for m in rows]))
        data = (predicted - measured) / MEASUREMENT_SIGMA
        return np.concatenate([data, (x - centre) / sigmas])

    return residuals


def _predictable(rows: Sequence[Measurement]) -> list[Measurement]:
    usable: list[Measurement] = []
    for m in rows:
        try:
            predict(m, UNCALIBRATED)
        except CannotPredict:
            continue
        usable.append(m)
    return usable


def fit_calibration(
    rows: Sequence[Measurement], prior: Calibration | None = None, label: str = "fitted"
) -> Calibration:
    """Fit the calibration to ``rows`` (prior: the textbook values, or a calibration to refine).

    Stacks with rows get their own parameters; stacks without keep the prior's.
    """
    from scipy.optimize import least_squares  # heavy: imported only when fitting

    usable = _predictable(rows)
    if not usable:
        raise InputError("no measurement the model can use; nothing to fit")
    base = prior or UNCALIBRATED
    stacks = tuple(sorted({m.chip.stack for m in usable}))
    space = _Space(base, stacks)
    fit = least_squares(
        _residual_fn(usable, space),
        space.centre(),
        method="trf",
        loss="soft_l1",
        f_scale=ROBUST_SCALE,
        diff_step=1e-3,
        max_nfev=400,
    )
    cal = space.calibration(fit.x, label)
    summary = summarize(evaluate(usable, cal))
    return Calibration(
        default=_typical(cal, base),
        stacks=cal.stacks,
        comm_efficiency=cal.comm_efficiency,
        collective_latency_us=cal.collective_latency_us,
        training_matmul_factor=cal.training_matmul_factor,
        fp4_matmul_factor=cal.fp4_matmul_factor,
        fitted_on=tuple(sorted({m.source for m in usable if m.source})),
        rows=len(usable),
        label=label,
        fit_error={
            "median_abs_pct": summary.median_abs_pct,
            "worst_abs_pct": summary.worst_abs_pct,
        },
    )


def _typical(cal: Calibration, prior: Calibration) -> StackEfficiency:
    """The default for unmeasured stacks: the centre of the fitted stacks' values.

    A stack without rows is assumed to behave like a typical measured one (mean of the
    stacks' values in fitting coordinates), not like the textbook prior.
    """
    if not cal.stacks:
        return prior.default
    values = []
    for name in _STACK_FIELDS:
        coords = [_encode(name, getattr(eff, name)) for eff in cal.stacks.values()]
        values.append(_decode(name, sum(coords) / len(coords)))
    return StackEfficiency(*values)


def leave_one_out(rows: Sequence[Measurement], prior: Calibration | None = None) -> list[RowResult]:
    """Predict each row from a calibration fitted on all the other rows."""
    usable = _predictable(rows)
    results: list[RowResult] = []
    for i, m in enumerate(usable):
        cal = fit_calibration([*usable[:i], *usable[i + 1 :]], prior, label="leave-one-out")
        results.append(RowResult(m, predict(m, cal)))
    return results
