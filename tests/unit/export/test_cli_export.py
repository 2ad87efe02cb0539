"""`chipfolio export` end to end: files equal to the goldens via --portfolio, a fresh plan of
the bundled example, and every bad input as one line with exit code 2."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_cases import EXAMPLE, GOLDEN, LAUNCH, PLAN_FILE
from export_validators import HAVE_SKY, document_errors, skypilot_errors

from chipfolio.catalog import registry
from chipfolio.export import TARGETS, export_plan, read_plan
from chipfolio.interfaces.cli.app import main

pytestmark = pytest.mark.skipif(not HAVE_SKY, reason="the export extra (skypilot) is not installed")
pytest.importorskip("kubernetes", reason="the export extra (kubernetes) is not installed")


def _portfolio_with_goldens_launch(tmp_path: Path) -> Path:
    """The bundled example plus the launch sections the golden files were made with."""
    chat, tune = LAUNCH["chat"], LAUNCH["finetune-8b"]
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "data/Azure", str(EXAMPLE.parent / "data" / "Azure")
    )
    doc = yaml.safe_load(text)
    for w in doc["workloads"]:
        if w["name"] == "chat":
            w["launch"] = {
                "setup": chat.setup,
                "run": chat.run,
                "image": chat.image,
                "envs": dict(chat.envs),
                "port": chat.port,
            }
        elif w["name"] == "finetune-8b":
            w["launch"] = {"run": tune.run}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _files(base: Path) -> dict[str, str]:
    return {
        str(p.relative_to(base)): p.read_text(encoding="utf-8")
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.suffix in (".yaml", ".sh")
    }


def test_cli_writes_the_golden_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    portfolio = _portfolio_with_goldens_launch(tmp_path)
    args = ["export", str(PLAN_FILE), "--to", "all", "--out", str(out)]
    assert main([*args, "--portfolio", str(portfolio)]) == 0
    written = _files(out)
    golden = {k: v for k, v in _files(GOLDEN).items() if k.split("/")[0] in TARGETS}
    # the golden files name the fixture by its bare file name; the CLI names the path given
    assert {k: v.replace(str(PLAN_FILE), PLAN_FILE.name) for k, v in written.items()} == golden
    assert (out / "skypilot" / "launch.sh").stat().st_mode & 0o111
    text = capsys.readouterr().out
    assert "allocations not exported" in text and "fill in before applying" in text
    assert "provider 'crusoe' is not a SkyPilot cloud" in text


def test_without_a_portfolio_everything_is_a_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert main(["export", str(PLAN_FILE), "--to", "kueue", "--out", str(out)]) == 0
    assert "no --portfolio" in capsys.readouterr().out
    jobs = [p for p in (out / "kueue").rglob("*.yaml") if p.name != "00-queues.yaml"]
    assert jobs and all("fill-in.invalid/" in p.read_text(encoding="utf-8") for p in jobs)


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such file"),
        ("{", [], "not JSON"),
        (b"\xff\xfe\x00", [], "not UTF-8"),
        ("[1, 2]", [], "expected a plan object"),
        ('{"allocations": 3}', [], "field 'allocations'"),
        ("[" * 100_000 + "]" * 100_000, [], "nested too deeply"),
        ("{}", ["--to", "nomad"], "field '--to'"),
    ],
)
def test_bad_inputs_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes | None,
    args: list[str],
    message: str,
) -> None:
    plan = tmp_path / "plan.json"
    if isinstance(content, bytes):
        plan.write_bytes(content)
    elif content is not None:
        plan.write_text(content, encoding="utf-8")
    to = args or ["--to", "ray"]
    assert main(["export", str(plan), *to, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_out_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["export", str(PLAN_FILE), "--to", "ray", "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--to", "ray", "--out", str(tmp_path / "o")]) == 2
    assert "is a directory" in capsys.readouterr().err


def _key_paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            # names that come from the plan (resources, labels) are data, not structure
            data_keys = ("limits", "nodeLabels", "nodeSelector", "labels", "annotations", "envs")
            key = "*" if prefix.rsplit(".", 1)[-1] in data_keys else k
            out |= {f"{prefix}.{key}"} | _key_paths(v, f"{prefix}.{key}")
        return out
    if isinstance(value, list):
        return set().union(*(_key_paths(v, prefix + "[]") for v in value)) if value else set()
    return set()


def _structure(base: Path) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for path in base.rglob("*.yaml"):
        target = path.relative_to(base).parts[0]
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            kind = doc.get("kind", "task") if target != "skypilot" else "task"
            out.setdefault((target, kind), set()).update(_key_paths(doc))
    return out


def test_a_fresh_plan_of_the_example_exports_with_the_goldens_structure(tmp_path: Path) -> None:
    """Re-plans the bundled example (the solver may place a few chips differently from the
    committed fixture) and checks what does not depend on that: every spec validates, the
    SkyPilot tasks read back to the new plan's chips, and no document has a field the golden
    documents of its kind lack (a catalog offer's zone aside)."""
    plan_json = tmp_path / "plan.json"
    assert main(["plan", str(EXAMPLE), "--json", str(plan_json)]) == 0
    data = json.loads(plan_json.read_text(encoding="utf-8"))
    plan = read_plan(data, str(plan_json))
    out = tmp_path / "out"
    portfolio = _portfolio_with_goldens_launch(tmp_path)
    assert main(["export", str(plan_json), "--to", "all", "--out", str(out), "--portfolio",
                 str(portfolio)]) == 0  # fmt: skip
    for path in out.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            errors = skypilot_errors(doc) if "skypilot" in path.parts else document_errors(doc)
            assert errors == [], path
    # SkyPilot round trip against the new plan
    read_back: Counter[tuple[str, int]] = Counter()
    for path in (out / "skypilot").glob("*.yaml"):
        task = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = task["resources"]["accelerators"]
        if ":" in name:
            acc, n = name.split(":")
            chip, per = registry().get(acc).id, int(n)
        else:
            tpu = registry().tpu_slice(name)
            assert tpu is not None
            chip, per = tpu.chip_id, tpu.chips
        nodes = task["service"]["replicas"] if "service" in task else task["num_nodes"]
        read_back[(chip, per * nodes)] += 1
    result = export_plan(plan, "skypilot")
    skipped = {s.allocation for s in result.skipped}
    expected = Counter((a.chip, a.chips) for a in plan.allocations if a.label not in skipped)
    assert read_back == expected
    fresh, golden = _structure(out), _structure(GOLDEN)
    stable = {("skypilot", "task"), ("kueue", "ClusterQueue"), ("ray", "RayCluster")}
    assert stable <= set(fresh) & set(golden)
    optional = {".resources.zone", ".resources.instance_type"}
    for key, paths in fresh.items():
        if key in golden:
            assert paths - golden[key] <= optional, (key, paths - golden[key])


def test_json_summary_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["export", str(PLAN_FILE), "--to", "skypilot", "--out", str(tmp_path), "--json", "-"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    (export,) = summary["exports"]
    assert export["target"] == "skypilot"
    assert len(export["files"]) == len(list((tmp_path / "skypilot").iterdir()))
    assert sum(export["skip_counts"].values()) == len(export["skipped"])
    assert 0 < export["exported_chip_hours_share"] < 1
    assert any("credentials" in item for item in export["fill_in"])
