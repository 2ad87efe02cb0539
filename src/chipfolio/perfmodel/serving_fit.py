"""Fitting the serving model to observations, and measuring its error out of sample.

The fit is regularised least squares on log error (scipy.optimize.least_squares, soft-L1 so
one odd row cannot drag a stack). Parameters are hierarchical: a cross-stack value of every
field, a deviation per software stack with observations and a further deviation per engine
on that stack (``cuda:sglang``, ``rocm:atom`` ...). Gaussian priors pull the cross-stack
values toward round textbook values and every deviation toward zero, so a stack or engine
with few rows moves only as far as they demand, and one with none keeps the level above.

Out-of-sample checks refit without a group of rows and predict it: the whole chip
(leave-one-chip-out, the honest test for a chip with no public results), the whole
framework, the whole software stack, or random folds of configurations. Their residuals
give the 80% intervals shipped with the calibration.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chipfolio.errors import InputError
from chipfolio.perfmodel.observations import Observation, Target
from chipfolio.perfmodel.serving import (
    GLOBAL_FIELDS,
    PRIOR,
    STACK_FIELDS,
    Array,
    ServingParams,
    build_points,
    decode_array,
    encode,
    evaluate,
    evaluate_with,
)

SIGMA_ROW = 0.10
"""Expected log error of a good model on one row (weights rows against the priors)."""

ROBUST_SCALE = 2.0
TTFT_WEIGHT = 0.2
PUBLISHED_WEIGHT = 3.0
"""A published row counts as about nine InferenceX rows: the 24 published serving rows are the
only dense-model serving measurements, and without the weight the ~2,500 MoE rows set every
shared parameter and dense estimates follow MoE behaviour."""
"""TTFT rows count less: the engines' queueing is modelled coarsely."""

PRIOR_SIGMA_BASE = 1.0
PRIOR_SIGMA_STACK = 0.7
PRIOR_SIGMA_ENGINE = 0.4
PRIOR_SIGMA_CHIP = 1.5
CHIP_FIELDS = frozenset({"hbm_eff", "moe_layer_us", "moe_eff"})
"""What a chip may depart in: its kernels' efficiency and per-layer cost. The other fields
(queueing, prefill, MTP, communication) stay with the stack and engine: given to every chip
they trade off against each other and a chip's MoE rows would set its dense prefill."""
PINNED_SIGMA = 0.01
"""A chip's own deviation: what its rows show beyond its stack and engine. Its prior splits a
lone chip's departure between the chip and its stack, so a chip without rows inherits only
the stack's share (the honest transfer from one measured chip to an unmeasured one)."""

_ALL = (*STACK_FIELDS, *GLOBAL_FIELDS)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each parameter sits in the fitted vector."""

    stacks: tuple[str, ...]
    engines: tuple[str, ...]  # "stack:engine"
    chips: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        groups = len(self.stacks) + len(self.engines) + len(self.chips)
        return len(_ALL) + len(STACK_FIELDS) * groups

    def centre(self, prior: ServingParams) -> Array:
        x = [prior.base[f] for f in _ALL]
        for s in self.stacks:
            x += [prior.stacks.get(s, {}).get(f, 0.0) for f in STACK_FIELDS]
        for e in self.engines:
            x += [prior.engines.get(e, {}).get(f, 0.0) for f in STACK_FIELDS]
        for c in self.chips:
            x += [prior.chip_devs.get(c, {}).get(f, 0.0) for f in STACK_FIELDS]
        return np.asarray(x, dtype=np.float64)

    def sigmas(self) -> Array:
        base = [PRIOR_SIGMA_BASE * (1.0 if f != "fp4_factor" else 0.5) for f in _ALL]
        per = len(STACK_FIELDS)
        sig = base + [PRIOR_SIGMA_STACK] * per * len(self.stacks)
        sig += [PRIOR_SIGMA_ENGINE] * per * len(self.engines)
        chip = [PRIOR_SIGMA_CHIP if f in CHIP_FIELDS else PINNED_SIGMA for f in STACK_FIELDS]
        sig += chip * len(self.chips)
        return np.asarray(sig, dtype=np.float64)

    def params(
        self, x: Array, label: str, rows: int, chips: Iterable[str], moe: Iterable[str]
    ) -> ServingParams:
        base = {f: float(v) for f, v in zip(_ALL, x[: len(_ALL)], strict=True)}
        per, i = len(STACK_FIELDS), len(_ALL)
        stacks: dict[str, dict[str, float]] = {}
        for s in self.stacks:
            stacks[s] = {f: float(v) for f, v in zip(STACK_FIELDS, x[i : i + per], strict=True)}
            i += per
        engines: dict[str, dict[str, float]] = {}
        for e in self.engines:
            engines[e] = {f: float(v) for f, v in zip(STACK_FIELDS, x[i : i + per], strict=True)}
            i += per
        chip_devs: dict[str, dict[str, float]] = {}
        for c in self.chips:
            chip_devs[c] = {f: float(v) for f, v in zip(STACK_FIELDS, x[i : i + per], strict=True)}
            i += per
        return ServingParams(
            base, stacks, engines, tuple(sorted(set(chips))), {}, rows, label,
            tuple(sorted(set(moe))), chip_devs,
        )  # fmt: skip


class _Problem:
    """Observations as arrays plus the index of each row's stack and engine parameters."""

    def __init__(self, observations: Sequence[Observation], layout: _Layout) -> None:
        self.obs = list(observations)
        self.layout = layout
        pts = build_points([o.point for o in self.obs])
        self.arrays = pts.arrays
        n = len(self.obs)
        s_index = {s: i for i, s in enumerate(layout.stacks)}
        e_index = {e: i for i, e in enumerate(layout.engines)}
        self.stack_idx = np.array([s_index.get(o.stack, -1) for o in self.obs], dtype=np.int64)
        engine_keys = [f"{o.stack}:{o.point.engine}" for o in self.obs]
        self.engine_idx = np.array([e_index.get(k, -1) for k in engine_keys], dtype=np.int64)
        c_index = {c: i for i, c in enumerate(layout.chips)}
        self.chip_idx = np.array([c_index.get(o.chip, -1) for o in self.obs], dtype=np.int64)
        self.measured = np.log(np.array([o.value for o in self.obs], dtype=np.float64))
        self.target = np.array([_TARGET_CODE[o.target] for o in self.obs], dtype=np.int64)
        published = np.array([o.source == "published" for o in self.obs], dtype=bool)
        self.weight = np.where(self.target == 1, TTFT_WEIGHT, 1.0) * np.where(
            published, PUBLISHED_WEIGHT, 1.0
        )
        self.n = n

    def sparsity(self) -> Any:
        """Which parameters each residual depends on (lets finite differences share evals)."""
        from scipy.sparse import lil_matrix

        per, nb = len(STACK_FIELDS), len(_ALL)
        size = self.layout.size
        ns = len(self.layout.stacks)
        pattern = lil_matrix((self.n + size, size), dtype=np.int8)
        for i in range(self.n):
            pattern[i, :nb] = 1
            s = int(self.stack_idx[i])
            if s >= 0:
                pattern[i, nb + per * s : nb + per * (s + 1)] = 1
            e = int(self.engine_idx[i])
            if e >= 0:
                start = nb + per * (ns + e)
                pattern[i, start : start + per] = 1
            c = int(self.chip_idx[i])
            if c >= 0:
                start = nb + per * (ns + len(self.layout.engines) + c)
                pattern[i, start : start + per] = 1
        for j in range(size):
            pattern[self.n + j, j] = 1
        return pattern

    def q(self, x: Array) -> dict[str, Array]:
        per, nb = len(STACK_FIELDS), len(_ALL)
        ns, ne = len(self.layout.stacks), len(self.layout.engines)
        stacks = np.vstack([x[nb : nb + per * ns].reshape(ns, per), np.zeros((1, per))])
        start = nb + per * ns
        engines = np.vstack([x[start : start + per * ne].reshape(ne, per), np.zeros((1, per))])
        nc = len(self.layout.chips)
        start += per * ne
        chips = np.vstack([x[start : start + per * nc].reshape(nc, per), np.zeros((1, per))])
        s_dev = stacks[self.stack_idx]
        e_dev = engines[self.engine_idx]
        c_dev = chips[self.chip_idx]
        out: dict[str, Array] = {}
        for j, name in enumerate(STACK_FIELDS):
            coord = x[j] + s_dev[:, j] + e_dev[:, j] + c_dev[:, j]
            out[name] = decode_array(name, np.asarray(coord, dtype=np.float64))
        for j, name in enumerate(GLOBAL_FIELDS):
            coord = np.full(self.n, x[len(STACK_FIELDS) + j])
            out[name] = decode_array(name, coord)
        return out

    def predicted(self, x: Array) -> Array:
        outcome = evaluate_with(self.arrays, self.q(x))
        values = np.where(
            self.target == 0,
            outcome.tokens_per_s_per_gpu,
            np.where(self.target == 1, outcome.ttft_s * 1000.0, outcome.tpot_s * 1000.0),
        )
        return np.asarray(np.maximum(values, 1e-9), dtype=np.float64)


_TARGET_CODE = {Target.TOKENS_PER_S_PER_GPU: 0, Target.TTFT_MS: 1, Target.TPOT_MS: 2}


def _layout(observations: Sequence[Observation]) -> _Layout:
    stacks = tuple(sorted({o.stack for o in observations}))
    engines = tuple(sorted({f"{o.stack}:{o.point.engine}" for o in observations if o.point.engine}))
    chips = tuple(sorted({o.chip for o in observations}))
    return _Layout(stacks, engines, chips)


def fit_serving(
    observations: Sequence[Observation],
    prior: ServingParams | None = None,
    label: str = "fitted",
    max_nfev: int = 60,
) -> ServingParams:
    """Fit the serving parameters to ``observations`` (prior: textbook values)."""
    from scipy.optimize import least_squares  # heavy: imported only when fitting

    usable = [o for o in observations if o.value > 0]
    if not usable:
        raise InputError("no serving observation to fit")
    base = prior or ServingParams(base={n: encode(n, v) for n, v in PRIOR.items()})
    layout = _layout(usable)
    problem = _Problem(usable, layout)
    centre, sigmas = layout.centre(base), layout.sigmas()

    def residuals(x: Array) -> Array:
        err = (np.log(problem.predicted(x)) - problem.measured) / SIGMA_ROW * problem.weight
        return np.concatenate([err, (x - centre) / sigmas])

    fit = least_squares(
        residuals, centre, method="trf", loss="soft_l1", f_scale=ROBUST_SCALE,
        diff_step=1e-3, max_nfev=max_nfev, jac_sparsity=problem.sparsity(),
    )  # fmt: skip
    chips = {o.chip for o in usable}
    moe = {o.stack for o in usable if o.point.shape.n_experts > 0}
    return layout.params(np.asarray(fit.x, dtype=np.float64), label, len(usable), chips, moe)


def predict(observations: Sequence[Observation], params: ServingParams) -> list[float]:
    """The model's value of what each observation measured (as the estimates compute it)."""
    if not observations:
        return []
    outcome = evaluate(build_points([o.point for o in observations]), params)
    out: list[float] = []
    for i, o in enumerate(observations):
        if o.target is Target.TOKENS_PER_S_PER_GPU:
            value = float(outcome.tokens_per_s_per_gpu[i])
        elif o.target is Target.TTFT_MS:
            value = float(outcome.ttft_s[i]) * 1000.0
        else:
            value = float(outcome.tpot_s[i]) * 1000.0
        out.append(max(value, 1e-9))
    return out


# ------------------------------------------------------------------------------ validation


@dataclass(frozen=True, slots=True)
class Held:
    """One held-out observation, its prediction and the interval it was given."""

    obs: Observation
    predicted: float
    low: float = math.nan
    high: float = math.nan

    @property
    def error(self) -> float:
        return self.predicted / self.obs.value - 1.0

    @property
    def log_residual(self) -> float:
        """log(measured / predicted): what an interval must cover."""
        return math.log(self.obs.value / self.predicted)

    @property
    def covered(self) -> bool:
        return self.low <= self.obs.value <= self.high


def hold_out(
    observations: Sequence[Observation],
    key: Callable[[Observation], str],
    groups: Iterable[str] | None = None,
    prior: ServingParams | None = None,
    max_nfev: int = 60,
    scored: Callable[[Observation], bool] | None = None,
    keep: dict[str, ServingParams] | None = None,
) -> dict[str, list[Held]]:
    """For each group: fit without its rows, predict them (only ``scored`` rows kept).

    ``keep``: when given, receives each group's calibration (fitted without it).
    """
    wanted = sorted({key(o) for o in observations}) if groups is None else list(groups)
    out: dict[str, list[Held]] = {}
    for group in wanted:
        held = [o for o in observations if key(o) == group]
        if scored is not None:
            held = [o for o in held if scored(o)]
        rest = [o for o in observations if key(o) != group]
        if not held or not rest:
            continue
        params = fit_serving(rest, prior, label=f"without {group}", max_nfev=max_nfev)
        if keep is not None:
            keep[group] = params
        preds = predict(held, params)
        out[group] = [Held(o, p) for o, p in zip(held, preds, strict=True)]
    return out


def folds(
    observations: Sequence[Observation], k: int, seed: int = 14
) -> Callable[[Observation], str]:
    """A key assigning every configuration (all its concurrencies) to one of ``k`` folds."""
    configs = sorted({o.config for o in observations})
    rng = random.Random(seed)
    rng.shuffle(configs)
    fold = {c: f"fold{i % k}" for i, c in enumerate(configs)}
    return lambda o: fold[o.config]


def quantiles(residuals: Sequence[float], lo: float = 0.1, hi: float = 0.9) -> tuple[float, float]:
    """The ``lo`` and ``hi`` quantiles of log residuals (linear interpolation)."""
    if not residuals:
        return (math.nan, math.nan)
    values = np.asarray(sorted(residuals), dtype=np.float64)
    return float(np.quantile(values, lo)), float(np.quantile(values, hi))


def with_intervals(held: Mapping[str, list[Held]]) -> dict[str, list[Held]]:
    """Each group's rows with the 80% interval taken from the *other* groups' residuals."""
    out: dict[str, list[Held]] = {}
    for group, rows in held.items():
        others = [h.log_residual for g, hs in held.items() if g != group for h in hs]
        lo, hi = quantiles(others)
        out[group] = [
            Held(h.obs, h.predicted, h.predicted * math.exp(lo), h.predicted * math.exp(hi))
            for h in rows
        ]
    return out


Z_90 = 1.2815515655446004
"""The 90th percentile of the standard normal (an 80% two-sided band)."""


def t_widening(groups: int) -> float:
    """How much wider than their observed spread group biases must be read for a new group.

    A group's bias (a chip's, a stack's) is one draw from a population seen through only
    ``groups`` other draws, centred on zero (the level is fitted, so a bias is as likely
    either way): the 80% prediction interval of a new draw is Student's t with ``groups``
    degrees of freedom times their root mean square, against 1.28 for a known normal. No
    other group: infinite.
    """
    if groups < 1:
        return math.inf
    from scipy.stats import t  # heavy: imported only when validating

    return float(t.ppf(0.9, groups)) / Z_90


def group_biases(held: Mapping[str, Sequence[Held]]) -> dict[str, float]:
    """Each group's median log residual: how far off the whole group was."""
    return {g: statistics.median(h.log_residual for h in rows) for g, rows in held.items() if rows}


def workload(o: Observation) -> str:
    """What was asked of a chip, known before it is measured: model, precision and lengths."""
    p = o.point
    return f"{o.model}|{p.precision}|{p.input_tokens:.0f}/{p.output_tokens:.0f}"


@dataclass(frozen=True, slots=True)
class Levels:
    """A held-out group's log residuals in three levels (conformal by group, hierarchically).

    ``bias``: the group's median; ``offsets``: each workload's median less the bias (a chip
    may run one model or length faster than its others); ``noise``: each row less its
    workload's median (how a sweep over concurrency departs from its own level).
    """

    bias: float
    offsets: tuple[float, ...]
    noise: tuple[float, ...]


def levels(
    held: Mapping[str, Sequence[Held]], key: Callable[[Observation], str] = workload
) -> dict[str, Levels]:
    """Each group's :class:`Levels`, workloads told apart by ``key``."""
    out: dict[str, Levels] = {}
    for group, rows in held.items():
        if not rows:
            continue
        by: dict[str, list[float]] = {}
        for h in rows:
            by.setdefault(key(h.obs), []).append(h.log_residual)
        median = {k: statistics.median(v) for k, v in by.items()}
        bias = statistics.median(h.log_residual for h in rows)
        out[group] = Levels(
            bias,
            tuple(m - bias for m in median.values()),
            tuple(h.log_residual - median[key(h.obs)] for h in rows),
        )
    return out


_POINTS = 400
"""Row scatter longer than this enters a band as this many of its quantiles (a band's
convolution stays a few million values however many rows there are)."""


def _thin(values: Sequence[float] | Array) -> Array:
    v = np.asarray(values, dtype=np.float64)
    if v.size <= _POINTS:
        return v
    return np.asarray(np.quantile(v, (np.arange(_POINTS) + 0.5) / _POINTS), dtype=np.float64)


_BIAS_POINTS = 200
"""A group bias enters a band as this many quantiles of its Student's t distribution."""


def bias_draws(biases: Sequence[float]) -> Array:
    """What a new group's bias may be, given other groups' ``biases`` (quantile points).

    The biases are draws from a population centred on zero (the level is fitted, so a bias
    is as likely either way) whose spread is known only through them: a new draw divided by
    their root mean square is Student's t with ``len(biases)`` degrees of freedom (the
    textbook prediction interval). With one sibling that is a Cauchy distribution: reading
    the lone bias mirrored as the band's edge, as the band once did, put its 10th percentile
    at the sibling's bias itself where the t distribution puts it 3.1 times as far. None:
    unbounded.
    """
    n = len(biases)
    if n < 1:
        return np.asarray([-math.inf, math.inf], dtype=np.float64)
    from scipy.stats import t  # heavy: imported only when validating

    rms = math.sqrt(sum(b * b for b in biases) / n)
    q = (np.arange(_BIAS_POINTS) + 0.5) / _BIAS_POINTS
    return np.asarray(rms * t.ppf(q, n), dtype=np.float64)


def bias_band(
    biases: Sequence[float], within: Sequence[float], offsets: Sequence[float] = (0.0,)
) -> tuple[float, float]:
    """The 10th and 90th percentile of a held-out group's log residual (conformal style).

    Other groups' biases, read as :func:`bias_draws` (centred on zero, Student's t for how
    few they are), plus their workloads' offsets about their biases, mirrored (a new chip
    may run any workload faster or slower than its others), plus every row's departure from
    its own workload's level (``within``, as measured: the model's skew at some loads is
    real).
    """
    if not biases or not within or not offsets:
        return (-math.inf, math.inf)
    b = bias_draws(biases)
    o = np.asarray([*offsets, *(-x for x in offsets)], dtype=np.float64)
    levels_ = _thin((b[:, None] + o[None, :]).ravel())
    values = (levels_[:, None] + _thin(within)[None, :]).ravel()
    return float(np.quantile(values, 0.1)), float(np.quantile(values, 0.9))


def level_band(members: Iterable[Levels]) -> tuple[float, float]:
    """:func:`bias_band` of groups' :class:`Levels` pooled (unbounded with none)."""
    pool = list(members)
    return bias_band(
        [m.bias for m in pool],
        [r for m in pool for r in m.noise],
        [x for m in pool for x in m.offsets],
    )


def chip_workload(o: Observation) -> str:
    """A workload on one chip: how a whole stack held out departs chip by chip and workload."""
    return f"{o.chip}|{workload(o)}"


def grouped_intervals(
    held: Mapping[str, list[Held]],
    family: Mapping[str, str] | None = None,
    orphans: Mapping[str, Sequence[Held]] | None = None,
    key: Callable[[Observation], str] = workload,
    uncarried: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, list[Held]]:
    """Each held-out group's rows with an 80% interval from the *other* groups only.

    The interval adds three things seen on other groups (:func:`level_band`): how far a
    whole group's prediction was off (its bias), how far each workload (``key``) was off
    beside it, and how rows scatter about their workload's level. With ``family`` (a chip's
    software stack) they come from the held-out group's family members: a vendor whose
    chips differ among themselves gets a band as wide as they differ, widened for how few
    they are (one sibling: Student's t with one degree of freedom). A group with no family
    member held out beside it (a vendor's only chip: its stack is then unmeasured) takes
    them from whole stacks held out (``orphans``, its own excluded), their workloads told
    apart chip by chip (:func:`chip_workload`): a new chip on an unmeasured stack departs
    from that stack's level as the chips of a stack held out departed from theirs, on top
    of the stack's own bias. Without any, its interval is unbounded.

    ``uncarried``: per group, each row's prediction without the deviation carried over from
    measured chips on its kernel target (:meth:`ServingParams.chip_deviation`). Whether a
    sibling's deviation carries over is itself uncertain, so such a row's interval is the
    union of the band about its prediction and the band about the prediction without it.
    """
    mine = levels(held, key)
    stacks = levels(orphans, chip_workload) if orphans is not None else {}
    out: dict[str, list[Held]] = {}
    for group, rows in held.items():
        others = [g for g in mine if g != group]
        if family is not None:
            own = family.get(group, "")
            siblings = [mine[g] for g in others if family.get(g) == own]
            pool = siblings or [lv for f, lv in stacks.items() if f != own]
        else:
            pool = [mine[g] for g in others]
        lo, hi = level_band(pool)
        alt = list(uncarried.get(group, ())) if uncarried is not None else []
        if len(alt) != len(rows):
            alt = [h.predicted for h in rows]
        out[group] = [
            Held(h.obs, h.predicted, min(h.predicted, a) * math.exp(lo),
                 max(h.predicted, a) * math.exp(hi))
            for h, a in zip(rows, alt, strict=True)
        ]  # fmt: skip
    return out


def uncarried_predictions(held: Sequence[Held], params: ServingParams) -> list[float]:
    """``held``'s predictions by ``params`` without any chip's fitted deviation.

    For a chip held out of ``params``' fit that removes exactly the deviation carried over
    from its kernel target's measured chips (it has none of its own).
    """
    return predict([h.obs for h in held], replace(params, chip_devs={}))


@dataclass(frozen=True, slots=True)
class Summary:
    rows: int
    median_abs_pct: float
    p90_abs_pct: float
    median_signed_pct: float
    coverage_pct: float


def summarize(rows: Sequence[Held]) -> Summary:
    if not rows:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    errs = [abs(h.error) * 100 for h in rows]
    signed = [h.error * 100 for h in rows]
    with_band = [h for h in rows if not math.isnan(h.low)]
    coverage = 100.0 * sum(h.covered for h in with_band) / len(with_band) if with_band else math.nan
    return Summary(
        rows=len(rows),
        median_abs_pct=statistics.median(errs),
        p90_abs_pct=float(np.quantile(np.asarray(errs), 0.9)),
        median_signed_pct=statistics.median(signed),
        coverage_pct=coverage,
    )
