"""Plans made from the real wide catalog files (full GCP and Azure), for the exporter tests.

Two plans:

* ``solver_plan()``: the committed JSON of ``chipfolio plan`` on the frontier-lab example with
  its catalog section pointed at a snapshot of ``../shared/data/skypilot-catalog-wide`` (GCP and
  Azure offers, spot allowed). ``python tests/unit/export/wide_plans.py`` rebuilds it (about a
  minute: a snapshot refresh and a 30 s solve) and rewrites ``golden/wide-lab.plan.json``.
* ``catalog_plan(offers)``: one allocation of the cheapest offer (on-demand where there is one,
  else spot) of every provider's instance type, and of every TPU generation, that the wide import
  produced, so every part and instance family the importer maps goes through every exporter
  (the solver alone picks only a few).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chipfolio.domain import Offer, PricingModel

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
WIDE = ROOT.parent / "shared" / "data" / "skypilot-catalog-wide"
PLAN_FILE = HERE / "golden" / "wide-lab.plan.json"
EXAMPLE = ROOT / "examples" / "frontier-lab.yaml"
CATALOG_SECTION = """catalog:
  snapshot: {snapshot}
  providers: [gcp, azure]
  chips: [h100-sxm, h100-nvl, h200, b200, gb200, mi300x, tpu-v6e, tpu-v5p, a100-80gb, l4]
  pricing: [on_demand, reserved, spot]
"""


def solver_plan() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PLAN_FILE.read_text(encoding="utf-8"))
    return data


def catalog_plan(offers: Iterable[Offer]) -> dict[str, Any]:
    """A plan JSON with one two-instance allocation per provider's instance type (TPU: per
    generation), on the cheapest on-demand offer, else the cheapest spot one."""
    cheapest: dict[tuple[str, str], Offer] = {}
    for offer in offers:
        if offer.pricing not in (PricingModel.ON_DEMAND, PricingModel.SPOT):
            continue
        # TPU slices: one per chip (a slice is a slice); other offers: one per instance type
        family = offer.chip if offer.chip.startswith("tpu") else offer.instance_type
        key = (offer.provider, family)
        rank = (offer.pricing is not PricingModel.ON_DEMAND, offer.usd_per_instance_hour)
        best = cheapest.get(key)
        if best is None or rank < (
            best.pricing is not PricingModel.ON_DEMAND,
            best.usd_per_instance_hour,
        ):
            cheapest[key] = offer
    allocations = []
    for i, (_key, offer) in enumerate(sorted(cheapest.items())):
        allocations.append(
            {
                "workload": "serve" if i % 2 else "train",
                "offer": offer.id,
                "provider": offer.provider,
                "vendor": str(offer.vendor),
                "chip": offer.chip,
                "region": offer.region,
                "instances": 2,
                "chips": 2 * offer.chips_per_instance,
                "chips_per_instance": offer.chips_per_instance,
                "pricing": str(offer.pricing),
                "from_hour": 0,
                "to_hour": 24,
                "cost_usd": round(2 * offer.usd_per_instance_hour * 24, 2),
                "instance_type": offer.instance_type,
                "zone": offer.zone,
            }
        )
    workloads = [
        {"name": name, "kind": kind, "demand_tokens_per_s": 1.0}
        for name, kind in (("train", "training"), ("serve", "inference"))
    ]
    return {"status": "feasible", "allocations": allocations, "workloads": workloads}


def _cli(args: list[str], home: Path) -> str:
    env = {**os.environ, "CHIPFOLIO_HOME": str(home)}
    command = [sys.executable, "-m", "chipfolio.interfaces.cli.app", *args]
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return run.stdout


def rebuild() -> Path:
    """Refresh a snapshot from the wide files, plan the example on it, write the plan JSON."""
    with tempfile.TemporaryDirectory(prefix="chipfolio-wide-") as tmp:
        home = Path(tmp) / "home"
        summary = json.loads(_cli(["catalog", "refresh", "--from", str(WIDE), "--json"], home))
        text = EXAMPLE.read_text(encoding="utf-8")
        start = text.index("catalog:\n")
        end = text.index("\npolicy:")
        section = CATALOG_SECTION.format(snapshot=summary["id"])
        portfolio = ROOT / "examples" / ".wide-lab.yaml"  # beside the example's trace paths
        portfolio.write_text(text[:start] + section + text[end:], encoding="utf-8")
        try:
            _cli(["plan", str(portfolio), "--json", str(PLAN_FILE), "--time-limit", "120"], home)
        finally:
            portfolio.unlink()
    return PLAN_FILE


if __name__ == "__main__":
    print(rebuild())
