"""Serving estimates on a number of chips: at a concurrency, or the best one under a target.

The model of :mod:`chipfolio.perfmodel.serving` answers for one deployment and load; this
module searches what a user leaves open. Deployments: every engine-instance size that fits
(powers of two up to the scale-up domain, and the whole domain), replicated over the chips;
for a mixture of experts also expert parallelism, with tensor-parallel or data-parallel
attention; MTP speculative decoding when asked for; a disaggregated prefill/decode split
when asked for. Loads: the stated concurrency (spread over the replicas), or a geometric
sweep of concurrencies of which the most output tokens/s per chip that meets the TPOT/TTFT
targets wins. Every answer carries the 80% interval of its calibration tier.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np

from chipfolio.domain import Chip, Precision
from chipfolio.perfmodel.hardware import chip_rates
from chipfolio.perfmodel.serving import (
    Deployment,
    Point,
    ServingParams,
    build_points,
    evaluate,
    model_shape,
    parse_framework,
)
from chipfolio.workloads.models import ModelArch

SERVING_CALIBRATION_RESOURCE = "serving_calibration.json"

SWEEP = tuple(sorted({max(1, round(2 ** (k / 4))) for k in range(0, 4 * 12 + 1)}))
"""Concurrencies per instance tried when a target, not a concurrency, is given (1..4096)."""

PREFILL_SHARES = (0.25, 1 / 3, 0.5)
"""Shares of the chips given to prefill in a disaggregated deployment (searched)."""

MTP_FAMILIES = frozenset({"deepseek", "glm"})
"""Model families that ship a multi-token-prediction head."""


@dataclass(frozen=True, slots=True)
class ServingEstimate:
    """The best deployment of ``count`` chips for a request shape, with its interval."""

    model: str
    chip: str
    count: int
    precision: Precision
    input_tokens: int
    output_tokens: int
    framework: str | None
    fits: bool
    meets_slo: bool
    tokens_per_s_per_chip: float
    low: float
    high: float
    tpot_ms: float | None
    ttft_ms: float | None
    concurrency: float  # sequences in flight on all the chips
    deployment: str
    chips_per_replica: int
    replicas: int
    hbm_gib_per_chip: float
    tier: str
    calibrated: bool
    notes: tuple[str, ...]

    @property
    def throughput_tokens_per_s(self) -> float:
        return self.tokens_per_s_per_chip * self.count

    def to_json(self) -> dict[str, Any]:
        def rnd(x: float | None, digits: int = 3) -> float | None:
            return None if x is None or not math.isfinite(x) else round(x, digits)

        return {
            "tokens_per_s_per_chip_low": rnd(self.low, 1),
            "tokens_per_s_per_chip_high": rnd(self.high, 1),
            "concurrency": rnd(self.concurrency, 1),
            "deployment": self.deployment,
            "framework": self.framework,
            "calibration_tier": self.tier,
            "calibrated": self.calibrated,
        }


@functools.cache
def shipped_serving_params() -> ServingParams:
    """The serving calibration shipped with the package (fitted on InferenceX + published)."""
    import json

    text = (
        resources.files("chipfolio.perfmodel")
        .joinpath("data", SERVING_CALIBRATION_RESOURCE)
        .read_text("utf-8")
    )
    return ServingParams.from_json(json.loads(text), SERVING_CALIBRATION_RESOURCE)


def _sizes(chip: Chip, precision: Precision, count: int) -> list[int]:
    """Instance sizes: powers of two up to the chips, and the fast domain when it fits in them.

    Instances wider than the scale-up domain pay scale-out bandwidth for their collectives.
    """
    rates = chip_rates(chip, precision)
    sizes = {1 << k for k in range(0, 14) if (1 << k) <= count}
    domain = max(rates.max_tensor_parallel, 1)
    if domain <= count:
        sizes.add(domain)
    return sorted(sizes)


def deployments(
    model: ModelArch, chip: Chip, precision: Precision, count: int, mtp: bool, disagg: bool
) -> list[Deployment]:
    """Deployment shapes to try on ``count`` chips."""
    out: list[Deployment] = []
    use_mtp = mtp and model.family in MTP_FAMILIES
    for g in _sizes(chip, precision, count):
        modes = [(False, False)]
        if model.is_moe and g > 1:
            modes += [(False, True), (True, True)]
        for dp, ep in modes:
            dep = Deployment(g, dp_attention=dp, expert_parallel=ep, mtp=use_mtp)
            if not disagg:
                out.append(dep)
                continue
            for share in PREFILL_SHARES:
                prefill = max(1, round(count * share))
                if count - prefill >= g:
                    out.append(
                        replace(dep, prefill_gpus=prefill, prefill_instance_gpus=min(g, prefill))
                    )
    return out


@dataclass(frozen=True, slots=True)
class Request:
    """What is asked: model, chips, lengths, and either a concurrency or targets."""

    model: ModelArch
    chip: Chip
    count: int
    precision: Precision
    input_tokens: int
    output_tokens: int
    concurrency: float | None = None
    tpot_ms: float | None = None
    ttft_ms: float | None = None
    framework: str | None = None
    mtp: bool = False
    max_concurrency: float | None = None  # caps the sweep (sequences on all the chips)


def _candidates(
    req: Request, engine: str | None, disagg: bool
) -> tuple[list[Point], list[tuple[Deployment, int]]]:
    shape = model_shape(req.model, req.precision)
    points: list[Point] = []
    meta: list[tuple[Deployment, int]] = []
    for dep in deployments(req.model, req.chip, req.precision, req.count, req.mtp, disagg):
        decode_chips = req.count - dep.prefill_gpus
        replicas = decode_chips // dep.gpus
        if replicas < 1:
            continue
        loads: tuple[float, ...] = SWEEP
        if req.concurrency is not None:
            loads = (req.concurrency / replicas,)
        elif req.max_concurrency is not None:
            cap = req.max_concurrency / replicas
            loads = tuple(c for c in SWEEP if c <= cap) or (max(cap, 1.0),)
        for load in loads:
            points.append(Point(
                chip=req.chip, shape=shape, precision=req.precision, deployment=dep,
                concurrency=float(load), input_tokens=float(req.input_tokens),
                output_tokens=float(req.output_tokens), engine=engine,
                instances=replicas if disagg else 1,
            ))  # fmt: skip
            meta.append((dep, replicas))
    return points, meta


def estimate(req: Request, params: ServingParams | None = None) -> ServingEstimate:
    """The best deployment and load for ``req`` (see the module docstring)."""
    params = params or shipped_serving_params()
    engine, disagg = parse_framework(req.framework)
    stack = str(req.chip.stack)
    notes: list[str] = []
    if req.framework and engine is None:
        notes.append(f"framework '{req.framework}' not modelled: {stack} stack values used")
    elif engine and params.is_calibrated(stack) and not params.engine_calibrated(stack, engine):
        notes.append(f"no measurements of {engine} on {stack}: the {stack} stack's values")
    if not params.is_calibrated(stack):
        notes.append(
            f"no measurements for the {stack} stack: cross-stack serving values, wide interval"
        )
    elif req.model.is_moe and stack not in params.moe_stacks:
        notes.append(f"no mixture-of-experts measurements on the {stack} stack: wide interval")
    points, meta = _candidates(req, engine, disagg)
    tier = params.tier(req.chip.id, stack, req.model.is_moe)
    if (
        tier == "measured_chip"
        and engine is not None
        and not params.engine_calibrated(stack, engine)
    ):
        tier = "unmeasured_chip"  # fmt: skip
    if not points:
        return _no_fit(req, notes, tier, params)
    out = evaluate(build_points(points), params)
    per_chip = np.zeros(len(points))
    for i, (dep, replicas) in enumerate(meta):
        used = replicas * dep.gpus
        per_chip[i] = out.tokens_per_s_per_gpu[i] * used / req.count
    ok = out.fits.copy()
    if req.tpot_ms is not None:
        ok &= out.tpot_s * 1000.0 <= req.tpot_ms
    if req.ttft_ms is not None:
        ok &= out.ttft_s * 1000.0 <= req.ttft_ms
    fits_any = bool(out.fits.any())
    if not fits_any:
        return _no_fit(req, notes, tier, params)
    meets = bool(ok.any())
    if meets:
        best = int(np.argmax(np.where(ok, per_chip, -1.0)))
    else:
        # Nothing meets the targets: report the lowest-latency point that fits.
        latency = np.where(out.fits, out.tpot_s, np.inf)
        best = int(np.argmin(latency))
        notes.append("fits, but no deployment and load meets the latency targets")
    dep, replicas = meta[best]
    lo, hi = params.interval(tier, stack)
    value = float(per_chip[best]) if meets else 0.0
    low, high = value * lo, value * hi
    if value > 0.0 and req.chip.id not in params.chip_devs and params.chip_deviation(req.chip.id):
        # A deviation carried over from measured chips on the kernel target: whether it
        # carries over is itself uncertain, so the band also covers the estimate without it.
        alone = evaluate(build_points([points[best]]), replace(params, chip_devs={}))
        used = replicas * dep.gpus
        other = float(alone.tokens_per_s_per_gpu[0]) * used / req.count
        low, high = min(low, other * lo), max(high, other * hi)
    return ServingEstimate(
        model=req.model.name, chip=req.chip.id, count=req.count, precision=req.precision,
        input_tokens=req.input_tokens, output_tokens=req.output_tokens, framework=req.framework,
        fits=True, meets_slo=meets, tokens_per_s_per_chip=value, low=low,
        high=high, tpot_ms=float(out.tpot_s[best] * 1000.0),
        ttft_ms=float(out.ttft_s[best] * 1000.0),
        concurrency=float(points[best].concurrency * replicas), deployment=dep.label(),
        chips_per_replica=dep.gpus, replicas=replicas,
        hbm_gib_per_chip=float(out.bytes_per_gpu[best] / 1024**3), tier=tier,
        calibrated=tier != "unmeasured_stack", notes=tuple(notes),
    )  # fmt: skip


def _no_fit(req: Request, notes: list[str], tier: str, params: ServingParams) -> ServingEstimate:
    needed = min_chips(req, params)
    chip, precision = req.chip.id, req.precision
    where = f"{req.model.name} does not fit on {req.count} x {chip} at {precision}"
    notes.append(f"{where}: needs >= {needed} chips of {chip} at {precision}" if needed else where)
    return ServingEstimate(
        model=req.model.name, chip=req.chip.id, count=req.count, precision=req.precision,
        input_tokens=req.input_tokens, output_tokens=req.output_tokens, framework=req.framework,
        fits=False, meets_slo=False, tokens_per_s_per_chip=0.0, low=0.0, high=0.0,
        tpot_ms=None, ttft_ms=None, concurrency=0.0, deployment="", chips_per_replica=0,
        replicas=0, hbm_gib_per_chip=0.0, tier=tier, calibrated=tier != "unmeasured_stack",
        notes=tuple(notes),
    )  # fmt: skip


def min_chips(req: Request, params: ServingParams) -> int | None:
    """The fewest chips (up to 4096) on which one sequence fits beside the weights."""
    shape = model_shape(req.model, req.precision)
    for n in (1 << k for k in range(0, 13)):
        dep = Deployment(n, dp_attention=req.model.is_moe, expert_parallel=req.model.is_moe)
        point = Point(req.chip, shape, req.precision, dep, 1.0, float(req.input_tokens),
                      float(req.output_tokens))  # fmt: skip
        if bool(evaluate(build_points([point]), params).fits[0]):
            return n
    return None
