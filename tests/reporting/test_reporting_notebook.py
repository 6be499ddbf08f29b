"""The report notebook: committed without outputs, executed headless into self-contained HTML."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.reporting.notebook import NOTEBOOK

CHART_TITLES = [
    "Answer rate over time per trunk and direction (daily, Europe/Copenhagen)",
    "Direction mix per trunk",
    "Traffic heatmap: calls by hour and weekday (Europe/Copenhagen)",
    "Peak concurrency vs recommended channels, and peak CPS vs limit (daily, Europe/Copenhagen)",
    "Cost by currency per day and direction (Europe/Copenhagen)",
]


def test_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], "strip outputs before committing (pipeline report writes HTML)"
        assert cell.execution_count is None
    assert any("parameters" in cell.metadata.get("tags", []) for cell in code)


@pytest.fixture(scope="module")
def report_html(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    result = CliRunner().invoke(app, ["report", "--db", str(demo_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    return out.read_text(encoding="utf-8")


def test_report_embeds_charts(report_html: str) -> None:
    images = re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', report_html)
    assert len(images) == len(CHART_TITLES)
    for title in CHART_TITLES:
        assert f'alt="{title}' in report_html, title


def test_report_is_self_contained(report_html: str) -> None:
    assert not re.search(r"<script[^>]+src=", report_html)
    assert not re.search(r"<link[^>]+href=[\"']https?:", report_html)
    assert "import mermaid" not in report_html
    assert "Traceback" not in report_html
    assert "Error" not in re.sub(r"<style.*?</style>", "", report_html, flags=re.S)


def test_report_states_time_zone_and_erlang_table(report_html: str) -> None:
    assert "report time zone Europe/Copenhagen" in report_html
    assert "Erlang B" in report_html
    assert "channels at 1 %" in report_html
    assert "import polars" not in report_html  # code cells are hidden


def test_report_time_zone_override(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "utc.html"
    result = CliRunner().invoke(
        app, ["report", "--db", str(demo_db), "--out", str(out), "--report-tz", "UTC"]
    )
    assert result.exit_code == 0, result.output
    assert 'alt="Traffic heatmap: calls by hour and weekday (UTC)"' in out.read_text()


def test_report_missing_db_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--db", str(tmp_path / "nope.duckdb"), "--out", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "does not exist" in result.output


def test_report_bad_time_zone_is_one_line(demo_db: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--db",
            str(demo_db),
            "--report-tz",
            "Mars/Base",
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
