"""``raw/call_details`` in the ``ingest_calls`` job against the sandbox over loopback HTTP.

- a demo-like run lands details for (at least 99 % of) the calls, says so in the summary,
  and a re-run leaves the same rows;
- ``CALLS_EXPORT=off`` and an export answering 403 (a test transport, or the sandbox's own
  ``export_fault``) leave the calls and the analytics exactly as with the export, and
  ``raw.details_ledger`` says why the details are missing;
- an export failing with 5xx after the retries fails the run (non-zero), naming the windows,
  while the calls and analytics still land; so does an export that never ends, cut at a few
  times the pages of the hour's calls;
- the Copenhagen export replayed through the sandbox fills ``raw.call_details`` from the
  file's own columns.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from pipeline.defs.resources import SinchCallsResource
from pipeline.jobs import run_ingest_job
from pipeline.sandbox.server import SandboxHandle
from pipeline.sandbox.testing import sandbox_server
from pipeline.sinch.export import export_page_limit
from pipeline.warehouse.connection import connect
from tests.conftest import COPENHAGEN_CSV, api_resource, quiet_console, sandbox_env

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 9, 6, tzinfo=UTC)
END = START + timedelta(hours=6)
SEED = 7


class ExportAnswers(httpx.BaseTransport):
    """The real network, except that ``/calls/export`` answers ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.inner = httpx.HTTPTransport()
        self.export_requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/calls/export"):
            self.export_requests += 1
            return httpx.Response(self.status, json={"message": "export not enabled"})
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class ExportRefusingSinch(SinchCallsResource):
    """The production resource whose clients see the export answer ``export_status``."""

    export_status: int = 403

    def client_for(self, api_url, project_id, auth, **options):  # type: ignore[no-untyped-def]
        return super().client_for(
            api_url, project_id, auth, transport=ExportAnswers(self.export_status), **options
        )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with sandbox_server(seed=SEED) as sb:
        yield sb


def ingest(db: Path, sinch=None, start: datetime = START, end: datetime = END, instance=None):
    console = quiet_console()
    ok = run_ingest_job(
        start, end, db_path=db, report_tz="UTC", console=console, sinch=sinch, instance=instance
    )
    return ok, console.file.getvalue()


def details_metadata(instance: dg.DagsterInstance) -> dict[str, object]:
    """The metadata of ``raw/call_details``'s latest materialization."""
    event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "call_details"]))
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def query(db: Path, sql: str) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(sql).fetchall()


CALLS = "SELECT * EXCLUDE (fetched_at) FROM raw.calls ORDER BY call_id"
#: The answer-rate columns of the call list alone (the export adds ner, details_calls…).
ANSWER_RATE = (
    "SELECT * EXCLUDE (details_calls, ner_true_numerator, network_failures, invalid_number, "
    "cps_refused, unclassified, ner) FROM analytics.answer_rate_hourly ORDER BY ALL"
)
DETAILS = "SELECT * EXCLUDE (fetched_at) FROM raw.call_details ORDER BY call_id"
LEDGER = "SELECT window_start, status, note FROM raw.details_ledger ORDER BY fetched_at, 1"


@pytest.fixture(scope="module")
def with_export(sandbox, tmp_path_factory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("details") / "on.duckdb"
    ok, output = ingest(db, api_resource(sandbox))
    assert ok, output
    return db, output


def test_details_land_for_the_calls_and_the_summary_says_so(with_export):
    db, output = with_export
    [(calls, detailed)] = query(
        db,
        "SELECT count(*), count(d.call_id) FROM raw.calls c LEFT JOIN raw.call_details d "
        "USING (project_id, call_id)",
    )
    assert calls > 500 and detailed >= 0.99 * calls
    ledger = query(
        db, "SELECT status, count(*), sum(pages), sum(records) FROM raw.details_ledger GROUP BY 1"
    )
    assert ledger == [("landed", 6, 6, detailed)]
    [(sip_codes, measured)] = query(
        db, "SELECT count(sip_response_code), count(mos) FROM raw.call_details"
    )
    assert sip_codes == detailed and 0 < measured < detailed  # MOS 0.0 (no media) is NULL
    assert f"call details: {detailed:,} of {calls:,} calls (100.0 %) from /calls/export" in output


def test_a_runs_analytics_read_the_details_it_landed(with_export):
    """raw/call_details runs before the analytics of its run (step priority): every hour's
    true NER is built from details, with no follow-up refresh and no mark left."""
    db, output = with_export
    [(hours, without_ner, details_calls)] = query(
        db,
        "SELECT count(DISTINCT hour_start), count(*) FILTER (WHERE ner IS NULL), "
        "sum(details_calls) FROM analytics.answer_rate_hourly",
    )
    [(detailed,)] = query(db, "SELECT count(*) FROM raw.call_details")
    assert hours == 6 and without_ner == 0 and details_calls == detailed
    assert query(db, "SELECT count(*) FROM raw.stale_hours") == [(0,)]
    assert "marked stale" not in output


def test_details_landing_after_the_analytics_mark_their_hours_stale(sandbox, tmp_path, monkeypatch):
    """Details fetched in a run without analytics, after the hours' analytics were built
    (export off, then a raw-only run with it on), once left the true NER unknown until the
    hours were re-ingested; the commit now marks them for the stale_analytics sensor and the
    CLI's follow-up refresh (tests/integration/test_integration_stale_refresh.py)."""
    db = tmp_path / "late.duckdb"
    for name, value in {**sandbox_env(sandbox), "CALLS_EXPORT": "off"}.items():
        monkeypatch.setenv(name, value)
    ok, output = ingest(db)
    assert ok, output
    assert query(db, "SELECT count(ner) FROM analytics.answer_rate_hourly") == [(0,)]
    monkeypatch.setenv("CALLS_EXPORT", "on")
    console = quiet_console()
    assert run_ingest_job(
        START, END, db_path=db, report_tz="UTC", console=console, analytics=False
    ), console.file.getvalue()
    marked = query(db, "SELECT hour_start, occupied_until - hour_start FROM raw.stale_hours")
    built = query(db, "SELECT DISTINCT hour_start FROM analytics.answer_rate_hourly")
    assert sorted(h for h, _ in marked) == sorted(h for (h,) in built) and len(built) == 6
    assert {span for _, span in marked} == {timedelta(hours=1)}
    ok, output = ingest(db)  # a run with analytics refreshes the hours and drops their marks
    assert ok, output
    [(rows, without_ner)] = query(
        db, "SELECT count(*), count(*) FILTER (WHERE ner IS NULL) FROM analytics.answer_rate_hourly"
    )
    assert rows > 0 and without_ner == 0
    assert query(db, "SELECT count(*) FROM raw.stale_hours") == [(0,)]


def test_rerunning_leaves_the_same_details(with_export, sandbox):
    db, _ = with_export
    before = query(db, DETAILS)
    ok, output = ingest(db, api_resource(sandbox))
    assert ok, output
    assert query(db, DETAILS) == before
    assert query(db, "SELECT count(*) FROM raw.details_ledger") == [(12,)]


def test_export_off_leaves_calls_and_analytics_alike_and_says_why(
    with_export, sandbox, tmp_path, monkeypatch
):
    on_db, _ = with_export
    for name, value in {**sandbox_env(sandbox), "CALLS_EXPORT": "off"}.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "off.duckdb"
    with dg.DagsterInstance.ephemeral() as instance:
        ok, output = ingest(db, instance=instance)  # the resource from the environment
        assert ok, output
        metadata = details_metadata(instance)
    assert metadata["status"] == "unavailable" and metadata["unavailable_windows"] == 6
    assert metadata["reason"] == "CALLS_EXPORT=off: the export is not fetched"
    assert query(db, CALLS) == query(on_db, CALLS)
    assert query(db, ANSWER_RATE) == query(on_db, ANSWER_RATE)
    assert query(db, "SELECT count(*) FROM raw.call_details") == [(0,)]
    ledger = query(db, LEDGER)
    assert [(status, note) for _, status, note in ledger] == [
        ("unavailable", "CALLS_EXPORT=off: the export is not fetched")
    ] * 6
    assert "call details: unavailable (CALLS_EXPORT=off" in output


@pytest.mark.parametrize("status", [403, 404])
def test_an_export_refused_is_unavailable_not_a_failure(with_export, sandbox, tmp_path, status):
    on_db, _ = with_export
    sinch = ExportRefusingSinch(**api_resource(sandbox).model_dump(), export_status=status)
    db = tmp_path / "refused.duckdb"
    with dg.DagsterInstance.ephemeral() as instance:
        ok, output = ingest(db, sinch, instance=instance)
        assert ok, output
        metadata = details_metadata(instance)
    assert metadata["status"] == "unavailable"
    assert str(metadata["reason"]).startswith(f"the export answered HTTP {status}")
    assert query(db, CALLS) == query(on_db, CALLS)
    assert query(db, ANSWER_RATE) == query(on_db, ANSWER_RATE)
    notes = {(s, n) for _, s, n in query(db, LEDGER)}
    assert len(query(db, LEDGER)) == 6
    [(state, note)] = notes
    assert state == "unavailable" and note.startswith(f"the export answered HTTP {status}")
    assert f"call details: unavailable (the export answered HTTP {status}" in output


def test_the_sandbox_refusing_its_export_leaves_the_windows_unavailable(tmp_path):
    """The same over the wire: the sandbox's own ``export_fault="forbidden"`` (no test
    transport) answers 403; the run succeeds, every window is ``unavailable`` and every call the
    sandbox lists lands with its analytics."""
    end = START + timedelta(hours=2)
    db = tmp_path / "forbidden.duckdb"
    with (
        sandbox_server(seed=SEED, export_fault="forbidden") as sb,
        dg.DagsterInstance.ephemeral() as instance,
    ):
        ok, output = ingest(db, api_resource(sb), end=end, instance=instance)
        metadata = details_metadata(instance)
        refused = sb.app_state.stats["export_faults"]
        truth = set(sb.app_state.call_ids_between(START, end))
    assert ok, output
    assert metadata["status"] == "unavailable" and refused >= 1
    ledger = query(db, LEDGER)
    assert [status for _, status, _ in ledger] == ["unavailable"] * 2
    assert all(note.startswith("the export answered HTTP 403: ") for _, _, note in ledger)
    assert "FORBIDDEN" in ledger[0][2]
    calls = [call_id for (call_id,) in query(db, "SELECT call_id FROM raw.calls")]
    assert len(calls) == len(truth) > 100 and set(calls) == truth
    assert query(db, "SELECT count(*) FROM raw.call_details") == [(0,)]
    [(hours, attempts, with_ner)] = query(
        db,
        "SELECT count(DISTINCT hour_start), sum(attempts), count(ner) "
        "FROM analytics.answer_rate_hourly",
    )
    assert (hours, attempts, with_ner) == (2, len(truth), 0)  # no true NER without details


def test_an_export_failing_after_retries_fails_the_run_naming_the_windows(sandbox, tmp_path):
    fields = api_resource(sandbox).model_dump() | {"max_attempts": 2, "backoff_base_s": 0.01}
    sinch = ExportRefusingSinch(**fields, export_status=503)
    db = tmp_path / "failing.duckdb"
    ok, output = ingest(db, sinch, end=START + timedelta(hours=2))
    assert not ok
    assert "raw__call_details failed" in output
    assert "2026-11-09T06:00Z: ServerError (HTTP 503)" in output
    assert "2026-11-09T07:00Z: ServerError (HTTP 503)" in output
    calls = "SELECT count(*) FROM raw.calls"
    assert query(db, calls)[0][0] > 0
    assert query(db, "SELECT count(*) FROM analytics.answer_rate_hourly")[0][0] > 0
    assert query(db, "SELECT count(*) FROM raw.details_ledger") == [(0,)]


def test_an_endless_export_stops_after_a_few_times_the_pages_of_the_hours_calls(tmp_path):
    """The sandbox's ``export_fault="endless"``: the hour's export is cut at the limit its
    listed calls give (:func:`export_page_limit`), not at 2,000 pages; the calls still land."""
    db, size = tmp_path / "endless.duckdb", 10
    with sandbox_server(seed=SEED, export_fault="endless") as sb:
        ok, output = ingest(db, api_resource(sb, page_size=size), end=START + timedelta(hours=1))
        requests = sb.app_state.stats["export_faults"]  # each paged export request
    [(listed,)] = query(db, "SELECT greatest(records + rejected, api_total_items) "
                            "FROM raw.ingest_ledger")  # fmt: skip
    limit = export_page_limit(listed, size)
    assert not ok and listed > 50 and requests == limit < 2000, (listed, requests, output)
    assert f"2026-11-09T06:00Z: PaginationError: the export of 2026-11-09T06:00Z sent more " \
        f"than max_pages={limit} full pages" in output  # fmt: skip
    assert query(db, "SELECT count(*) FROM raw.calls") == [(listed,)]


@pytest.mark.slow
def test_the_copenhagen_export_fills_details_from_its_own_columns(tmp_path):
    first = datetime(2026, 10, 4, 22, tzinfo=UTC)
    end = first + timedelta(days=7)
    with COPENHAGEN_CSV.open(newline="", encoding="utf-8") as f:
        rows = [
            r for r in csv.DictReader(f)
            if first <= datetime.fromisoformat(r["Timestamp"]) < end
        ]  # fmt: skip
    db = tmp_path / "cph.duckdb"
    with sandbox_server(replay_path=COPENHAGEN_CSV) as sb:
        console = quiet_console()
        ok = run_ingest_job(
            first, end, db_path=db, report_tz="UTC", console=console,
            sinch=api_resource(sb), analytics=False,
        )  # fmt: skip
    assert ok, console.file.getvalue()
    by_id = {r["Call Id"]: r for r in rows}
    got = {
        r[0]: r
        for r in query(
            db,
            "SELECT call_id, project_id, sip_response_code, mos, region, from_country, "
            "to_country, is_emergency, relationship_type, has_children, trunk_name, transport, "
            "port, raw_line FROM raw.call_details",
        )
    }
    assert set(got) == set(by_id) and len(got) > 500
    for call_id in sorted(by_id)[:: max(1, len(by_id) // 25)]:
        want = by_id[call_id]
        (_, project, sip, mos, region, frm, to, emergency, rel, children, trunk, transport,
         port, raw_line) = got[call_id]  # fmt: skip
        assert project == want["Project Id"]
        assert sip == (int(want["SIP Response Code"]) if want["SIP Response Code"] else None)
        assert mos == (float(want["MOS"]) if want["MOS"] not in ("", "0.0") else None)
        assert (region, frm, to, trunk) == (
            want["Region"], want["From Country"], want["To Country"], want["Trunk Name"],
        )  # fmt: skip
        assert (emergency, children) == (
            want["Is Emergency Call"] == "true", want["Has Children"] == "true",
        )  # fmt: skip
        assert rel == want["Relationship Type"]
        assert transport is None and port is None  # empty in the file
        assert raw_line.split('","')[1] == call_id
    per_hour = Counter(
        datetime.fromisoformat(r["Timestamp"]).replace(minute=0, second=0, microsecond=0)
        for r in rows
    )
    ledger = dict(query(db, "SELECT window_start, records FROM raw.details_ledger"))
    assert {w: n for w, n in ledger.items() if n} == dict(per_hour)
    assert len(ledger) == 7 * 24
    [(calls, detailed)] = query(
        db,
        "SELECT count(*), count(d.call_id) FROM raw.calls c LEFT JOIN raw.call_details d "
        "USING (project_id, call_id)",
    )
    assert calls == len(rows) and detailed >= 0.99 * calls
    assert query(db, "SELECT count(*) FROM raw.rejected_call_details") == [(0,)]


class RenamedExportColumn(httpx.BaseTransport):
    """The real network, except that the export's header calls "SIP Response Code" otherwise."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/calls/export"):
            return response
        body = response.read().replace(b'"SIP Response Code"', b'"Sip Response"')
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)

    def close(self) -> None:
        self.inner.close()


class RenamingSinch(SinchCallsResource):
    """The production resource whose export renames a known column."""

    def client_for(self, api_url, project_id, auth, **options):  # type: ignore[no-untyped-def]
        return super().client_for(
            api_url, project_id, auth, transport=RenamedExportColumn(), **options
        )


def test_a_known_export_column_missing_is_said_not_silent(sandbox, tmp_path):
    """A renamed "SIP Response Code" once landed 100 % of the calls with no SIP code and only
    a note about an unknown column: the summary now names the missing one."""
    db = tmp_path / "renamed.duckdb"
    sinch = RenamingSinch(**api_resource(sandbox).model_dump())
    with dg.DagsterInstance.ephemeral() as instance:
        ok, output = ingest(db, sinch, instance=instance)
        metadata = details_metadata(instance)
    assert ok, output
    assert metadata["missing_columns"] == "SIP Response Code"
    assert "the export lacks the columns SIP Response Code (NULL)" in " ".join(output.split())
    assert query(db, "SELECT count(sip_response_code) FROM raw.call_details") == [(0,)]
