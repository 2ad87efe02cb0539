"""Shared inputs of the exporter tests: the committed plan of the bundled example, the launch
sections the golden files are made with, and golden-file comparison.

``CHIPFOLIO_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/export`` rewrites the golden files from
the current exporters (read here, in the tests only); review the diff before committing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from chipfolio.export import ExportResult, LaunchInfo, PlanView, read_plan

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
GOLDEN = HERE / "golden"
PLAN_FILE = GOLDEN / "frontier-lab.plan.json"
EXAMPLE = ROOT / "examples" / "frontier-lab.yaml"

# chat is fully described, finetune-8b has a run command only, code has no launch section:
# the goldens show all three cases.
LAUNCH = {
    "chat": LaunchInfo(
        setup="pip install 'vllm==0.6.3'\n",
        run="vllm serve meta-llama/Llama-3.1-70B-Instruct --quantization fp8 --port 8000\n",
        image="vllm/vllm-openai:v0.6.3",
        envs={"HF_TOKEN": "", "VLLM_LOGGING_LEVEL": "INFO"},
        port=8000,
    ),
    "finetune-8b": LaunchInfo(run="python train.py --model llama-3.1-8b --tokens 2e10\n"),
}


def plan_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PLAN_FILE.read_text(encoding="utf-8"))
    return data


def fixture_plan() -> PlanView:
    return read_plan(plan_data(), "frontier-lab.plan.json")


def regenerating() -> bool:
    return os.environ.get("CHIPFOLIO_REGEN_GOLDEN") == "1"


def check_golden(result: ExportResult) -> None:
    """The rendered files equal the golden ones, file for file (or rewrite them on request)."""
    base = GOLDEN / result.target
    rendered = {f.path: f.render() for f in result.files}
    if regenerating():
        shutil.rmtree(base, ignore_errors=True)
        for path, text in rendered.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_text(text, encoding="utf-8")
    golden = {
        str(p.relative_to(GOLDEN)): p.read_text(encoding="utf-8")
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }
    assert sorted(rendered) == sorted(golden), "set CHIPFOLIO_REGEN_GOLDEN=1 to rewrite"
    for path, text in rendered.items():
        assert text == golden[path], f"{path} differs from its golden file"
