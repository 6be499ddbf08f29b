"""The alerts store on both backends, and ``pipeline alerts`` reading it.

Re-evaluating a scope is idempotent (first ``raised_at`` kept, alerts that no longer fire go,
other hours and projects untouched); deliveries are recorded once per alert and channel.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from pipeline.alerts.frames import ALERT_SCHEMA, Scope
from pipeline.alerts.store import pending, read_alerts, record_delivery, save_alerts
from pipeline.cli import app
from pipeline.warehouse.backend import DuckDBWarehouse, Warehouse
from pipeline.warehouse.lake import LakeWarehouse

H = datetime(2026, 11, 16, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 16, 10, 5, tzinfo=UTC)


def alert(rule: str, trunk: str, bucket: datetime, observed: float, project: str = "p") -> dict:
    return {
        "rule": rule, "project_id": project, "trunk_id": trunk, "direction": "INBOUND",
        "bucket": bucket, "observed": observed, "baseline": 0.8, "threshold": 0.6,
        "severity": "WARN", "message": f"{rule} {trunk} {observed}",
    }  # fmt: skip


def frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ALERT_SCHEMA)


@pytest.fixture(params=["duckdb", "lake"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "lake":
        return LakeWarehouse(str(tmp_path / "lake"))
    return DuckDBWarehouse(tmp_path / "calls.duckdb")


def test_re_evaluation_replaces_the_scope_and_keeps_raised_at(warehouse: Warehouse) -> None:
    scope = Scope(H, H + HOUR, ("p",))
    other_hour = Scope(H - HOUR, H, ("p",))
    save_alerts(warehouse, frame(alert("asr_drop", "t0", H - HOUR, 0.1)), other_hour, T0)
    save_alerts(
        warehouse, frame(alert("asr_drop", "t9", H, 0.1, "q")), Scope(H, H + HOUR, ("q",)), T0
    )
    first = frame(alert("asr_drop", "t1", H, 0.2), alert("ner_drop", "t1", H, 0.3))
    save_alerts(warehouse, first, scope, T0)
    later = T0 + timedelta(hours=1)
    # Re-evaluated: asr_drop still fires (new value), ner_drop no longer, a new one appears.
    second = frame(alert("asr_drop", "t1", H, 0.25), alert("failure_spike", "t1", H, 0.9))
    save_alerts(warehouse, second, scope, later)
    save_alerts(warehouse, second, scope, later + HOUR)  # again: nothing changes
    rows = read_alerts(warehouse).select("rule", "project_id", "trunk_id", "bucket", "observed",
                                         "raised_at").rows()  # fmt: skip
    assert rows == [
        ("asr_drop", "p", "t0", H - HOUR, 0.1, T0),
        ("asr_drop", "p", "t1", H, 0.25, T0),
        ("asr_drop", "q", "t9", H, 0.1, T0),
        ("failure_spike", "p", "t1", H, 0.9, later),
    ]
    assert read_alerts(warehouse, since=H).height == 3


def test_a_delivery_is_recorded_once_per_alert_and_channel(warehouse: Warehouse) -> None:
    scope = Scope(H, H + HOUR, ("p",))
    save_alerts(warehouse, frame(alert("asr_drop", "t1", H, 0.2), alert("asr_drop", "t2", H, 0.2)),
                scope, T0)  # fmt: skip
    assert pending(warehouse, "webhook").height == 2
    first = pending(warehouse, "webhook").row(0, named=True)
    record_delivery(warehouse, first, "webhook", T0)
    record_delivery(warehouse, first, "webhook", T0 + HOUR)  # a repeat changes nothing
    assert pending(warehouse, "webhook")["trunk_id"].to_list() == ["t2"]
    assert pending(warehouse, "email").height == 2
    delivered = dict(read_alerts(warehouse).select("trunk_id", "delivered").rows())
    assert delivered == {"t1": "webhook", "t2": ""}


def test_pipeline_alerts_lists_them(tmp_path: Path) -> None:
    db = tmp_path / "calls.duckdb"
    warehouse = DuckDBWarehouse(db)
    save_alerts(warehouse, frame(alert("asr_drop", "t1", H - HOUR, 0.2)), Scope(H - HOUR, H), T0)
    save_alerts(warehouse, frame(alert("cps_over_limit", "t2", H, 3.0)), Scope(H, H + HOUR), T0)
    record_delivery(warehouse, pending(warehouse, "email").row(0, named=True), "email", T0)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["alerts", "--db", str(db), *args])

    listed = json.loads(run("--format", "json").stdout)
    assert [(a["rule"], a["trunk_id"], a["delivered"]) for a in listed] == [
        ("asr_drop", "t1", "email"),
        ("cps_over_limit", "t2", ""),
    ]
    csv = run("--since", "2026-11-16T09", "--format", "csv").stdout.splitlines()
    assert len(csv) == 2 and csv[0].startswith("rule,project_id,trunk_id,direction,bucket")
    assert "cps_over_limit" in csv[1]
    table = run("--since", "2026-11-16T09")
    assert table.exit_code == 0 and "cps_over_limit" in table.stdout
    assert "asr_drop" not in table.stdout
    bad = run("--since", "yesterday")
    assert bad.exit_code == 2 and "--since must be an ISO time" in bad.stderr


@pytest.mark.parametrize("columns", [80, 120])
def test_on_a_narrow_terminal_each_alert_is_a_block_that_fits(tmp_path: Path, columns: int) -> None:
    """The table was printed 200 columns wide whatever the terminal: wrapped by the terminal."""
    db = tmp_path / "calls.duckdb"
    warehouse = DuckDBWarehouse(db)
    trunk = "trunk-" + "7" * 30
    save_alerts(warehouse, frame(alert("asr_drop", trunk, H, 0.2)), Scope(H, H + HOUR), T0)
    message = read_alerts(warehouse)["message"][0]
    shown = CliRunner().invoke(app, ["alerts", "--db", str(db)], env={"COLUMNS": str(columns)})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert lines[0] == f"{H:%Y-%m-%d %H:%M}Z  asr_drop  trunk {trunk}  INBOUND"
    assert lines[1].split() == ["observed", "0.2", "baseline", "0.8", "threshold", "0.6",
                                "delivered", "-"]  # fmt: skip
    assert " ".join(" ".join(lines[2:]).split()) == message
    wide = CliRunner().invoke(app, ["alerts", "--db", str(db)], env={"COLUMNS": "200"})
    assert "┃ bucket" in wide.stdout and trunk in wide.stdout  # a table where it fits
