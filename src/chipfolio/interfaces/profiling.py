"""Measure the local accelerator with PyTorch and write the results as calibration rows.

Three measurements, each the median of timed repetitions after a warm-up:

* matmul: an n x n by n x n bf16 product; achieved TFLOP/s = 2 n^3 / time;
* memory bandwidth: copying a large buffer; bytes moved = 2 x buffer (read + write);
* on a GPU (or when asked): one Llama-style decoder layer (RMSNorm, grouped-query attention
  through scaled_dot_product_attention, SwiGLU MLP), timed for a prefill of one prompt and
  for one decode step of a batch against a KV cache.

Rows use the columns of published_results.csv, so ``chipfolio calibrate`` reads them back.
PyTorch is an optional extra (``pip install chipfolio[torch]``); it is imported lazily.
"""

from __future__ import annotations

import datetime as dt
import importlib
import platform
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chipfolio.errors import ChipfolioError, InputError

COLUMNS = (
    "chip", "count", "workload", "scenario", "metric", "value", "unit", "precision", "source",
    "date",
)  # fmt: skip


class ProfileError(ChipfolioError):
    """Profiling cannot run here (no PyTorch, or the device is missing)."""

    exit_code = 2


def load_torch() -> ModuleType:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ProfileError(
            "chipfolio profile needs PyTorch: pip install 'chipfolio[torch]' (torch==2.13.0)"
        ) from exc


@dataclass(frozen=True, slots=True)
class ProfileSizes:
    """Problem sizes: full ones for real devices, tiny ones for a quick check."""

    matmul_n: int
    copy_mib: int
    d_model: int
    heads: int
    kv_heads: int
    ffn: int
    prefill_tokens: int
    decode_batch: int
    decode_context: int
    repeats: int

    @classmethod
    def for_device(cls, kind: str, quick: bool) -> ProfileSizes:
        if quick:
            return cls(256, 16, 256, 4, 2, 688, 128, 4, 256, 3)
        if kind == "cpu":
            return cls(1024, 256, 1024, 8, 2, 2816, 256, 8, 512, 5)
        return cls(8192, 2048, 4096, 32, 8, 14336, 2048, 32, 2048, 20)


def pick_device(torch: Any, requested: str | None) -> str:
    """The torch device to use: the requested one, else the first accelerator found."""
    if requested:
        kind = requested.split(":", 1)[0]
        if kind == "cuda" and not torch.cuda.is_available():
            raise ProfileError("--device cuda requested but torch sees no CUDA/ROCm device")
        if kind == "xla":
            _xla_device(torch)
        return requested
    if torch.cuda.is_available():
        return "cuda"
    try:
        _xla_device(torch)
        return "xla"
    except ProfileError:
        pass
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _xla_device(torch: Any) -> Any:
    try:
        xm = importlib.import_module("torch_xla.core.xla_model")
    except ImportError as exc:
        raise ProfileError("XLA devices need torch_xla installed") from exc
    return xm.xla_device()


def device_label(torch: Any, device: str) -> str:
    """A human name for the device (the chip column when --chip is not given)."""
    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(torch.device(device)))
    if device == "cpu":
        return f"cpu ({platform.processor() or platform.machine()})"
    return device


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "xla":
        importlib.import_module("torch_xla.core.xla_model").mark_step()
    elif device == "mps":
        torch.mps.synchronize()


def _time(torch: Any, device: str, fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of one call of ``fn`` (after two warm-up calls)."""
    for _ in range(2):
        fn()
    _sync(torch, device)
    samples: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(torch, device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure_matmul_tflops(torch: Any, device: str, n: int, repeats: int) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    seconds = _time(torch, device, lambda: torch.matmul(a, b), repeats)
    return 2.0 * n**3 / seconds / 1e12


def measure_copy_gbps(torch: Any, device: str, mib: int, repeats: int) -> float:
    elements = mib * 1024 * 1024 // 4
    src = torch.ones(elements, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    seconds = _time(torch, device, lambda: dst.copy_(src), repeats)
    return 2.0 * elements * 4 / seconds / 1e9


def _decoder_layer(torch: Any, device: str, s: ProfileSizes) -> Callable[..., Any]:
    """A Llama-style decoder layer as a function of (hidden, past_k, past_v)."""
    f = torch.nn.functional
    head_dim = s.d_model // s.heads
    kv_dim = s.kv_heads * head_dim

    def weight(rows: int, cols: int) -> Any:
        return torch.randn(rows, cols, device=device, dtype=torch.bfloat16) * 0.02

    wq, wk, wv = weight(s.d_model, s.d_model), weight(kv_dim, s.d_model), weight(kv_dim, s.d_model)
    wo = weight(s.d_model, s.d_model)
    w_gate, w_up, w_down = (
        weight(s.ffn, s.d_model),
        weight(s.ffn, s.d_model),
        weight(s.d_model, s.ffn),
    )
    norm = torch.ones(s.d_model, device=device, dtype=torch.bfloat16)

    def rms(x: Any) -> Any:
        return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5).to(x.dtype) * norm

    def layer(x: Any, past_k: Any, past_v: Any) -> Any:
        batch, tokens, _ = x.shape
        h = rms(x)
        q = f.linear(h, wq).view(batch, tokens, s.heads, head_dim).transpose(1, 2)
        k = f.linear(h, wk).view(batch, tokens, s.kv_heads, head_dim).transpose(1, 2)
        v = f.linear(h, wv).view(batch, tokens, s.kv_heads, head_dim).transpose(1, 2)
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        group = s.heads // s.kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        attn = f.scaled_dot_product_attention(q, k, v, is_causal=past_k is None)
        x = x + f.linear(attn.transpose(1, 2).reshape(batch, tokens, s.d_model), wo)
        h = rms(x)
        return x + f.linear(f.silu(f.linear(h, w_gate)) * f.linear(h, w_up), w_down)

    return layer


def measure_layer_ms(torch: Any, device: str, s: ProfileSizes) -> tuple[float, float]:
    """(prefill ms for one prompt, decode-step ms for a batch) of one decoder layer."""
    layer = _decoder_layer(torch, device, s)
    head_dim = s.d_model // s.heads
    with torch.no_grad():
        prompt = torch.randn(1, s.prefill_tokens, s.d_model, device=device, dtype=torch.bfloat16)
        prefill = _time(torch, device, lambda: layer(prompt, None, None), s.repeats)
        step = torch.randn(s.decode_batch, 1, s.d_model, device=device, dtype=torch.bfloat16)
        cache_shape = (s.decode_batch, s.kv_heads, s.decode_context, head_dim)
        past_k = torch.randn(*cache_shape, device=device, dtype=torch.bfloat16)
        past_v = torch.randn(*cache_shape, device=device, dtype=torch.bfloat16)
        decode = _time(torch, device, lambda: layer(step, past_k, past_v), s.repeats)
    return prefill * 1000.0, decode * 1000.0


def run_profile(
    device: str | None = None,
    chip: str | None = None,
    quick: bool = False,
    layers: bool | None = None,
) -> list[dict[str, str]]:
    """Profile the local device; rows in the published_results.csv layout."""
    torch = load_torch()
    dev = pick_device(torch, device)
    kind = dev.split(":", 1)[0]
    sizes = ProfileSizes.for_device(kind, quick)
    label = chip or device_label(torch, dev)
    source = f"chipfolio profile (torch {torch.__version__}, {dev}) on {socket.gethostname()}"
    today = dt.date.today().isoformat()
    tool = f"chipfolio profile | torch {torch.__version__} on {dev}"

    def row(workload: str, scenario: str, metric: str, value: float, unit: str) -> dict[str, str]:
        return {
            "chip": label, "count": "1", "workload": workload, "scenario": scenario,
            "metric": metric, "value": f"{value:.6g}", "unit": unit, "precision": "BF16",
            "source": source, "date": today,
        }  # fmt: skip

    n, mib = sizes.matmul_n, sizes.copy_mib
    rows = [
        row(f"{tool} (matmul)", f"M=N=K={n}", "matmul throughput",
            measure_matmul_tflops(torch, dev, n, sizes.repeats), "TFLOP/s"),
        row(f"{tool} (copy)", f"{mib} MiB buffer", "memory bandwidth",
            measure_copy_gbps(torch, dev, mib, sizes.repeats), "GB/s"),
    ]  # fmt: skip
    if layers if layers is not None else kind != "cpu":
        prefill_ms, decode_ms = measure_layer_ms(torch, dev, sizes)
        spec = (
            f"chipfolio profile | decoder layer d_model={sizes.d_model} heads={sizes.heads} "
            f"kv_heads={sizes.kv_heads} ffn={sizes.ffn}"
        )
        rows.append(row(spec, f"input {sizes.prefill_tokens}; batch 1",
                        "decoder layer prefill time", prefill_ms, "ms"))  # fmt: skip
        rows.append(row(spec, f"batch {sizes.decode_batch}; sequence length "
                        f"{sizes.decode_context}", "decoder layer decode step time",
                        decode_ms, "ms"))  # fmt: skip
    return rows


def check_device_option(device: str | None) -> None:
    if device is None:
        return
    if device.split(":", 1)[0] not in ("cpu", "cuda", "xla", "mps"):
        raise InputError(f"unknown device '{device}'; expected cpu, cuda[:N], xla or mps",
                         field="--device")  # fmt: skip
