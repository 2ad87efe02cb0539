"""The portfolio file: valid forms, every validation error located, hostile YAML, schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from chipfolio.errors import InputError, SchemaError, UnknownNameError
from chipfolio.workloads.spec import (
    CatalogSpec,
    InferenceSpec,
    TrainingSpec,
    load_portfolio,
    parse_portfolio_text,
    parse_yaml,
    portfolio_json_schema,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = [ROOT / "examples" / "minimal.yaml", ROOT / "examples" / "frontier-lab.yaml"]
OK = "workloads:\n  - {name: a, kind: inference, demand_tokens_per_s: 5, throughput: {h100: 3}}\n"


def error(text: str) -> InputError:
    with pytest.raises(InputError) as err:
        parse_portfolio_text(text, "p.yaml")
    return err.value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    p = load_portfolio(path)
    assert p.spec.workloads and p.file == str(path)
    assert p.base_dir == path.resolve().parent


def test_defaults() -> None:
    p = parse_portfolio_text(OK, "p.yaml")
    assert p.spec.horizon_hours == 730 and p.spec.catalog == "default"
    assert p.spec.policy.max_share == 1.0 and p.spec.policy.min_vendors == 1
    assert p.offers == ()


def test_both_workload_kinds_and_catalog_forms() -> None:
    text = """
catalog: {providers: [aws], discounts: {aws: 0.2}, pricing: [on_demand]}
workloads:
  - {name: chat, kind: inference, model: llama-3.1-70b,
     traffic: {requests_per_s: 3, input_tokens: 900, output_tokens: 200},
     slo: {ttft_ms: 500, tpot_ms: 40}, frameworks: [vllm], regions: [us-east-1]}
  - {name: train, kind: training, model: llama-3.1-8b, tokens: 1.0e+12, deadline_hours: 500,
     splittable: true}
"""
    p = parse_portfolio_text(text, "p.yaml")
    chat, train = p.spec.workloads
    assert isinstance(chat, InferenceSpec) and chat.slo is not None and chat.slo.tpot_ms == 40
    assert isinstance(train, TrainingSpec) and train.splittable and train.tokens == 1e12
    assert isinstance(p.spec.catalog, CatalogSpec) and p.spec.catalog.discounts == {"aws": 0.2}


def test_exponent_floats_are_numbers() -> None:
    text = "workloads:\n  - {name: t, kind: training, tokens: 1.5e12, throughput: {h100: 3}}\n"
    (job,) = parse_portfolio_text(text, "p.yaml").spec.workloads
    assert isinstance(job, TrainingSpec) and job.tokens == 1.5e12
    data, _ = parse_yaml("a: 1e3\nb: 2E-2\nc: 1_000\nd: 1.0e+3\ne: x1e3\n", "x.yaml")
    assert data == {"a": 1000.0, "b": 0.02, "c": 1000, "d": 1000.0, "e": "x1e3"}


def test_errors_name_file_line_and_field() -> None:
    text = (
        "horizon_hours: 730\nworkloads:\n  - name: a\n    kind: inference\n"
        "    demand_tokens_per_s: 5\n    throughput: {h100: 3}\n    slo: {tpot_ms: -4}\n"
    )
    err = error(text)
    assert isinstance(err, SchemaError)
    assert err.location.file == "p.yaml" and err.location.line == 7
    assert err.location.field == "workloads[0].slo.tpot_ms"


def test_unknown_chip_suggests() -> None:
    err = error(OK.replace("h100", "h10"))
    assert isinstance(err, UnknownNameError) and "did you mean" in str(err)
    assert err.location.field == "workloads[0].throughput.h10"


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("nonsense: 1\n" + OK, "nonsense", "unknown field"),
        ("policy: {max_share: 0}\n" + OK, "policy.max_share", "greater than 0"),
        ("policy: {n_minus_1: 2}\n" + OK, "policy.n_minus_1", "less than or equal to 1"),
        ("policy: {share_by: cloud}\n" + OK, "policy.share_by", "provider"),
        ("budget_usd: .nan\n" + OK, "budget_usd", "finite"),
        ("start_date: tomorrow\n" + OK, "start_date", "date"),
        ("workloads: []\n", "workloads", "at least 1"),
        (
            OK.replace("name: a", "name: 'bad name!'"),
            "workloads[0].name",
            "pattern",
        ),
        (
            OK.replace("kind: inference", "kind: inference, model: x"),
            "workloads[0]",
            "exactly one of 'model'",
        ),
        (
            "workloads:\n  - {name: a, kind: inference, model: x, demand_tokens_per_s: 5}\n",
            "workloads[0]",
            "needs 'traffic' or 'trace'",
        ),
        (
            "workloads:\n  - {name: a, kind: training, throughput: {h100: 3}}\n",
            "workloads[0]",
            "exactly one of 'tokens'",
        ),
        (
            "workloads:\n  - {name: a, kind: inference, demand_tokens_per_s: 5, throughput: {}}\n",
            "workloads[0]",
            "at least one chip",
        ),
        (
            OK.replace("h100: 3", "h100: 0"),
            "workloads[0].throughput.h100",
            "greater than 0",
        ),
        (
            OK.replace("}}", "}, frameworks: [cobol]}"),
            "workloads[0].frameworks[0]",
            "pytorch",
        ),
        ("workloads: {a: 1}\n", "workloads", "list"),
        ("workloads:\n  - 7\n", "workloads[0]", ""),
    ],
)
def test_validation_errors(text: str, field: str, message: str) -> None:
    err = error(text)
    assert err.location.field == field, str(err)
    assert message in str(err)


def test_offers_reuse_the_private_offer_parser_with_lines() -> None:
    text = (
        "catalog: none\noffers:\n  - id: x\n    provider: azure\n    chip: maia-200\n"
        "    region: eastus\n    usd_per_chip_hour: 2\n    flavour: spicy\n" + OK
    )
    err = error(text)
    assert err.location.field == "offers[0].flavour" and err.location.line == 8


def test_hostile_yaml() -> None:
    assert "invalid YAML" in str(error("a: !!python/name:os.system\n"))
    deep = "a: " + "[" * 200 + "]" * 200 + "\n"
    assert "invalid YAML" in str(error(deep))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in zip("bcdefgh", "abcdefg", strict=True):
        bomb += f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    assert "expands to more than" in str(error(bomb))
    # control characters are refused by YAML's reader before parsing starts
    assert "invalid YAML" in str(error("a: b\x1f\n"))


def test_huge_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (5 * 1024 * 1024))
    with pytest.raises(InputError, match="too large"):
        load_portfolio(big)


def test_json_schema_is_generated_and_validates_examples() -> None:
    schema = portfolio_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in EXAMPLES:
        data, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"workloads": [{"name": "a", "kind": "inference", "bogus": 1}]}, schema)


def test_committed_schema_is_up_to_date() -> None:
    committed = json.loads((ROOT / "docs" / "portfolio.schema.json").read_text(encoding="utf-8"))
    assert committed == portfolio_json_schema(), "run: python scripts/export_schema.py"
