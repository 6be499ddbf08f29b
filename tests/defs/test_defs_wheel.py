"""The built wheel is self-contained: installed in a fresh venv, it runs away from the checkout.

Builds the wheel (``uv build --wheel``), installs the lock's runtime packages into a new venv
from uv's cache (``uv sync --frozen --no-dev --no-install-project``, the packages ``.ci/run``'s
``uv sync`` already fetched) and the wheel itself without dependencies, checks that the
wheel's declared requirements are met (``uv pip check``), then runs the installed ``pipeline``
command in an empty temporary folder (no ``sql/``, ``notebooks/``, ``.env`` or ``../shared``
there): ``demo --days 1`` (its runs recorded in ``./.dagster``), ``sql --list``, one ready
query and ``report``. Everything is offline (``--offline``: the sandbox serves the calls on
loopback). About 40 s on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Settings of the developer's shell that would change what the commands do.
_SCRUBBED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DAGSTER_HOME", "UV_PROJECT_ENVIRONMENT")
_SCRUBBED_PREFIXES = ("SINCH_", "CALLS_", "REPORT_TZ", "SANDBOX_")

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900)]


def _uv() -> str:
    """The uv executable: ``$UV`` (set by ``uv run``), else the one on ``PATH``."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.skip("uv is not available (run the tests with `uv run pytest`)")
    return found


def _clean_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _SCRUBBED and not name.startswith(_SCRUBBED_PREFIXES)
    }
    return {**env, "UV_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    """Run a command; fail the test with its output unless it exits 0. Returns stdout."""
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the lock's runtime packages and the freshly built wheel."""
    uv, env = _uv(), _clean_env()
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    _run([uv, "build", "--wheel", "--offline", "--out-dir", dist, REPO], REPO, env)
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "pipeline/_resources/sql/schema/raw.sql",
        "pipeline/_resources/sql/views/all.sql",
        "pipeline/_resources/sql/queries/answer_rate_7d.sql",
        "pipeline/_resources/sql/checks/unique_call_ids.sql",
        "pipeline/_resources/notebooks/report.ipynb",
        "pipeline/_resources/dagster.yaml",
    ):
        assert needed in names, f"{needed} is not in {wheel.name}"
    venv = root / "venv"
    sync_env = {**env, "UV_PROJECT_ENVIRONMENT": str(venv)}
    sync = [uv, "sync", "--frozen", "--offline", "--no-dev", "--no-install-project"]
    _run([*sync, "--python", sys.executable], REPO, sync_env)
    python = venv / "bin" / "python"
    _run([uv, "pip", "install", "--offline", "--no-deps", "--python", python, wheel], root, env)
    _run([uv, "pip", "check", "--python", python], root, env)
    return venv


def test_installed_wheel_runs_the_demo_sql_and_report_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    env = _clean_env()
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert not (work.parent / "shared").exists()
    python, pipeline = installed / "bin" / "python", installed / "bin" / "pipeline"

    where = _run(
        [python, "-c", "import pipeline.resources as r; print(r.resource_root())"], work, env
    )
    (packaged,) = installed.glob("lib/python*/site-packages/pipeline/_resources")
    assert Path(where.strip()) == packaged  # the wheel's copy, not a checkout's

    out = _run([pipeline, "demo", "--days", "1"], work, env)
    assert " calls, ASR " in out
    assert "Busiest trunk:" in out
    assert "Daily tables use report time zone UTC." in out
    assert (work / "data" / "calls.duckdb").is_file()
    # the run is recorded in ./.dagster, set up from the wheel's dagster.yaml
    instance_yaml = (work / ".dagster" / "dagster.yaml").read_text(encoding="utf-8")
    assert instance_yaml == (packaged / "dagster.yaml").read_text(encoding="utf-8")

    listed = _run([pipeline, "sql", "--list"], work, env)
    assert "answer_rate_7d" in listed
    assert "trunks_near_limits" in listed
    csv = _run([pipeline, "sql", "answer_rate_7d", "--format", "csv"], work, env)
    header, *rows = csv.strip().splitlines()
    assert header.startswith("project_id,trunk_id,trunk_name,direction,attempts,answered")
    assert rows, "the ready query returned no rows after the demo"

    _run([pipeline, "report", "--out", "out/report.html"], work, env)
    html = (work / "out" / "report.html").read_text(encoding="utf-8")
    # 8 charts of the calls, 3 of "What the export adds" (the demo lands export details)
    assert html.count("Plotly.newPlot(") == 11  # plotly.js from the wheel's plotly
    assert "<title>Trunk report — " in html
