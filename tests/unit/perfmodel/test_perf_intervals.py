"""Held-out intervals built conformal-style from other groups (serving_fit.grouped_intervals)."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.perfmodel import get_model
from chipfolio.perfmodel.observations import Observation, Target
from chipfolio.perfmodel.serving import Deployment, Point, model_shape
from chipfolio.perfmodel.serving_estimate import Request, estimate, shipped_serving_params
from chipfolio.perfmodel.serving_fit import (
    Held,
    bias_band,
    bias_draws,
    group_biases,
    grouped_intervals,
    t_widening,
)


def _held(value: float, predicted: float, model: str = "m") -> Held:
    shape = model_shape(get_model("deepseek-v3"), Precision.FP8)
    point = Point(registry().get("h200"), shape, Precision.FP8, Deployment(8), 8, 1000, 1000)
    obs = Observation(point, Target.TOKENS_PER_S_PER_GPU, value, chip="h200", vendor="nvidia",
                      stack="cuda", framework="sglang", model=model, line=2, source="t",
                      config="c")  # fmt: skip
    return Held(obs, predicted)


def _group(
    bias: float, scatter: tuple[float, ...] = (-0.05, 0.0, 0.05), model: str = "m"
) -> list[Held]:
    """Rows whose log(measured/predicted) is ``bias`` plus each scatter value."""
    return [_held(100.0 * math.exp(bias + s), 100.0, model) for s in scatter]


def test_t_widening_is_wide_for_few_groups_and_tends_to_one() -> None:
    assert math.isinf(t_widening(0))
    assert t_widening(1) > 2.0  # one sibling: Student's t with one degree of freedom
    assert t_widening(1) > t_widening(2) > t_widening(5) > t_widening(100) > 1.0
    assert t_widening(1000) < 1.01


def test_bias_band_covers_mirrored_biases_and_is_unbounded_without_any() -> None:
    lo, hi = bias_band([0.4], [0.0])
    assert math.isclose(lo, -hi)  # a bias is as likely either way
    assert hi > 0.4  # one sibling 0.4 off: the band reaches past it (t with 1 dof)
    assert bias_band([0.4, 0.1, -0.2, 0.3, 0.0], [0.0])[1] < hi  # more siblings: narrower
    assert bias_band([], [0.0]) == (-math.inf, math.inf)
    assert bias_band([0.1], []) == (-math.inf, math.inf)


def test_group_biases_are_median_log_residuals() -> None:
    biases = group_biases({"a": _group(0.3), "b": _group(-0.2)})
    assert math.isclose(biases["a"], 0.3, abs_tol=1e-9)
    assert math.isclose(biases["b"], -0.2, abs_tol=1e-9)


def test_a_held_out_group_never_sees_its_own_residuals() -> None:
    held = {"a": _group(0.0), "b": _group(0.0), "c": _group(2.0)}
    out = grouped_intervals(held)
    # c is far off, but its band comes from a and b (unbiased): it does not cover c.
    assert not any(h.covered for h in out["c"])
    assert all(h.covered for h in out["a"])  # a's band includes c's bias (mirrored, widened)


def test_siblings_set_the_band_and_an_only_child_takes_the_stack_biases() -> None:
    held = {
        "n1": _group(0.02), "n2": _group(-0.03), "n3": _group(0.01),  # a tight vendor
        "a1": _group(0.4), "a2": _group(-0.3),  # two chips that differ a lot
        "solo": _group(-1.0),  # a vendor's only chip
    }  # fmt: skip
    family = {"n1": "cuda", "n2": "cuda", "n3": "cuda", "a1": "rocm", "a2": "rocm",
              "solo": "synapse"}  # fmt: skip
    stacks = {"cuda": _group(0.3), "rocm": _group(-0.1), "synapse": _group(-1.0)}
    out = grouped_intervals(held, family, stacks)
    width = {g: math.log(rows[0].high / rows[0].low) for g, rows in out.items()}
    assert width["a1"] > 2 * width["n1"]  # one sibling 0.7 away: a wide band
    assert all(h.covered for h in out["a1"]) and all(h.covered for h in out["a2"])
    assert out["n1"][1].covered  # its bias is inside; a tight vendor's band stays tight
    # The only child's band comes from the other stacks (0.3, -0.1), not from its own -1.0.
    assert not any(h.covered for h in out["solo"])
    assert math.isfinite(width["solo"])


def test_an_only_child_takes_the_other_stacks_row_scatter() -> None:
    # Chips scatter little about their own bias; whole stacks held out scatter a lot.
    held = {"n1": _group(0.0), "n2": _group(0.1), "solo": _group(-0.5)}
    family = {"n1": "cuda", "n2": "cuda", "solo": "synapse"}
    tight = {"cuda": _group(0.1), "synapse": _group(-0.5, (-5.0, 5.0))}
    loose = {"cuda": _group(0.1, (-0.6, 0.0, 0.6)), "synapse": _group(-0.5, (-5.0, 5.0))}
    narrow = grouped_intervals(held, family, tight)
    wide = grouped_intervals(held, family, loose)

    def width(out: dict[str, list[Held]], group: str) -> float:
        return math.log(out[group][0].high / out[group][0].low)

    assert width(wide, "solo") > width(narrow, "solo") + 0.5
    assert width(wide, "solo") < 5.0  # synapse's own scatter stayed out
    assert width(wide, "n1") == width(narrow, "n1")  # a chip with siblings keeps theirs
    unbounded = grouped_intervals(held, family)["solo"][0]  # no stack held out
    assert unbounded.low == 0.0 and math.isinf(unbounded.high)


def test_a_siblings_workload_offsets_count_either_way() -> None:
    # n1 runs model "b" 0.5 faster than its others; the held-out n3 runs "b" 0.35 slower.
    fast_b = _group(0.0, (-0.05, 0.0, 0.05, 0.02, -0.02)) + _group(0.5, model="b")
    slow_b = _group(0.0, (-0.05, 0.0, 0.05, 0.02, -0.02)) + _group(-0.35, model="b")
    held = {"n1": fast_b, "n2": _group(0.0), "n3": slow_b}
    family = dict.fromkeys(held, "cuda")
    out = grouped_intervals(held, family)
    assert all(h.covered for h in out["n3"])  # a workload's offset is as likely either way
    lo, hi = bias_band([0.0], [0.0], [0.5])
    assert lo <= -0.5 and hi >= 0.5
    assert bias_band([0.0], [0.0], []) == (-math.inf, math.inf)


def test_a_new_chip_gets_its_stacks_band_when_the_calibration_has_one() -> None:
    p = shipped_serving_params()
    generic = p.interval("unmeasured_chip")
    for key in p.intervals:
        if key.startswith("unmeasured_chip:"):
            stack = key.split(":", 1)[1]
            lo, hi = p.interval("unmeasured_chip", stack)
            want_lo, want_hi = p.intervals[key]
            assert math.isclose(math.log(lo), want_lo) and math.isclose(math.log(hi), want_hi)
    assert p.interval("unmeasured_chip", "no-such-stack") == generic


def _validation_script() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "scripts" / "serving_validation.py"
    spec = importlib.util.spec_from_file_location("serving_validation", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["serving_validation"] = module
    spec.loader.exec_module(module)
    return module


def test_mlperf_mi300x_llama2_70b_rows_fall_in_the_shipped_interval() -> None:
    """AMD's MLPerf v4.1 8 x MI300X Llama-2-70B results, never fitted, inside the 80% band."""
    checks = _validation_script().mlperf_requests()
    assert len(checks) == 3
    params = shipped_serving_params()
    for _scenario, _system, measured, req in checks:
        est = estimate(req, params)
        assert est.meets_slo
        assert est.low <= measured <= est.high, (measured, est.low, est.high)


def test_one_siblings_bias_reaches_as_far_as_students_t_with_one_degree_of_freedom() -> None:
    draws = bias_draws([0.1])
    assert math.isclose(float(np.quantile(draws, 0.1)), -0.3078, abs_tol=0.01)  # t1 = 3.078
    assert math.isclose(float(np.quantile(draws, 0.9)), 0.3078, abs_tol=0.01)
    many = bias_draws([0.1, -0.1] * 50)  # a well-known spread: the normal's 1.28
    assert math.isclose(float(np.quantile(many, 0.9)), 0.128, abs_tol=0.005)
    assert math.isinf(float(bias_draws([])[0]))


def test_a_carried_deviation_widens_the_band_to_the_prediction_without_it() -> None:
    held = {"n1": _group(0.0), "n2": _group(0.05), "n3": _group(0.6)}
    family = dict.fromkeys(held, "cuda")
    plain = grouped_intervals(held, family)["n3"]
    assert not any(h.covered for h in plain)  # 0.6 off, siblings within 0.05
    # Its sibling's deviation made n3's prediction 0.6 (log) slower than without it.
    without = {"n3": [h.predicted * math.exp(0.6) for h in held["n3"]]}
    carried = grouped_intervals(held, family, uncarried=without)
    assert all(h.covered for h in carried["n3"])
    assert carried["n3"][0].low == plain[0].low  # widened only toward the other estimate
    assert carried["n1"][0].high == grouped_intervals(held, family)["n1"][0].high


def test_an_only_child_takes_the_chip_scatter_within_the_stacks_held_out() -> None:
    held = {"n1": _group(0.0), "n2": _group(0.1), "solo": _group(-0.5)}
    family = {"n1": "cuda", "n2": "cuda", "solo": "synapse"}

    def chip(rows: list[Held], name: str) -> list[Held]:
        return [Held(replace(h.obs, chip=name), h.predicted) for h in rows]

    # The same cuda stack held out: its two chips agree, or one is 0.8 slower than the other.
    agree = {"cuda": chip(_group(0.1), "x") + chip(_group(0.1), "y"), "rocm": _group(-0.1)}
    differ = {"cuda": chip(_group(0.5), "x") + chip(_group(-0.3), "y"), "rocm": _group(-0.1)}
    narrow = grouped_intervals(held, family, agree)["solo"][0]
    wide = grouped_intervals(held, family, differ)["solo"][0]
    assert math.log(wide.high / wide.low) > math.log(narrow.high / narrow.low) + 0.5


def test_a_new_chip_on_a_kernel_target_gets_a_band_covering_the_estimate_without_it() -> None:
    p = shipped_serving_params()
    req = Request(model=get_model("deepseek-v3"), chip=registry().get("mi325x"), count=8,
                  precision=Precision.FP8, input_tokens=1000, output_tokens=1000,
                  concurrency=64)  # fmt: skip
    assert p.chip_deviation("mi325x")  # the MI300X's (gfx942)
    carried = estimate(req, p)
    alone = estimate(req, replace(p, chip_devs={}))
    lo, hi = p.interval(carried.tier, "rocm")
    assert carried.low <= min(carried.tokens_per_s_per_chip * lo, alone.tokens_per_s_per_chip * lo)
    assert carried.high >= max(carried.tokens_per_s_per_chip * hi, alone.tokens_per_s_per_chip * hi)
    assert carried.low < carried.tokens_per_s_per_chip * lo * 0.99 or carried.high > (
        carried.tokens_per_s_per_chip * hi * 1.01
    )  # the MI300X's deviation moves DeepSeek-R1 a long way: the band is wider
    measured = estimate(replace(req, chip=registry().get("mi300x")), p)  # its own deviation
    m_lo, m_hi = p.interval(measured.tier, "rocm")
    assert math.isclose(measured.low, measured.tokens_per_s_per_chip * m_lo)
    assert math.isclose(measured.high, measured.tokens_per_s_per_chip * m_hi)
