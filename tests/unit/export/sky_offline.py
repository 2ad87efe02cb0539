"""Load exported SkyPilot tasks with SkyPilot itself and ask its optimizer for a resource, offline.

``feasibility(tasks, catalogs)`` runs this file in a child process whose ``HOME`` is a scratch
directory holding ``.sky/catalogs/v8/<cloud>/vms.csv`` copied from ``catalogs`` (test data, the
catalog the plan was made from), so SkyPilot 0.14.1 reads those files and never the network
(a catalog file without a ``.meta`` checksum counts as user-modified and is never refreshed).
In the child each task goes through ``sky.Task.from_yaml`` and ``Optimizer.optimize``; the only
thing replaced is SkyPilot's discovery of enabled clouds (it needs credentials): the clouds
with a catalog here are taken as enabled. A child process keeps SkyPilot's module-level caches
and its writes under ``~/.sky`` away from the test process.

Azure rows that write ``Generation`` unquoted as ``V1,V2`` (a quirk of the wide file, see its
SOURCE.md) make SkyPilot's own pandas reader fail; they are written back quoted, nothing else
changes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def _azure_quoted(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    at = header.index("Generation")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows[1:]:
        if len(row) == len(header) + 1:
            row = [*row[:at], ",".join(row[at : at + 2]), *row[at + 2 :]]
        writer.writerow(row)
    return out.getvalue()


def write_catalogs(home: Path, catalogs: Mapping[str, Path], common: Path) -> None:
    """``catalogs``: cloud -> a v8 ``vms.csv`` (or extract); ``common``: accelerators.csv."""
    root = home / ".sky" / "catalogs" / "v8"
    for cloud, source in catalogs.items():
        target = root / cloud / "vms.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        target.write_text(_azure_quoted(text) if cloud == "azure" else text, encoding="utf-8")
    (root / "common").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(common, root / "common" / "accelerators.csv")


def feasibility(
    tasks: Mapping[str, str], catalogs: Mapping[str, Path], common: Path, timeout: float = 600
) -> dict[str, dict[str, Any]]:
    """Per task name: ``{"ok": bool, "error": str, "best": str}`` from SkyPilot itself."""
    with tempfile.TemporaryDirectory(prefix="chipfolio-sky-") as tmp:
        home = Path(tmp) / "home"
        write_catalogs(home, catalogs, common)
        folder = Path(tmp) / "tasks"
        folder.mkdir()
        for name, text in tasks.items():
            (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        env = {**os.environ, "HOME": str(home), "SKYPILOT_DISABLE_USAGE_COLLECTION": "1"}
        run = subprocess.run(
            [sys.executable, str(Path(__file__)), str(folder), ",".join(sorted(catalogs))],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        marker = "CHIPFOLIO-RESULT "
        lines = [line for line in run.stdout.splitlines() if line.startswith(marker)]
        if run.returncode != 0 or not lines:
            raise RuntimeError(f"SkyPilot check failed ({run.returncode}): {run.stderr[-2000:]}")
        result: dict[str, dict[str, Any]] = json.loads(lines[-1][len(marker) :])
        return result


def _child(folder: Path, clouds: Sequence[str]) -> dict[str, dict[str, Any]]:
    import sky
    from sky import check as sky_check
    from sky import optimizer
    from sky.utils import registry

    enabled = [registry.CLOUD_REGISTRY.from_str(c) for c in clouds]

    def _enabled(*_args: Any, **_kwargs: Any) -> list[Any]:
        return enabled

    sky_check.get_cached_enabled_clouds_or_refresh = _enabled  # type: ignore[assignment]
    optimizer.sky_check.get_cached_enabled_clouds_or_refresh = _enabled  # type: ignore[attr-defined]
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            task = sky.Task.from_yaml(str(path))
            dag = sky.Dag()
            dag.add(task)
            optimizer.Optimizer.optimize(dag, quiet=True)
            out[path.stem] = {"ok": True, "error": "", "best": str(task.best_resources)}
        except Exception as exc:  # every SkyPilot refusal is a result here
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:600]
            out[path.stem] = {"ok": False, "error": message, "best": ""}
    return out


if __name__ == "__main__":
    results = _child(Path(sys.argv[1]), [c for c in sys.argv[2].split(",") if c])
    print("CHIPFOLIO-RESULT " + json.dumps(results))
