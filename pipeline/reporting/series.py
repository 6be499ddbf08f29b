"""Time series for the report: complete hour grids, local days, gaps and marked buckets.

Three rules the charts follow (docs/reporting.md, "What the charts mean"):

* **Gaps break lines.** Every hour of the report period gets a row. An hour the ingestion
  covered (a window in ``raw.ingest_ledger``, or an hour with calls) but without calls holds
  0; an hour it never covered holds null, and a null breaks the line in the chart instead of
  drawing a straight line across the gap.
* **Partial days are marked.** A local day of which fewer hours were covered than the day
  has (23, 24 or 25 in the report time zone) is ``partial``; its counts are not comparable
  with a whole day's, and charts draw it hollow or hatched.
* **Buckets with few calls are marked.** A rate or average whose denominator is below
  :data:`MIN_DENOMINATOR` (20 attempts for ASR/NER, 20 answered calls for ACD and time to
  answer) is not plotted as a point of the line: with 3 attempts an ASR of 0 % or 100 % says
  nothing (at 20 attempts the standard error of a 50 % rate is still ±11 pp).

All frames are Polars; instants are ``Datetime("us", "UTC")``; local dates are ``Date``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl

#: Rates and averages over fewer than this many calls (the denominator) are marked.
MIN_DENOMINATOR = 20


def hour_grid(start: datetime, end: datetime) -> pl.DataFrame:
    """Every UTC hour in ``[start, end)``.

    Args:
        start: first hour (inclusive), a whole UTC hour, timezone-aware.
        end: end (exclusive), a whole UTC hour.

    Returns:
        Frame with one column ``hour_start`` (``Datetime("us", "UTC")``), one row per hour.
    """
    hours = pl.datetime_range(
        start, end, "1h", closed="left", time_zone="UTC", time_unit="us", eager=True
    )
    return pl.DataFrame({"hour_start": hours})


def covered_hours(windows: pl.DataFrame, start: datetime, end: datetime) -> pl.Series:
    """The UTC hours in ``[start, end)`` that ingestion windows covered.

    Args:
        windows: frame with ``window_start`` and ``window_end`` (UTC instants, end exclusive),
            e.g. the rows of ``raw.ingest_ledger``; a window may span several hours.
        start: first hour of the period (inclusive).
        end: end of the period (exclusive).

    Returns:
        Sorted, distinct ``hour_start`` values (``Datetime("us", "UTC")``).
    """
    if windows.is_empty():
        return pl.Series("hour_start", [], dtype=pl.Datetime("us", "UTC"))
    hours = (
        windows.select(
            hour_start=pl.datetime_ranges(
                pl.col("window_start").dt.truncate("1h").dt.cast_time_unit("us"),
                pl.col("window_end").dt.cast_time_unit("us"),
                "1h",
                closed="left",
            )
        )
        .explode("hour_start")
        .drop_nulls()
        .filter(pl.col("hour_start") >= start, pl.col("hour_start") < end)
        .unique()
        .sort("hour_start")
    )
    return hours["hour_start"]


def complete_hours(
    frame: pl.DataFrame,
    start: datetime,
    end: datetime,
    covered: pl.Series,
    values: Sequence[str],
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """One row per hour of ``[start, end)`` (× each group of ``by``): sums, 0 or null.

    Args:
        frame: hourly rows with ``hour_start`` (UTC), the ``by`` columns and the ``values``
            columns (counts or sums; several rows per key are summed).
        start: first hour (inclusive).
        end: end (exclusive).
        covered: hours the ingestion covered (:func:`covered_hours`); an hour with rows in
            ``frame`` counts as covered too (a file without a ledger still plots).
        values: the columns to sum.
        by: grouping columns (e.g. ``direction``); every group gets every hour.

    Returns:
        Columns ``hour_start``, ``by``..., ``covered`` (bool), ``values``...: the sum for a
        covered hour (0 when it had no rows), null for an hour not covered (a gap).
    """
    sums = frame.group_by("hour_start", *by).agg(pl.col(v).sum() for v in values)
    seen = set(sums["hour_start"].to_list()) | set(covered.to_list())
    grid = hour_grid(start, end).with_columns(covered=pl.col("hour_start").is_in(list(seen)))
    if by:
        grid = grid.join(frame.select(by).unique().sort(by), how="cross")
    out = grid.join(sums, on=["hour_start", *by], how="left")
    return out.with_columns(
        pl.when(pl.col("covered")).then(pl.col(v).fill_null(0)).otherwise(None).alias(v)
        for v in values
    ).sort(*by, "hour_start")


def with_local_time(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Add ``local_start`` (wall-clock time in ``tz``, no zone) and ``local_date`` (Date)."""
    local = pl.col("hour_start").dt.convert_time_zone(tz)
    return frame.with_columns(
        local_start=local.dt.replace_time_zone(None), local_date=local.dt.date()
    )


def day_lengths(days: Sequence[date], tz: str) -> pl.DataFrame:
    """Hours in each local day of ``tz``: 24, or 23 / 25 on daylight-saving changes.

    Returns:
        Columns ``local_date`` (Date) and ``day_hours`` (Int64).
    """
    frame = pl.DataFrame({"local_date": list(days)}, schema={"local_date": pl.Date})

    def midnight(col: pl.Expr) -> pl.Expr:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone(
            tz, ambiguous="earliest", non_existent="null"
        )

    return frame.with_columns(
        day_hours=(
            (midnight(pl.col("local_date") + timedelta(days=1)) - midnight(pl.col("local_date")))
            .dt.total_hours()
            .cast(pl.Int64)
        )
    )


def daily(
    hourly: pl.DataFrame, tz: str, values: Sequence[str], by: Sequence[str] = ()
) -> pl.DataFrame:
    """Roll a complete hourly frame (:func:`complete_hours`) up to local days of ``tz``.

    Args:
        hourly: output of :func:`complete_hours` (one row per hour and group).
        tz: IANA zone of the report.
        values: the columns to sum (counts, s, min).
        by: grouping columns kept.

    Returns:
        One row per local day (× group): ``local_date``, ``by``..., the summed ``values``
        (null for a day without any covered hour), ``covered_hours``, ``day_hours`` (23/24/25)
        and ``partial`` (covered_hours < day_hours), sorted by date.
    """
    local = with_local_time(hourly, tz)
    days = local.group_by("local_date", *by).agg(
        *(pl.col(v).sum() for v in values),
        covered_hours=pl.col("covered").sum().cast(pl.Int64),
    )
    lengths = day_lengths(days["local_date"].unique().sort().to_list(), tz)
    return (
        days.join(lengths, on="local_date", how="left")
        .with_columns(
            pl.when(pl.col("covered_hours") > 0).then(pl.col(v)).otherwise(None).alias(v)
            for v in values
        )
        .with_columns(partial=pl.col("covered_hours") < pl.col("day_hours"))
        .sort(*by, "local_date")
    )


def ratio(
    frame: pl.DataFrame,
    name: str,
    numerator: str,
    denominator: str,
    unit: str,
    min_denominator: int = MIN_DENOMINATOR,
) -> pl.DataFrame:
    """Add a rate or average ``name`` = numerator ÷ denominator, with ``name_ok`` and a note.

    Args:
        frame: rows with the two columns; with a ``partial`` column (from :func:`daily`) partial
            days are marked too.
        name: the new column (null where the denominator is 0 or null).
        numerator: column summed above (e.g. ``answered``).
        denominator: column summed above (e.g. ``attempts``).
        unit: what the denominator counts, for the note (``"attempts"``).
        min_denominator: fewer calls than this → not ok.

    Returns:
        ``frame`` plus ``name``, ``name_ok`` (bool: a point of the line) and ``name_note``
        (why it is marked: ``"partial day: 1 of 24 h"``, ``"only 3 attempts"``, or ``""``).
    """
    den = pl.col(denominator)
    few = den < min_denominator
    partial = pl.col("partial") if "partial" in frame.columns else pl.lit(False)
    partial_note = (
        pl.format("partial day: {} of {} h", pl.col("covered_hours"), pl.col("day_hours"))
        if "partial" in frame.columns
        else pl.lit("")
    )
    few_note = pl.format("only {} {} (< {})", den, pl.lit(unit), pl.lit(min_denominator))
    value = pl.when(den > 0).then(pl.col(numerator) / den).otherwise(None)
    notes = pl.concat_str(
        pl.when(partial).then(partial_note),
        pl.when(few).then(few_note),
        separator="; ",
        ignore_nulls=True,
    )
    return frame.with_columns(
        value.alias(name),
        (value.is_not_null() & ~few.fill_null(True) & ~partial.fill_null(False)).alias(
            f"{name}_ok"
        ),
        notes.fill_null("").alias(f"{name}_note"),
    )


def line_and_marks(frame: pl.DataFrame, name: str) -> tuple[list[float | None], list[float | None]]:
    """Split column ``name`` into the line's points and the marked points (see :func:`ratio`).

    Returns:
        ``(line, marked)``, each as long as ``frame``: ``line`` holds the value where
        ``name_ok`` is true and None elsewhere (a break in the line); ``marked`` holds the
        value where it is not ok but exists (drawn as hollow markers) and None elsewhere.
    """
    values = frame[name].to_list()
    ok = frame[f"{name}_ok"].to_list()
    line = [v if good else None for v, good in zip(values, ok, strict=True)]
    marked = [v if not good else None for v, good in zip(values, ok, strict=True)]
    return line, marked


def day_ticks(days: Sequence[date], max_ticks: int = 14) -> tuple[list[str], list[str]]:
    """Tick positions and labels for a daily axis: each date labelled once.

    Args:
        days: the local dates on the axis, ascending.
        max_ticks: at most this many labels (every k-th day beyond it).

    Returns:
        ``(values, labels)``: ISO dates and ``"Sun<br>29 Nov"`` labels (two lines, so that
        they need no rotation), one per k-th day.
    """
    if not days:
        return [], []
    step = max(1, -(-len(days) // max_ticks))
    picked = list(days)[::step]
    return [d.isoformat() for d in picked], [f"{d:%a}<br>{d.day} {d:%b}" for d in picked]


def hour_ticks(hours: Sequence[datetime], every: int = 6) -> tuple[list[str], list[str]]:
    """Ticks for an hourly axis of local wall-clock times: the date only where it changes.

    Args:
        hours: local hour starts (no zone), ascending.
        every: a tick each ``every`` hours of the clock (0, 6, 12, 18 for 6).

    Returns:
        ``(values, labels)``: ISO times and labels ``"12:00"``, or ``"00:00<br>Mon 30 Nov"``
        on the first tick and at each new date, so no date is printed twice.
    """
    values, labels = [], []
    last_date: date | None = None
    for hour in hours:
        if hour.minute or hour.hour % every:
            continue
        text = f"{hour:%H:%M}"
        if hour.date() != last_date:
            text += f"<br>{hour:%a} {hour.day} {hour:%b}"
            last_date = hour.date()
        values.append(hour.isoformat())
        labels.append(text)
    return values, labels
