"""The serving model: physics at a concurrency, MoE deployments, calibration levels, fitting."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest

from chipfolio.catalog.chips import registry
from chipfolio.domain import Chip, Precision, SoftwareStack
from chipfolio.errors import InputError
from chipfolio.perfmodel import InferenceEstimate, estimate_inference, get_model
from chipfolio.perfmodel.observations import Observation, Target
from chipfolio.perfmodel.serving import (
    Deployment,
    Outcome,
    Point,
    ServingParams,
    build_points,
    encode,
    evaluate,
    model_shape,
    parse_framework,
    prior_params,
)
from chipfolio.perfmodel.serving_estimate import shipped_serving_params
from chipfolio.perfmodel.serving_fit import fit_serving, predict, quantiles

P = Precision
DSR1 = model_shape(get_model("deepseek-r1"), P.FP8)


def _point(
    chip: str, conc: float, dep: Deployment, isl: float = 1000, engine: str | None = None
) -> Point:
    return Point(registry().get(chip), DSR1, P.FP8, dep, conc, isl, 1000, engine)


def _run(points: list[Point], params: ServingParams | None = None) -> Outcome:
    return evaluate(build_points(points), params or shipped_serving_params())


def test_tpot_and_throughput_grow_with_concurrency() -> None:
    dep = Deployment(8)
    out = _run([_point("h200", c, dep) for c in (1, 4, 16, 64, 256)])
    assert list(out.tpot_s) == sorted(out.tpot_s)
    assert list(out.tokens_per_s_per_gpu) == sorted(out.tokens_per_s_per_gpu)
    assert out.tokens_per_s_per_gpu[-1] > 20 * out.tokens_per_s_per_gpu[0]


def test_closed_loop_identity_holds() -> None:
    out = _run([_point("b200", 32, Deployment(8))])
    implied = 32 * 1000 / (out.ttft_s[0] + 1000 * out.tpot_s[0]) / 8
    assert out.tokens_per_s_per_gpu[0] == pytest.approx(implied, rel=1e-9)


def test_a_long_prompt_steals_decode_time() -> None:
    dep = Deployment(8)
    points = [_point("h200", 64, dep, isl=1000), _point("h200", 64, dep, isl=8000)]
    short, long = _run(points).tpot_s
    assert long > 1.2 * short


def test_dp_attention_splits_the_mla_cache_and_holds_more_sequences() -> None:
    points = [_point("h200", 1, Deployment(8)), _point("h200", 1, Deployment(8, True, True))]
    tp, dp = _run(points).max_sequences
    assert dp > 4 * tp


def test_concurrency_beyond_memory_queues_and_caps_throughput() -> None:
    dep = Deployment(8)
    top = int(_run([_point("h200", 1, dep)]).max_sequences[0])
    out = _run([_point("h200", top, dep), _point("h200", 4 * top, dep)])
    assert out.tokens_per_s_per_gpu[1] == pytest.approx(out.tokens_per_s_per_gpu[0], rel=0.15)
    assert out.ttft_s[1] > 5 * out.ttft_s[0]


def test_mtp_serves_more_tokens_at_low_concurrency() -> None:
    points = [_point("b200", 4, Deployment(8)), _point("b200", 4, Deployment(8, mtp=True))]
    plain, mtp = _run(points).tokens_per_s_per_gpu
    assert mtp > 1.1 * plain


def test_a_small_prefill_pool_caps_a_disaggregated_deployment() -> None:
    small = Deployment(8, True, True, prefill_gpus=1, prefill_instance_gpus=1)
    large = Deployment(8, True, True, prefill_gpus=16, prefill_instance_gpus=8)
    out = _run([_point("gb200", 2048, small), _point("gb200", 2048, large)])
    assert out.tokens_per_s_per_gpu[0] < 0.5 * out.tokens_per_s_per_gpu[1]


def test_an_instance_past_the_scale_up_domain_pays_the_network() -> None:
    # 16 H100s span two NVLink domains; 16 GB200s sit in one NVL72 rack.
    ep = Deployment(16, True, True)
    h100 = _run([_point("h100", 512, ep)]).tpot_s[0]
    cheap = replace(registry().get("h100"), scaleup_domain=72)
    rack = evaluate(build_points([Point(cheap, DSR1, P.FP8, ep, 512, 1000, 1000)]),
                    shipped_serving_params()).tpot_s[0]  # fmt: skip
    assert h100 > rack


def test_frameworks_name_their_engine_and_deployment() -> None:
    assert parse_framework("dynamo-trt") == ("trt", True)
    assert parse_framework("mori-sglang") == ("sglang", True)
    assert parse_framework("vLLM") == ("vllm", False)
    assert parse_framework("TensorRT-LLM") == ("trt", False)
    assert parse_framework("llama.cpp") == (None, False)
    assert parse_framework(None) == (None, False)


def test_levels_fall_back_engine_then_stack() -> None:
    base = prior_params()
    params = replace(
        base,
        stacks={"cuda": {"mm_eff": 0.5}, "rocm": {"mm_eff": -0.5}},
        engines={"cuda:trt": {"mm_eff": 0.2}, "cuda:sglang": {"mm_eff": -0.4}},
    )
    mm = base.base["mm_eff"]
    assert params.coords("cuda", "trt")["mm_eff"] == pytest.approx(mm + 0.7)
    assert params.coords("cuda", "atom")["mm_eff"] == pytest.approx(mm + 0.5 - 0.1)
    assert params.coords("cuda", None)["mm_eff"] == pytest.approx(mm + 0.4)
    # An unmeasured stack: the mean of the measured stacks' typical values.
    assert params.coords("maia", None)["mm_eff"] == pytest.approx(mm + (0.4 - 0.5) / 2)
    assert params.tier("h100-sxm", "neuron") == "unmeasured_stack"
    assert params.tier("h100-sxm", "cuda") == "unmeasured_chip"
    assert params.tier("h100-sxm", "cuda", moe=True) == "unmeasured_stack"


def test_serving_params_round_trip_and_reject_garbage() -> None:
    shipped = shipped_serving_params()
    again = ServingParams.from_json(shipped.to_json())
    assert again.to_json() == shipped.to_json()
    with pytest.raises(InputError, match="not a serving calibration"):
        ServingParams.from_json({"base": {"mm_eff": 0.1}})
    with pytest.raises(InputError, match="not a serving calibration"):
        ServingParams.from_json({"base": shipped.base, "stacks": {"cuda": [1, 2]}})


def test_shipped_intervals_widen_as_measurements_thin() -> None:
    p = shipped_serving_params()
    widths = [math.log(p.interval(t)[1] / p.interval(t)[0])
              for t in ("measured_chip", "unmeasured_chip", "unmeasured_stack")]  # fmt: skip
    assert widths[0] <= widths[1] <= widths[2]
    lo, hi = p.interval("measured_chip")
    assert lo < 1.0 < hi


def _synthetic(params: ServingParams, n: int, seed: int) -> list[Observation]:
    rng = random.Random(seed)
    chips = ("h200", "b200", "mi355x", "mi300x")
    out: list[Observation] = []
    for i in range(n):
        chip = chips[i % len(chips)]
        engine = "sglang" if i % 3 else "trt" if chip in ("h200", "b200") else "atom"
        dep = Deployment(8, bool(i % 2), bool(i % 2))
        isl = rng.choice((1000, 8000))
        pt = _point(chip, 2 ** rng.randint(0, 9), dep, isl=isl, engine=engine)
        truth = float(_run([pt], params).tokens_per_s_per_gpu[0]) * math.exp(rng.gauss(0, 0.02))
        stack = str(pt.chip.stack)
        row = (truth, chip, "v", stack, engine, "deepseek-v3", i, "test", f"c{i}")
        out.append(Observation(pt, Target.TOKENS_PER_S_PER_GPU, *row))
    return out


def test_the_fit_recovers_a_known_model() -> None:
    truth = replace(
        prior_params(),
        base={**prior_params().base, "hbm_eff": encode("hbm_eff", 0.6),
              "layer_us": encode("layer_us", 90.0)},
    )  # fmt: skip
    rows = _synthetic(truth, 80, seed=3)
    fitted = fit_serving(rows, max_nfev=40)
    errors = [abs(p / o.value - 1) for o, p in zip(rows, predict(rows, fitted), strict=True)]
    assert np.median(errors) < 0.05
    start = [abs(p / o.value - 1) for o, p in zip(rows, predict(rows, prior_params()), strict=True)]
    assert np.median(start) > 3 * np.median(errors)


def test_the_fit_refuses_nothing() -> None:
    with pytest.raises(InputError):
        fit_serving([])


def test_quantiles_of_residuals() -> None:
    lo, hi = quantiles([float(x) for x in range(11)])
    assert (lo, hi) == pytest.approx((1.0, 9.0))
    assert all(math.isnan(v) for v in quantiles([]))


def test_estimates_carry_an_interval_that_contains_them() -> None:
    est = estimate_inference("deepseek-r1", "h200", 8, "fp8", 1024, 1024, concurrency=64,
                             framework="sglang")  # fmt: skip
    assert est.fits and est.concurrency == pytest.approx(64)
    low, high = est.tokens_per_s_per_chip_low, est.tokens_per_s_per_chip_high
    assert low is not None and high is not None
    assert low < est.tokens_per_s_per_chip < high
    assert est.to_json()["calibration_tier"] == "measured_chip"


def test_moe_on_a_stack_without_moe_measurements_is_marked_and_wider() -> None:
    h200 = estimate_inference("deepseek-r1", "h200", 8, "fp8", 1024, 1024, tpot_ms=50)
    trn2 = estimate_inference("deepseek-r1", "trainium2", 16, "fp8", 1024, 1024, tpot_ms=50)
    assert trn2.calibration_tier == "unmeasured_stack"
    assert any("mixture-of-experts" in n for n in trn2.notes)

    def width(e: InferenceEstimate) -> float:
        assert e.tokens_per_s_per_chip_high and e.tokens_per_s_per_chip_low
        return e.tokens_per_s_per_chip_high / e.tokens_per_s_per_chip_low

    assert width(trn2) > width(h200)


def test_a_target_picks_the_best_concurrency_that_meets_it() -> None:
    loose = estimate_inference("gpt-oss-120b", "h100", 1, "fp4", 1024, 1024, tpot_ms=100)
    tight = estimate_inference("gpt-oss-120b", "h100", 1, "fp4", 1024, 1024, tpot_ms=10)
    assert loose.meets_slo and tight.meets_slo
    assert tight.tpot_ms is not None and tight.tpot_ms <= 10
    assert (tight.concurrency or 0) < (loose.concurrency or 0)
    assert tight.tokens_per_s_per_chip < loose.tokens_per_s_per_chip


@pytest.mark.parametrize("bad", [0.0, -4.0, float("nan"), float("inf")])
def test_a_bad_concurrency_names_its_field(bad: float) -> None:
    with pytest.raises(InputError) as info:
        estimate_inference("llama-3.1-8b", "h100", 1, "fp8", 100, 100, concurrency=bad)
    assert info.value.location.field == "concurrency"


def test_a_static_shape_moe_stack_streams_every_expert_at_any_batch() -> None:
    # Gaudi's MoE op runs every local expert: one sequence reads every expert's weights.
    glm = model_shape(get_model("glm-4.7"), P.BF16)
    gaudi = registry().get("gaudi3")
    routed = replace(gaudi, stack=SoftwareStack.CUDA)  # same silicon, a routing MoE kernel
    params = prior_params()

    def step(chip: Chip, conc: float) -> float:
        pt = Point(chip, glm, P.BF16, Deployment(8), conc, 1000, 1000, "vllm")
        return float(evaluate(build_points([pt]), params).tpot_s[0])

    every_expert = glm.expert_bytes / 8 / (gaudi.hbm_tbps * 1e12)
    assert step(gaudi, 1) > every_expert
    assert step(gaudi, 1) > step(routed, 1) + 0.5 * every_expert
    assert step(gaudi, 4) < 1.3 * step(gaudi, 1)  # the weights are read once either way
    # Routing: four tokens reach 1-(1-8/160)^4 = 18.5% of the experts, one token 5%.
    assert step(routed, 4) - step(routed, 1) > 0.1 * every_expert


def _fixed_only(chips: list[Chip]) -> list[float]:
    """TPOT of a model without weights or cache: the fixed costs alone (step_us 1 ms)."""
    no_weights = replace(DSR1, attn_bytes=0.0, dense_bytes=0.0, expert_bytes=0.0,
                         kv_bytes_per_token=1.0)  # fmt: skip
    prior = prior_params()
    params = replace(prior, base={**prior.base, "step_us": encode("step_us", 1e-3)})
    pts = [Point(c, no_weights, P.FP8, Deployment(1), 1, 10, 1000) for c in chips]
    return [float(t) for t in evaluate(build_points(pts), params).tpot_s]


def test_fixed_costs_shrink_with_a_chips_compute_not_its_bandwidth() -> None:
    # The small kernels run at the pace of the compute units (read from the bf16 peak).
    base = registry().get("h200")
    more_compute = replace(base, bf16_tflops=base.bf16_tflops * 2)
    more_bandwidth = replace(base, hbm_tbps=base.hbm_tbps * 2)
    slow_t, fast_t, same_t = _fixed_only([base, more_compute, more_bandwidth])
    assert fast_t < slow_t
    assert fast_t > slow_t / 2  # partly latency: less than the compute ratio
    assert same_t == pytest.approx(slow_t, rel=1e-3)


def test_h100_and_h200_pay_the_same_fixed_costs() -> None:
    # Same compute units, 1.43x the HBM bandwidth: gpt-oss TPOT on vLLM is the same on both.
    h100, h200 = _fixed_only([registry().get("h100"), registry().get("h200")])
    assert h100 == pytest.approx(h200, rel=1e-3)


def test_collective_latency_grows_with_log2_of_the_group() -> None:
    from chipfolio.perfmodel.serving import _rounds

    rounds = _rounds(np.array([2.0, 4.0, 8.0, 16.0, 64.0]))
    assert rounds == pytest.approx([1 / 3, 2 / 3, 1.0, 4 / 3, 2.0])


def test_a_collective_past_the_domain_sends_only_its_share_over_the_network() -> None:
    from chipfolio.perfmodel.serving import _all_to_all, _allreduce

    one = np.array([1.0])
    nbytes, up, out, dom = 1e9 * one, 400e9 * one, 50e9 * one, 8.0 * one
    # Inside one domain: a ring over the scale-up links, every byte at their speed.
    ring = _allreduce(nbytes, 8.0 * one, dom, up, out, 0.0 * one)
    assert ring[0] == pytest.approx(2 * 7 / 8 * 1e9 / 400e9)
    # Two domains of 8: only the 1/8 shard crosses the network, 2 x (1/2) of it.
    two = _allreduce(nbytes, 16.0 * one, dom, up, out, 0.0 * one)
    assert two[0] == pytest.approx(2 * 7 / 8 * 1e9 / 400e9 + 1e9 / 8 / 50e9)
    assert two[0] < 2 * 15 / 16 * 1e9 / 50e9  # what a flat ring over the network would take
    # All-to-all: 8 of a chip's 15 peers sit in the other domain.
    a2a = _all_to_all(nbytes, 16.0 * one, dom, up, out)
    assert a2a[0] == pytest.approx(8 / 15 * 1e9 / 50e9)
    assert _all_to_all(nbytes, 8.0 * one, dom, up, out)[0] == pytest.approx(1e9 / 400e9)


def test_collectives_over_roce_pay_more_latency() -> None:
    gaudi = registry().get("gaudi3")
    nvlink = replace(gaudi, stack=SoftwareStack.CUDA)  # same silicon on a load/store fabric
    prior = prior_params()
    params = replace(prior, base={**prior.base, "roce_us": encode("roce_us", 100.0)})
    shape = model_shape(get_model("llama-3.1-70b"), P.BF16)
    pts = [Point(c, shape, P.BF16, Deployment(8), 1, 100, 1000, "vllm") for c in (gaudi, nvlink)]
    roce_t, nvlink_t = evaluate(build_points(pts), params).tpot_s
    collectives = 2 * shape.n_layers  # attention and FFN all-reduces per layer
    assert roce_t - nvlink_t > 0.8 * collectives * 100e-6
