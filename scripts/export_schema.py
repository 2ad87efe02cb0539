"""Write docs/portfolio.schema.json, the JSON Schema of portfolio files, from the pydantic models.

    .venv/bin/python scripts/export_schema.py [--check]

``--check`` exits 1 when the committed schema differs from the models (for CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chipfolio.workloads.spec import portfolio_json_schema

TARGET = Path(__file__).resolve().parents[1] / "docs" / "portfolio.schema.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = json.dumps(portfolio_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date; run scripts/export_schema.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
