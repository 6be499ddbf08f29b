"""End to end: a degraded sandbox hour → the real job → WARN checks → the sensor → receivers.

The sandbox serves the week-earlier hour normally and degrades one trunk in the evaluated hour;
``run_ingest_job`` (the CLI's job) ingests both; the ``alert_rules`` checks store the alerts;
the ``alert_delivery`` sensor, evaluated with ``build_sensor_context`` on a real Dagster
instance, posts them to a webhook receiver and mails them to an SMTP server, both on loopback.
Each alert must arrive exactly once per channel, through repeated ticks, a re-run of the
ingestion and a webhook that answers 500 on the first tick.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipeline.alerts.config import RULES
from pipeline.alerts.delivery import ATTEMPTS
from pipeline.alerts.store import read_alerts
from pipeline.definitions import build_definitions
from pipeline.defs.partitions import partition_key
from pipeline.defs.resources import WarehouseResource
from pipeline.defs.schedules import RANGE_END_TAG, RANGE_START_TAG
from pipeline.jobs import run_ingest_job
from pipeline.sandbox.testing import sandbox_server
from pipeline.sandbox.traffic import TRUNKS
from pipeline.warehouse.backend import open_warehouse
from pipeline.warehouse.lake import LakeWarehouse
from tests.alerts.receivers import smtp_receiver, webhook_receiver
from tests.conftest import api_resource, quiet_console

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOUR = datetime(2026, 11, 16, 9, tzinfo=UTC)  # Monday 10:00 in Copenhagen: a busy hour
CPH = TRUNKS[0].id
DEGRADED = {"seed": 7, "degraded_hour": HOUR, "degraded_trunk_id": CPH}


#: Settings of this machine that would change what the tests evaluate or where they write.
LOCAL_SETTINGS = ("CALLS_ALERTS_FILE", "CALLS_LAKE_URI", "CALLS_PROJECTS_FILE", "ALERT_WEBHOOK_URL",
                  "ALERT_SMTP_HOST", "ALERT_SMTP_USER", "ALERT_SMTP_SECURITY")  # fmt: skip


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LOCAL_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def ingest(db: Path, start: datetime) -> str:
    console = quiet_console()
    with sandbox_server(**DEGRADED) as sb:
        ok = run_ingest_job(
            start, start + timedelta(hours=1), db_path=db, report_tz="UTC", console=console,
            sinch=api_resource(sb),
        )  # fmt: skip
    output = console.file.getvalue()
    assert ok, output
    return output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A warehouse with the hour a week before and the degraded hour, and the job's output."""
    db = tmp_path_factory.mktemp("alerts") / "calls.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for name in LOCAL_SETTINGS:
            mp.delenv(name, raising=False)
        ingest(db, HOUR - timedelta(days=7))
        output = ingest(db, HOUR)
    return db, output


@pytest.fixture
def db(built: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the built warehouse (no delivery recorded yet)."""
    return Path(shutil.copy(built[0], tmp_path / "calls.duckdb"))


def channels_env(mp: pytest.MonkeyPatch, webhook_url: str, smtp_port: int) -> None:
    mp.delenv("CALLS_LAKE_URI", raising=False)
    mp.setenv("ALERT_WEBHOOK_URL", webhook_url)
    mp.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    mp.setenv("ALERT_SMTP_PORT", str(smtp_port))
    mp.setenv("ALERT_EMAIL_FROM", "alerts@example.test")
    mp.setenv("ALERT_EMAIL_TO", "noc@example.test, owner@example.test")


def tick(db: Path, instance: dg.DagsterInstance, lake_uri: str | None = None) -> str:
    """One evaluation of the real ``alert_delivery`` sensor; returns its skip message."""
    warehouse = WarehouseResource(path=str(db), lake_uri=lake_uri)
    defs = build_definitions(warehouse=warehouse)
    sensor = defs.resolve_sensor_def("alert_delivery")
    context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
    result = sensor.evaluate_tick(context)
    assert not result.run_requests
    return result.skip_message or ""


def stored(db: Path):
    return read_alerts(open_warehouse(db))


def test_the_degraded_hour_raises_warn_checks_and_alerts(built: tuple[Path, str]) -> None:
    db, output = built
    lines = output.splitlines()
    # The degraded calls FAIL with network causes in the export too: the true NER falls.
    degraded = ("asr_drop", "ner_drop", "true_ner_drop", "failure_spike")
    for rule in degraded:  # the CLI's progress names them
        assert any(rule in line and "fail" in line for line in lines), output
    alerts = stored(db)
    mine = alerts.filter(alerts["trunk_id"] == CPH)
    assert set(degraded) <= set(mine["rule"])
    assert set(mine["bucket"]) == {HOUR}
    assert (alerts["severity"] == "WARN").all()
    assert (alerts["bucket"] == HOUR).all()  # the week-earlier hour had no baseline


def test_the_checks_fail_with_severity_warn_and_the_run_succeeds(db: Path) -> None:
    """The same job, executed on an instance the test reads: WARN evaluations, run green."""
    with sandbox_server(**DEGRADED) as sb, dg.instance_for_test() as instance:
        defs = build_definitions(sinch=api_resource(sb), warehouse=WarehouseResource(path=str(db)))
        key = partition_key(HOUR)
        result = defs.resolve_job_def("ingest_calls").execute_in_process(
            instance=instance, tags={RANGE_START_TAG: key, RANGE_END_TAG: key}
        )
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for rule in RULES:
        assert evaluations[rule].severity == dg.AssetCheckSeverity.WARN
    failed = {name for name, e in evaluations.items() if not e.passed}
    assert {"asr_drop", "ner_drop", "failure_spike"} <= failed
    # the degraded trunk's two directions (each has >= 30 attempts in its busy hour)
    assert evaluations["asr_drop"].metadata["failures"].value == 2
    detail = evaluations["asr_drop"].metadata["detail"].value
    assert "ASR 5% (4/76)" in detail and "Copenhagen HQ" in detail


def test_each_alert_arrives_once_per_channel_through_ticks_and_reruns(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sorted(
        f"[WARN] {r['rule']}: {r['message']}" for r in stored(db).iter_rows(named=True)
    )
    assert len(expected) >= 3
    with (
        webhook_receiver() as hook,
        smtp_receiver() as (port, inbox),
        dg.instance_for_test() as instance,
    ):
        channels_env(monkeypatch, hook.url, port)
        first = tick(db, instance)
        assert first == f"email: {len(expected)} sent; webhook: {len(expected)} sent"
        assert sorted(hook.texts()) == expected
        assert sorted(m.get_payload(decode=True).decode().strip() for m in inbox) == expected
        assert all(m["To"] == "noc@example.test, owner@example.test" for m in inbox)
        assert tick(db, instance) == "email: 0 sent; webhook: 0 sent"
        ingest(db, HOUR)  # re-evaluates the hour: same alerts, same keys
        assert tick(db, instance) == "email: 0 sent; webhook: 0 sent"
        assert Counter(hook.texts()) == Counter(expected)
        assert len(inbox) == len(expected)
    assert set(stored(db)["delivered"]) == {"email, webhook"}


def test_a_webhook_answering_500_gets_each_alert_on_the_next_tick_once(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = stored(db).height
    with webhook_receiver(fail_first=ATTEMPTS) as hook, smtp_receiver() as (port, inbox), \
            dg.instance_for_test() as instance:  # fmt: skip
        channels_env(monkeypatch, hook.url, port)
        first = tick(db, instance)
        assert hook.failed == ATTEMPTS and hook.texts() == []
        assert "webhook failed (webhook: HTTP 500" in first and f"email: {count} sent" in first
        assert "s3cr3t" not in first and "T0ALERTS" not in first  # the URL's token stays out
        assert tick(db, instance) == f"email: 0 sent; webhook: {count} sent"
        assert tick(db, instance) == "email: 0 sent; webhook: 0 sent"
        assert len(hook.texts()) == len(set(hook.texts())) == count
        assert len(inbox) == count


def test_over_the_lake_alerts_are_stored_and_delivered_once_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake_uri = str(tmp_path / "lake")
    monkeypatch.setenv("CALLS_LAKE_URI", lake_uri)
    unused = tmp_path / "unused.duckdb"
    ingest(unused, HOUR - timedelta(days=7))
    ingest(unused, HOUR)
    alerts = read_alerts(LakeWarehouse(lake_uri))
    assert {"asr_drop", "ner_drop", "failure_spike"} <= set(
        alerts.filter(alerts["trunk_id"] == CPH)["rule"]
    )
    with webhook_receiver() as hook, smtp_receiver() as (port, inbox), \
            dg.instance_for_test() as instance:  # fmt: skip
        channels_env(monkeypatch, hook.url, port)
        monkeypatch.setenv("CALLS_LAKE_URI", lake_uri)
        count = alerts.height
        assert tick(unused, instance, lake_uri) == f"email: {count} sent; webhook: {count} sent"
        assert tick(unused, instance, lake_uri) == "email: 0 sent; webhook: 0 sent"
        assert len(set(hook.texts())) == len(hook.texts()) == len(inbox) == count
    assert set(read_alerts(LakeWarehouse(lake_uri))["delivered"]) == {"email, webhook"}
    assert not unused.exists()
