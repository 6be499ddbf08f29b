"""The rendered report in a real browser: every chart draws, no console errors, nothing fetched.

Renders the report of the demo warehouse (the real ingestion job against the sandbox, see
``tests/conftest.py``) with export details added (``export_db``, see
``tests/reporting/conftest.py``, so the "What the export adds" charts draw too) with
``pipeline report``, opens the HTML from disk in headless Debian Chromium over the DevTools
protocol (:mod:`tests.reporting.browser`: why not Playwright or Selenium is said there) and
asks the page what it drew. ``.ci/run`` installs ``chromium``; elsewhere the test is skipped
with the reason when it is missing (and fails under ``CI``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.reporting.browser import CHARTS_JS, find_chromium, open_page
from tests.reporting.test_reporting_notebook import CHART_TITLES, EXPORT_CHART_TITLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        message = "chromium is not installed: `apt-get install chromium` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def test_every_chart_renders_in_chromium_without_console_errors(
    export_db: Path, tmp_path: Path, chromium: str
) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--db", str(export_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    figures = html.count("Plotly.newPlot(")
    assert figures == len(CHART_TITLES) + len(EXPORT_CHART_TITLES)

    with open_page(width=1400, binary=chromium) as page:
        page.send("Network.enable")
        page.load(out.as_uri())
        charts = page.evaluate(CHARTS_JS)
        title = page.evaluate("document.title")
        errors = page.console_errors()
        requested = [
            e["params"]["request"]["url"]
            for e in page.events
            if e["method"] == "Network.requestWillBeSent"
        ]

    assert errors == []
    assert len(charts) == figures
    assert [c["title"] for c in charts] == CHART_TITLES + EXPORT_CHART_TITLES
    for chart in charts:
        assert chart["svgs"] >= 1, chart  # .main-svg: plotly drew the chart
        assert chart["traces"] > 0, chart
        assert chart["points"] > 0, chart  # it has data
        assert chart["drawn"] > 0, chart  # and painted traces
    assert title.startswith("Trunk report — ")
    # self-contained: the page fetched nothing but itself (plotly.js is inlined)
    assert requested and all(url.startswith(("file:", "data:")) for url in requested), requested
