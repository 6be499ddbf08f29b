"""Asset checks on ``raw.calls``: the promises the ingestion makes, verified on the table.

They look at the whole table (cheap aggregate queries), so they also catch damage done by
earlier runs. SQL lives in ``sql/checks/*.sql``, one file per check, each returning one row
``(failures BIGINT, detail VARCHAR)``. Over the Delta lake the same SQL runs in DuckDB on the
tables' Arrow datasets, registered under the same names (:mod:`pipeline.warehouse.lake_tables`).
"""

import dagster as dg

from pipeline.defs.resources import WarehouseResource
from pipeline.resources import sql_dir

#: ``sql/checks`` of the checkout or of the installed wheel (:mod:`pipeline.resources`).
CHECKS_DIR = sql_dir("checks")
RAW_CALLS = dg.AssetKey(["raw", "calls"])


def _run_check(warehouse: WarehouseResource, name: str) -> tuple[int, str | None]:
    sql = (CHECKS_DIR / f"{name}.sql").read_text(encoding="utf-8")
    with warehouse.backend().reader() as con:
        failures, detail = con.execute(sql).fetchall()[0]
    return int(failures or 0), detail


def _check(
    name: str,
    description: str,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    *,
    blocking: bool = False,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=RAW_CALLS, name=name, description=description, blocking=blocking)
    def _asset_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        failures, detail = _run_check(warehouse, name)
        return dg.AssetCheckResult(
            passed=failures == 0,
            severity=severity,
            metadata={"failures": failures, "detail": detail or ""},
        )

    return _asset_check


RAW_CALLS_CHECKS = [
    _check(
        "unique_call_ids",
        "Every call_id appears once in raw.calls (edges of windows land once; a call the API "
        "lists in another window moves there). A failure names the windows holding each id: "
        "re-ingest one of them (re-running the failed run does not help).",
        blocking=True,
    ),
    _check(
        "create_time_in_window",
        "Every call's create_time lies in its [window_start, window_end).",
        blocking=True,
    ),
    _check(
        "ledger_reconciles",
        "For each window's latest fetch: it reconciled (no calls counted by the API but "
        "unseen, on any slice); for a window swept whole, calls landed + rejected + outside "
        "the window = the API's totalItems; and the ledger's count equals the rows in "
        "raw.calls (fewer: calls moved to another window since).",
        dg.AssetCheckSeverity.WARN,
    ),
    _check(
        "no_negative_durations",
        "No negative durationSeconds / billingDurationSeconds, and no end before create/answer.",
    ),
    _check(
        "no_rejected_records",
        "Records the parser rejected (kept in raw.rejected_calls with their reason).",
        dg.AssetCheckSeverity.WARN,
    ),
]
