"""The report notebook: committed without outputs, executed headless into self-contained HTML."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.reporting.notebook import NOTEBOOK

#: The report's charts, in order (the demo warehouse has outbound and priced calls, so all).
CHART_TITLES = [
    "Calls per day by result (Europe/Copenhagen; hatched = partial day)",
    "Answer rate and network effectiveness per day (Europe/Copenhagen)",
    "Call duration and time to answer per day (Europe/Copenhagen)",
    "Last 48 hours, hourly (Europe/Copenhagen; hollow ASR = fewer than 20 attempts)",
    "Concurrency and calls per second per trunk vs recommended channels and limit "
    "(Europe/Copenhagen)",
    "Traffic by weekday and hour: mean calls per hour (Europe/Copenhagen)",
    "Top destination countries: outbound calls",
    "Cost per day by currency and direction (Europe/Copenhagen; hatched = partial day)",
]
#: The charts of "What the export adds", drawn when calls of the period have export details
#: (``export_db``); without them the section says the KPIs are unknown and draws none.
EXPORT_CHART_TITLES = [
    "True NER from the export vs NER proxy per day (Europe/Copenhagen)",
    "Why calls fail: top SIP responses and Q.850 causes (export)",
    "Call quality per day: MOS from the export (Europe/Copenhagen)",
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
def report_html(no_export_db: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of the demo's calls without export details (the charts of the call list)."""
    out = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    result = CliRunner().invoke(app, ["report", "--db", str(no_export_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    return out.read_text(encoding="utf-8")


def test_report_embeds_plotly_charts_with_plotly_js_inlined_once(report_html: str) -> None:
    assert report_html.count("Plotly.newPlot(") == len(CHART_TITLES)
    assert len(re.findall(r"\* plotly\.js v\d", report_html)) == 1  # the bundle, once
    figure_json = report_html.replace("\\u002f", "/")  # plotly's JSON escapes "/"
    for title in CHART_TITLES:
        assert f'"text":"{title}"' in figure_json, title


def test_report_title_names_the_report_and_period(report_html: str) -> None:
    (title,) = re.findall(r"<title>(.*?)</title>", report_html)[:1]
    # the demo: one sandbox project; period = 7 × 24 h up to the newest call (19 Nov 00:00 UTC)
    assert title.startswith("Trunk report — ")
    assert title.endswith(" — 12 Nov to 19 Nov 2026")
    assert "Notebook" not in title


def test_report_is_self_contained(report_html: str) -> None:
    assert not re.search(r"<script[^>]+src=", report_html)
    assert not re.search(r"<link[^>]+href=[\"']https?:", report_html)
    assert "import mermaid" not in report_html
    assert "Traceback" not in report_html
    text = re.sub(r"<(style|script)\b.*?</\1>", "", report_html, flags=re.S)
    assert "Error" not in text
    assert "e+0" not in text  # no scientific notation in the text (1.119e+04)


def test_report_has_the_sections_and_the_sizing_explanation(report_html: str) -> None:
    text = re.sub(r"<(style|script)\b.*?</\1>", "", report_html, flags=re.S)
    for kpi in ("Calls", "ASR", "NER", "ACD", "Minutes", "Cost USD"):
        assert f'data-kpi="{kpi}"' in text, kpi
    assert "no previous data" in text  # the demo has 3 days: nothing before the period
    assert "Which to trust for sizing" in text
    assert "ringing, unanswered and failed attempts" in text
    assert "Sizing per trunk over the period" in text
    assert "Top destination countries (outbound, period)" in text
    assert "partial day" in text


def test_report_states_time_zone_and_erlang_table(report_html: str) -> None:
    assert "Report time zone Europe/Copenhagen" in report_html
    assert "Erlang B channels" in report_html
    assert "import polars" not in report_html  # code cells are hidden


def test_report_time_zone_override(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "utc.html"
    result = CliRunner().invoke(
        app, ["report", "--db", str(demo_db), "--out", str(out), "--report-tz", "UTC"]
    )
    assert result.exit_code == 0, result.output
    assert '"text":"Traffic by weekday and hour: mean calls per hour (UTC)"' in out.read_text()


def test_report_missing_db_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--db", str(tmp_path / "nope.duckdb"), "--out", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "does not exist" in result.output


def test_a_report_that_cannot_be_written_is_a_report_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the command's check of --out cannot foresee ends in one line, not a traceback."""
    from pipeline.reporting import notebook

    monkeypatch.setattr(notebook, "execute_report", lambda *_a, **_k: nbformat.v4.new_notebook())
    monkeypatch.setattr(notebook, "to_html", lambda _nb: "<html></html>")
    with pytest.raises(notebook.ReportError, match="cannot write the report to"):
        notebook.render_report(tmp_path / "w.duckdb", tmp_path)  # a directory: IsADirectoryError


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


def test_report_reads_report_tz_from_the_environment(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REPORT_TZ was ignored by `pipeline report` (a bad zone even exited 0)."""
    monkeypatch.setenv("REPORT_TZ", "Mars/Base")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "--db", str(demo_db), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Mars/Base" in result.output and not out.exists()


def test_without_export_details_the_section_says_unknown(report_html: str) -> None:
    assert "What the export adds" in report_html
    assert "are <strong>unknown</strong> here" in report_html
    assert "Billing audit per trunk, destination country and currency" in report_html


def test_with_export_details_the_section_draws_its_charts(export_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--db", str(export_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    titles = CHART_TITLES + EXPORT_CHART_TITLES
    assert html.count("Plotly.newPlot(") == len(titles)
    figure_json = html.replace("\\u002f", "/")
    for title in titles:
        assert f'"text":"{title}"' in figure_json, title
    assert "calls refused over the CPS limit (SIP 603)" in html
    assert "Per trunk: true NER and calls refused over the CPS limit (period)" in html
