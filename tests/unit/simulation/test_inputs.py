"""Simulation inputs: assumption files (good, wrong and hostile) and trace-driven demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.errors import InputError
from chipfolio.planner.build import build_problem
from chipfolio.simulation.inputs import load_assumptions, parse_assumptions, workload_demand
from chipfolio.simulation.strategies import ReplanMode
from chipfolio.workloads.spec import parse_portfolio_text
from chipfolio.workloads.traces import RateStatistic, read_trace

GOOD = """\
events:
  provider_outages_per_month: 0.5
  preemption_fraction_range: [0.1, 0.4]
demand:
  bursts_per_month: 2
reaction:
  lead_new_offer_hours: 48
step_hours: 3
replan: exact
"""


def test_a_good_file_overrides_only_what_it_names() -> None:
    a = parse_assumptions(GOOD, "a.yaml")
    assert a.events.provider_outages_per_month == 0.5
    assert a.events.preemption_fraction_range == (0.1, 0.4)
    assert a.events.region_outages_per_month == 0.10  # default kept
    assert a.demand.bursts_per_month == 2.0
    assert a.reaction.lead_new_offer_hours == 48.0
    assert a.step_hours == 3.0 and a.replan is ReplanMode.EXACT


@pytest.mark.parametrize(
    ("text", "field", "line", "message"),
    [
        ("events:\n  provider_outage_per_month: 1\n", "events.provider_outage_per_month", 2,
         "did you mean 'provider_outages_per_month'"),
        ("event: {}\n", "event", 1, "did you mean 'events'"),
        ("demand:\n  bursts_per_month: lots\n", "demand.bursts_per_month", 2, "expected a number"),
        ("demand:\n  bursts_per_month: true\n", "demand.bursts_per_month", 2, "expected a number"),
        ("demand:\n  bursts_per_month: -3\n", "demand", 1, "out of range"),
        ("events:\n  preemption_fraction_range: 0.5\n", "events.preemption_fraction_range", 2,
         "list of 2 numbers"),
        ("events: [1, 2]\n", "events", 1, "expected a mapping"),
        ("replan: fastest\n", "replan", 1, "did you mean 'fast'"),
        ("reaction:\n  lead_new_offer_hours: .inf\n", "reaction.lead_new_offer_hours", 2,
         "finite"),
    ],
)  # fmt: skip
def test_bad_files_name_file_line_and_field(text: str, field: str, line: int, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_assumptions(text, "a.yaml")
    error = info.value
    assert error.location.file == "a.yaml"
    assert error.location.field == field
    assert error.location.line == line
    assert message in str(error)


def test_hostile_yaml_is_refused() -> None:
    bomb = "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(InputError, match="invalid YAML"):
        parse_assumptions(bomb, "bomb.yaml")
    with pytest.raises(InputError):
        parse_assumptions("!!python/object/apply:os.system ['true']\n", "evil.yaml")
    with pytest.raises(InputError):
        parse_assumptions("- just\n- a list\n", "list.yaml")


def test_unreadable_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_assumptions(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="directory"):
        load_assumptions(tmp_path)
    binary = tmp_path / "junk.yaml"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        load_assumptions(binary)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    assert load_assumptions(good).step_hours == 3.0


TRACE = """\
TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:00:00.0000000,100,10
2023-11-16 18:00:30.0000000,100,10
2023-11-16 18:01:10.0000000,100,40
2023-11-16 18:02:10.0000000,100,20
2023-11-16 18:03:00.0000000,100,20
"""


def test_trace_workloads_fluctuate_around_the_trace_mean(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(TRACE, encoding="utf-8")
    portfolio = parse_portfolio_text(
        """
horizon_hours: 100
catalog: none
offers:
  - {id: a, provider: aws, chip: h100-sxm, region: r, usd_per_chip_hour: 2, chips_per_instance: 8}
workloads:
  - {name: chat, kind: inference, trace: {file: t.csv, scale: 1000}, throughput: {h100-sxm: 500}}
  - {name: flat, kind: inference, demand_tokens_per_s: 900, throughput: {h100-sxm: 500}}
""",
        "p.yaml",
        tmp_path,
    )
    problem = build_problem(portfolio)
    demand = workload_demand(portfolio, problem)
    summary = read_trace(tmp_path / "t.csv")
    assert demand.mean_tokens_per_s[0] == pytest.approx(
        summary.output_tokens_per_s(RateStatistic.MEAN) * 1000
    )
    assert demand.mean_tokens_per_s[0] < problem.workloads.demand_tokens_per_s[0]  # planned p90
    assert demand.profiles[0].name == "t"
    assert demand.mean_tokens_per_s[1] == 900.0
    assert demand.profiles[1].name == "conv"
