"""The solver writes nothing to standard output: plans piped as JSON must stay parseable.

highspy 1.16 prints a copyright banner on the first ``Highs()`` of a process; the adapter
keeps it off fd 1. Runs in a fresh process, since the banner appears only once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_plan_json_on_stdout_is_only_json() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from chipfolio.interfaces.cli.app import main; "
            "sys.exit(main(sys.argv[1:]))",
            "plan",
            str(ROOT / "examples" / "minimal.yaml"),
            "--json",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-400:]
    plan = json.loads(out.stdout)
    assert plan["status"] == "optimal"
