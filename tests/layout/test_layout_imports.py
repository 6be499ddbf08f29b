"""The house reads client → ingest → warehouse → transforms → reporting: no import runs back.

Each package of ``pipeline/`` may import only the packages listed for it (and itself, and the
top-level ``pipeline.settings`` / ``pipeline.resources`` modules where listed). The sandbox is
the API's stand-in and stands apart: it imports nothing of the product, and the product only
starts it (``pipeline.defs``, the CLI).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"

ALLOWED: dict[str, set[str]] = {
    "sinch": set(),
    "sandbox": set(),
    "ingest": {"sinch", "warehouse", "settings"},
    "warehouse": {"sinch", "transforms", "resources"},
    "transforms": set(),
    "reporting": {"warehouse", "transforms", "settings", "resources"},
    # Alert rules, store and delivery: Dagster-free (pipeline.defs.alerts wires them); redact
    # comes from the client package.
    "alerts": {"sinch", "warehouse", "transforms", "reporting", "settings"},
}


def imported_packages(path: Path) -> set[str]:
    """The ``pipeline.<name>`` packages/modules a file imports (any depth, lazy ones too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "pipeline" and len(parts) > 1:
                    names.add(parts[1])
            continue
        else:
            continue
        if parts[0] == "pipeline" and len(parts) > 1:
            names.add(parts[1])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_runs_back(package: str) -> None:
    wrong = {
        f"{path.relative_to(PIPELINE.parent)} imports pipeline.{name}"
        for path in (PIPELINE / package).rglob("*.py")
        for name in imported_packages(path) - ALLOWED[package] - {package}
    }
    assert not wrong, sorted(wrong)


def test_no_file_over_450_lines() -> None:
    long = {
        str(path.relative_to(PIPELINE.parent)): n
        for path in PIPELINE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert not long, long
