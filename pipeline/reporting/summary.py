"""The short summary the main command prints after a run (read from the analytics tables).

Besides ASR and the NER proxy it shows what the export adds when ``raw.call_details`` has
rows for the range: the true NER (ITU-T E.425, over the calls with details) and, per trunk, the
calls Sinch refused over the trunk's ``callsPerSecond`` (SIP 603 on a FAILED call,
``cps_refused``). A trunk without any details row shows ``?`` there: unknown, not 0.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.reporting.source import read_connection

SUMMARY_SQL = """
WITH answer AS (
    SELECT sum(attempts) AS attempts, sum(answered) AS answered,
           sum(ner_numerator) AS ner_numerator,
           coalesce(sum(details_calls), 0) AS details_calls,
           coalesce(sum(ner_true_numerator), 0) AS ner_true_numerator
    FROM analytics.answer_rate_hourly
    WHERE hour_start >= $start AND hour_start < $end
),
refused AS (
    SELECT project_id, trunk_id, coalesce(sum(details_calls), 0) AS details_calls,
           coalesce(sum(cps_refused), 0) AS cps_refused
    FROM analytics.answer_rate_hourly
    WHERE hour_start >= $start AND hour_start < $end
    GROUP BY project_id, trunk_id
),
usage AS (
    SELECT u.project_id, u.trunk_id, any_value(t.name) AS name, sum(u.mou) AS mou,
           sum(u.attempts) AS attempts,
           max(u.trunk_peak_concurrent_calls) AS peak,
           max(u.trunk_peak_cps) AS peak_cps, any_value(u.cps_limit) AS cps_limit
    FROM analytics.trunk_usage_hourly AS u
    LEFT JOIN raw.trunks AS t ON t.project_id = u.project_id AND t.trunk_id = u.trunk_id
    WHERE u.hour_start >= $start AND u.hour_start < $end
    GROUP BY u.project_id, u.trunk_id
)
SELECT a.attempts, a.answered, a.ner_numerator,
       u.trunk_id, u.name, u.mou, u.attempts, u.peak, u.peak_cps, u.cps_limit,
       a.details_calls, a.ner_true_numerator,
       CASE WHEN r.details_calls > 0 THEN r.cps_refused END AS cps_refused
FROM answer AS a, usage AS u
LEFT JOIN refused AS r ON r.project_id = u.project_id AND r.trunk_id = u.trunk_id
ORDER BY u.mou DESC
"""


REJECTED_SQL = """
SELECT count(*), string_agg(DISTINCT reason, '; ')
FROM raw.rejected_calls WHERE window_start >= $start AND window_start < $end
"""


def summary_rows(db_path: str | Path, start: datetime, end: datetime) -> list[tuple]:
    """Totals and per-trunk usage over ``[start, end)`` (UTC), busiest trunk (by MOU) first.

    Returns:
        Rows ``(attempts, answered, ner_numerator, trunk_id, name, mou, trunk attempts, peak
        concurrent, peak CPS, CPS limit, details_calls, ner_true_numerator, cps_refused)``;
        the first three and ``details_calls``/``ner_true_numerator`` are range totals repeated
        on each row; ``cps_refused`` is the trunk's, None when none of its calls had details.
    """
    with read_connection(db_path) as con:
        return con.execute(SUMMARY_SQL, {"start": start, "end": end}).fetchall()


def rejected_in(db_path: str | Path, start: datetime, end: datetime) -> tuple[int, str | None]:
    """Records rejected by the parser in ``[start, end)``: count and their distinct reasons."""
    with read_connection(db_path) as con:
        count, reasons = con.execute(REJECTED_SQL, {"start": start, "end": end}).fetchall()[0]
    return int(count), reasons


def print_summary(
    db_path: str | Path,
    start: datetime,
    end: datetime,
    report_tz: str,
    console: Console | None = None,
) -> None:
    """Print ASR, NER proxy, true NER, the busiest trunk, per trunk peaks and CPS refusals."""
    console = console or Console()
    rows = summary_rows(db_path, start, end)
    if not rows or not rows[0][0]:
        console.print("No calls in the range.")
        return
    attempts, answered, ner_numerator = rows[0][:3]
    details_calls, ner_true = rows[0][10:12]
    console.print(
        f"\n[bold]{attempts:,} calls[/], ASR {answered / attempts:.1%} "
        f"(answered/attempts, ITU-T E.411), NER proxy {ner_numerator / attempts:.1%}"
    )
    if details_calls:
        console.print(
            f"True NER {ner_true / details_calls:.1%} (ITU-T E.425, SIP/Q.850 codes of the "
            f"{details_calls:,} calls with export details)"
        )
    else:
        console.print("True NER unknown: no export details (raw.call_details) for these calls")
    busiest = rows[0]
    console.print(
        f"Busiest trunk: [bold]{busiest[4] or busiest[3]}[/] with {busiest[5]:,.0f} minutes of use"
    )
    table = Table(title=f"Trunks, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    columns = ("trunk", "calls", "MOU (min)", "peak concurrent", "peak CPS / limit", "CPS refused")
    for column in columns:
        table.add_column(
            column, justify="left" if column == "trunk" else "right", no_wrap=column == "trunk"
        )
    for _, _, _, trunk_id, name, mou, calls, peak, peak_cps, cps_limit, _, _, refused in rows:
        table.add_row(
            name or trunk_id,
            f"{calls:,}",
            f"{mou:,.1f}",
            str(peak),
            f"{peak_cps} / {cps_limit if cps_limit is not None else '?'}",
            "?" if refused is None else f"{refused:,}",
        )
    console.print(table)
    console.print(
        "CPS refused: failed calls Sinch answered SIP 603 over the trunk's callsPerSecond "
        "(from the export; ? = unknown: none of the trunk's calls has export details)"
    )
    console.print(f"Daily tables use report time zone {report_tz}.")
    rejected, reasons = rejected_in(db_path, start, end)
    if rejected:
        console.print(
            f"[yellow]{rejected:,} records could not be parsed; kept in raw.rejected_calls "
            f"with their reasons: {reasons}[/]",
            soft_wrap=True,
        )
