"""The layering rules of docs/architecture.md, checked on the source tree.

Lower layers never import higher ones, and the core imports no interface framework and reads no
environment variables.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "chipfolio"

# Order matters: a layer may import itself and anything to its left.
LAYERS = (
    "catalog",
    "workloads",
    "perfmodel",
    "planner",
    "procurement",
    "analysis",
    "simulation",
    "routing",
    "export",
    "app",
    "interfaces",
)
SHARED = ("domain", "errors", "textfile")
FRAMEWORKS = (
    "typer",
    "rich",
    "fastapi",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "click",
    "httpx",
    "aiohttp",
    "httptools",
    "uvloop",
)


def _layer_of(path: Path) -> str | None:
    rel = path.relative_to(SRC).parts
    if rel[0] in LAYERS:
        return rel[0]
    return None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _core_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if _layer_of(p) not in (None, "interfaces"))


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_core_never_imports_a_higher_layer(path: Path) -> None:
    layer = _layer_of(path)
    assert layer is not None
    allowed = set(LAYERS[: LAYERS.index(layer) + 1]) | set(SHARED)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "chipfolio" or len(parts) < 2:
            continue
        assert parts[1] in allowed, f"{path.relative_to(SRC)} (layer {layer}) imports {name}"


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_core_imports_no_interface_framework_and_reads_no_environment(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in FRAMEWORKS, f"{path.relative_to(SRC)} imports {name}"
    text = path.read_text(encoding="utf-8")
    assert "os.environ" not in text and "getenv(" not in text, path


def test_shared_modules_import_no_layer() -> None:
    for mod in SHARED:
        for name in _imports(SRC / f"{mod}.py"):
            parts = name.split(".")
            assert not (parts[0] == "chipfolio" and len(parts) > 1 and parts[1] in LAYERS), name


def test_every_module_says_its_job_in_a_docstring() -> None:
    missing = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
    ]
    assert not missing, f"modules without a docstring: {missing}"


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for layer in ("procurement", "analysis", "simulation")
        for p in (SRC / layer).rglob("*.py")
    ),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_analysis_and_simulation_use_only_the_planners_public_names(path: Path) -> None:
    """They go through the planner's one solve seam (chipfolio.planner's __all__), never
    through its modules: no private driver of the solver lives outside the planner."""
    import chipfolio.planner as planner

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("chipfolio.planner."):
                pytest.fail(f"{path.name} imports {node.module}; use chipfolio.planner")
            if node.module == "chipfolio.planner":
                missing = [a.name for a in node.names if a.name not in planner.__all__]
                assert not missing, f"{path.name} imports non-public {missing}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("chipfolio.planner."), alias.name
