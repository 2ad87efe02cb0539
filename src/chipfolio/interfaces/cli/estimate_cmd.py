"""`chipfolio estimate inference|training`: the performance model for one model and chip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.catalog.chips import registry
from chipfolio.errors import InputError
from chipfolio.perfmodel import api
from chipfolio.perfmodel.batch import REQUIRED, run_csv_text, to_csv_text
from chipfolio.perfmodel.efficiency import Calibration
from chipfolio.perfmodel.inference import InferenceEstimate
from chipfolio.perfmodel.serving_estimate import shipped_serving_params
from chipfolio.perfmodel.training import LayoutHint, TrainingEstimate
from chipfolio.workloads.models import ModelArch, builtin_models, load_models_yaml

from .calibrate_cmd import active_calibration

MODEL_HELP = "Model name or alias (e.g. llama-2-70b, 'Llama 3.1 70B', mixtral-8x7b)."
CHIP_HELP = "Chip id or alias (e.g. h100-sxm, H100, tpu-v5p, trainium2)."


def resolve_model(name: str, models_file: Path | None) -> ModelArch:
    models = builtin_models()
    if models_file is not None:
        models = models.with_models(load_models_yaml(models_file))
    return models.get(name)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _notes(console: Console, notes: tuple[str, ...]) -> None:
    for note in notes:
        console.print(f"  [dim]•[/] {note}", highlight=False)


def show_inference(est: InferenceEstimate, cal: Calibration, console: Console) -> None:
    title = f"{est.model} on {est.count} x {est.chip} at {est.precision}"
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    if not est.fits:
        needs = next((n.split(": ", 1)[-1] for n in est.notes if "needs >=" in n), "")
        table.add_row("fits", f"[red]no[/]: {needs}" if needs else "[red]no[/]")
    else:
        slo = est.ttft_slo_ms is not None or est.tpot_slo_ms is not None
        label = "throughput under SLO" if slo else "max throughput"
        if est.concurrency is not None and est.batch and not slo and est.deployment:
            label = "throughput"
        ok = "" if est.meets_slo else " [red](SLO not met)[/]"
        table.add_row(label, f"{_fmt(est.throughput_tokens_per_s, 0)} output tok/s{ok}")
        table.add_row("per chip", f"{_fmt(est.tokens_per_s_per_chip, 1)} tok/s")
        if est.tokens_per_s_per_chip_low is not None and est.meets_slo:
            band = (
                f"{_fmt(est.tokens_per_s_per_chip_low)} .. {_fmt(est.tokens_per_s_per_chip_high)}"
            )
            table.add_row("80% interval", f"{band} tok/s per chip ({est.calibration_tier})")
        if est.concurrency is not None:
            table.add_row("concurrency", f"{est.concurrency:,.0f} sequences ({est.deployment})")
        table.add_row("TTFT", f"{_fmt(est.ttft_ms)} ms")
        table.add_row("TPOT", f"{_fmt(est.tpot_ms, 2)} ms")
        table.add_row("batch per replica", str(est.batch))
        shape = est.deployment or f"TP{est.tensor_parallel}" + (
            f" x PP{est.pipeline_parallel}" if est.pipeline_parallel > 1 else ""
        )
        table.add_row("replicas", f"{est.replicas} x {shape}")
        table.add_row(
            "HBM per chip", f"{est.hbm_gib_per_chip:.1f} / {est.hbm_gib_capacity:.1f} GiB"
        )
    table.add_row("estimated", "yes (a spec was derived)" if est.estimated else "no")
    serving = cal.serving or shipped_serving_params()
    table.add_row("calibration", f"{serving.label} ({serving.rows} rows)")
    console.print(table)
    _notes(console, est.notes)


def show_training(est: TrainingEstimate, cal: Calibration, console: Console) -> None:
    title = f"{est.model} training on {est.count} x {est.chip} at {est.precision}"
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    if not est.fits:
        needs = next((n.split(": ", 1)[-1] for n in est.notes if "needs >=" in n), "")
        table.add_row("fits", f"[red]no[/]: {needs}" if needs else "[red]no[/]")
    else:
        layout = est.layout
        assert layout is not None
        table.add_row(
            "tokens/s", f"{_fmt(est.tokens_per_s, 0)} ({_fmt(est.tokens_per_s_per_chip)} per chip)"
        )
        table.add_row("model TFLOP/s per chip", _fmt(est.model_tflops_per_chip))
        table.add_row("MFU", f"{est.mfu * 100:.1f}%")
        table.add_row("time", f"{_fmt(est.days, 2)} days for {est.tokens:.3g} tokens")
        table.add_row("chip-hours", _fmt(est.chip_hours, 0))
        table.add_row(
            "layout",
            f"TP{layout.tensor_parallel} PP{layout.pipeline_parallel} "
            f"DP{layout.data_parallel * layout.context_parallel} ZeRO-{layout.zero_stage} "
            f"{layout.recompute} recompute",
        )
        table.add_row("HBM per chip", f"{est.hbm_gib_per_chip:.1f} GiB")
    table.add_row("estimated", "yes (a spec was derived)" if est.estimated else "no")
    table.add_row("calibration", cal.label)
    console.print(table)
    _notes(console, est.notes)


def register(app: typer.Typer) -> None:
    estimate = typer.Typer(help="Estimate how fast a model serves or trains on some chips.")
    app.add_typer(estimate, name="estimate")
    _register_inference(estimate)
    _register_training(estimate)
    _register_batch(estimate)


def _register_inference(estimate: typer.Typer) -> None:
    @estimate.command("inference")
    def inference(
        model: str = typer.Option(..., "--model", help=MODEL_HELP),
        chip: str = typer.Option(..., "--chip", help=CHIP_HELP),
        count: int = typer.Option(..., "--count", help="Number of chips."),
        precision: str = typer.Option("bf16", "--precision", help="bf16, fp8, fp4 or int8."),
        input_tokens: int = typer.Option(..., "--input-tokens", help="Prompt length."),
        output_tokens: int = typer.Option(..., "--output-tokens", help="Generated length."),
        ttft_ms: float | None = typer.Option(None, "--ttft-ms", help="TTFT target (ms)."),
        tpot_ms: float | None = typer.Option(None, "--tpot-ms", help="TPOT target (ms)."),
        concurrency: float | None = typer.Option(
            None, "--concurrency", help="Sequences in flight on all the chips (predict at it)."
        ),
        framework: str | None = typer.Option(
            None, "--framework", help="sglang, trt, vllm, atom; dynamo-*/mori-* disaggregated."
        ),
        mtp: bool = typer.Option(False, "--mtp", help="Allow MTP speculative decoding."),
        calibration: Path | None = typer.Option(None, "--calibration", help="Calibration JSON."),
        models_file: Path | None = typer.Option(None, "--models-file", help="Extra models YAML."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object for programs."),
    ) -> None:
        """Fit, TTFT, TPOT and output tokens/s with its 80% interval (at a concurrency, or the
        best one under the SLO when one is given)."""
        cal = active_calibration(calibration)
        est = api.estimate_inference(
            resolve_model(model, models_file), registry().get(chip), count, precision,
            input_tokens, output_tokens, ttft_ms, tpot_ms, cal, concurrency=concurrency,
            framework=framework, mtp=mtp,
        )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(est.to_json(), indent=2))
        else:
            show_inference(est, cal, Console())


def _register_training(estimate: typer.Typer) -> None:
    @estimate.command("training")
    def training(
        model: str = typer.Option(..., "--model", help=MODEL_HELP),
        chip: str = typer.Option(..., "--chip", help=CHIP_HELP),
        count: int = typer.Option(..., "--count", help="Number of chips."),
        precision: str = typer.Option("bf16", "--precision", help="bf16, fp8, fp4 or int8."),
        tokens: float = typer.Option(..., "--tokens", help="Training tokens, e.g. 1e12."),
        seq_len: int | None = typer.Option(None, "--seq-len", help="Sequence length."),
        batch_tokens: float | None = typer.Option(
            None, "--global-batch-tokens", help="Tokens per optimizer step (default ~4M)."
        ),
        tp: int | None = typer.Option(None, "--tp", help="Fix the tensor-parallel size."),
        pp: int | None = typer.Option(None, "--pp", help="Fix the pipeline-parallel size."),
        calibration: Path | None = typer.Option(None, "--calibration", help="Calibration JSON."),
        models_file: Path | None = typer.Option(None, "--models-file", help="Extra models YAML."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object for programs."),
    ) -> None:
        """Tokens/s, model TFLOP/s per chip, MFU, days and chip-hours for a token budget."""
        cal = active_calibration(calibration)
        for name, value in (("--tp", tp), ("--pp", pp)):
            if value is not None and value < 1:
                raise typer.BadParameter("must be at least 1", param_hint=name)
        est = api.estimate_training(
            resolve_model(model, models_file), registry().get(chip), count, precision, tokens,
            cal, seq_len=seq_len, global_batch_tokens=batch_tokens,
            layout=LayoutHint(tensor_parallel=tp, pipeline_parallel=pp),
        )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(est.to_json(), indent=2))
        else:
            show_training(est, cal, Console())


def _register_batch(estimate: typer.Typer) -> None:
    @estimate.command("batch")
    def batch(
        file: Path = typer.Argument(
            ..., help="CSV: " + ",".join(REQUIRED) + " [+ framework,tpot_ms,ttft_ms]."
        ),
        out: Path = typer.Option(..., "--out", help="Output CSV ('-' for stdout)."),
        calibration: Path | None = typer.Option(None, "--calibration", help="Calibration JSON."),
        models_file: Path | None = typer.Option(None, "--models-file", help="Extra models YAML."),
    ) -> None:
        """Serving estimates for every row of FILE; rows that cannot be estimated are noted."""
        start = time.perf_counter()
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", file=str(file)) from exc
        cal = active_calibration(calibration)
        models = builtin_models()
        if models_file is not None:
            models = models.with_models(load_models_yaml(models_file))
        result = run_csv_text(text, str(file), cal.serving, models)
        body = to_csv_text(result)
        if str(out) == "-":
            typer.echo(body, nl=False)
            return
        try:
            out.write_text(body, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write: {exc}", file=str(out)) from exc
        typer.echo(
            f"wrote {out}: {len(result.rows)} rows, {result.failed} could not be estimated "
            f"({time.perf_counter() - start:.1f} s)",
            err=True,
        )
