"""The report's frames, shaped from :class:`~pipeline.reporting.report_data.ReportData`.

Each function returns one tidy Polars frame that one chart or table draws, built with the rules
of :mod:`pipeline.reporting.series` (complete hour grid, nulls for gaps, partial days and
low-count buckets marked). All of them cover the report period only, unless they say so.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from pipeline.reporting.fmt import fmt_money
from pipeline.reporting.report_data import ReportData
from pipeline.reporting.series import (
    MIN_DENOMINATOR,
    complete_hours,
    covered_hours,
    daily,
    ratio,
    with_local_time,
)
from pipeline.transforms.erlang import channels_for_grade_of_service

#: Call results of ``analytics.answer_rate_hourly``, in the order the charts stack them.
RESULTS = ["answered", "no_answer", "busy", "cancel", "failed", "other"]
RESULT_LABELS = {
    "answered": "Answered (COMPLETED)",
    "no_answer": "No answer",
    "busy": "Busy",
    "cancel": "Cancelled by caller",
    "failed": "Failed",
    "other": "Other / unknown",
}


def covered(data: ReportData, project: str | None = None) -> pl.Series:
    """Hours of both periods the ingestion covered (``raw.ingest_ledger`` windows).

    Args:
        data: the report's data.
        project: only this project's windows; None = any project's.
    """
    windows = data.windows
    if project is not None:
        windows = windows.filter(pl.col("project_id") == project)
    return covered_hours(windows, data.period.previous_start, data.period.end)


def _period(frame: pl.DataFrame, data: ReportData, hours: int | None = None) -> pl.DataFrame:
    start = data.period.end - timedelta(hours=hours) if hours else data.period.start
    return frame.filter(pl.col("hour_start") >= start, pl.col("hour_start") < data.period.end)


def daily_results(data: ReportData, cov: pl.Series) -> pl.DataFrame:
    """Calls per local day by result (all trunks and directions).

    Returns:
        ``local_date``, ``attempts`` and one count column per :data:`RESULTS` (null on days
        without coverage), ``covered_hours``, ``day_hours``, ``partial``.
    """
    values = ["attempts", *RESULTS]
    hourly = complete_hours(
        _period(data.answer, data), data.period.start, data.period.end, cov, values
    )
    return daily(hourly, data.tz, values)


def daily_kpis(data: ReportData, cov: pl.Series) -> pl.DataFrame:
    """ASR, NER, ACD and time to answer per local day and direction.

    Returns:
        ``local_date``, ``direction``, the sums (``attempts``, ``answered``, ``ner_numerator``,
        ``conversation_seconds``, ``acd_calls``), ``partial`` and, for each of ``asr``, ``ner``,
        ``acd_s`` (s), ``tta_median_s`` (s): the value, ``*_ok`` and ``*_note`` (see
        :func:`pipeline.reporting.series.ratio`).
    """
    start, end = data.period.start, data.period.end
    answer = complete_hours(
        _period(data.answer, data),
        start,
        end,
        cov,
        ["attempts", "answered", "ner_numerator"],
        by=["direction"],
    )
    # ACD's denominator: answered calls with a known conversation (rows built before
    # acd_calls existed hold NULL there: their answered calls stand in)
    usage_rows = _period(data.usage, data).with_columns(
        pl.coalesce("acd_calls", "answered").alias("acd_calls")
    )
    sums = ["conversation_seconds", "acd_calls"]
    usage = complete_hours(usage_rows, start, end, cov, sums, by=["direction"])
    days = daily(answer, data.tz, ["attempts", "answered", "ner_numerator"], by=["direction"])
    conv = daily(usage, data.tz, sums, by=["direction"]).select("local_date", "direction", *sums)
    frame = days.join(conv, on=["local_date", "direction"], how="left")
    frame = ratio(frame, "asr", "answered", "attempts", "attempts")
    frame = ratio(frame, "ner", "ner_numerator", "attempts", "attempts")
    frame = ratio(frame, "acd_s", "conversation_seconds", "acd_calls", "answered calls")
    tta = data.answer_times.select("local_date", "direction", "timed_answers", "tta_median_s")
    frame = frame.join(tta, on=["local_date", "direction"], how="left").with_columns(
        pl.col("timed_answers").fill_null(0)
    )
    few = pl.col("timed_answers") < MIN_DENOMINATOR
    return frame.with_columns(
        tta_median_s_ok=pl.col("tta_median_s").is_not_null() & ~few & ~pl.col("partial"),
        tta_median_s_note=pl.concat_str(
            pl.when(pl.col("partial")).then(
                pl.format("partial day: {} of {} h", "covered_hours", "day_hours")
            ),
            pl.when(few).then(
                pl.format("only {} timed answers (< {})", "timed_answers", pl.lit(MIN_DENOMINATOR))
            ),
            separator="; ",
            ignore_nulls=True,
        ).fill_null(""),
    ).sort("direction", "local_date")


def last_hours(data: ReportData, cov: pl.Series, hours: int = 48) -> pl.DataFrame:
    """The last ``hours`` hours of the period, hourly, by direction and in total.

    Returns:
        ``hour_start``, ``local_start`` (wall clock in the report zone), ``direction``
        (``INBOUND``/``OUTBOUND``/…, and ``ALL`` for the total), ``attempts``, ``answered``
        (null for hours not covered), and ``asr``/``asr_ok``/``asr_note``.
    """
    end = data.period.end
    start = end - timedelta(hours=hours)
    recent = _period(data.answer, data, hours)
    by_direction = complete_hours(
        recent, start, end, cov, ["attempts", "answered"], by=["direction"]
    )
    total = complete_hours(recent, start, end, cov, ["attempts", "answered"]).with_columns(
        direction=pl.lit("ALL")
    )
    frame = pl.concat([by_direction, total.select(by_direction.columns)])
    return with_local_time(ratio(frame, "asr", "answered", "attempts", "attempts"), data.tz)


def trunk_label(data: ReportData) -> pl.DataFrame:
    """``project_id``, ``trunk_id`` → ``trunk`` (the name; with the project when several)."""
    several = len(data.projects) > 1
    return data.trunks.select(
        "project_id",
        "trunk_id",
        "cps_limit",
        trunk=(
            pl.coalesce("trunk_name", "trunk_id") + pl.format(" ({})", "project_id")
            if several
            else pl.coalesce("trunk_name", "trunk_id")
        ),
    )


def concurrency(data: ReportData, cov: pl.Series, gos: float = 0.01) -> pl.DataFrame:
    """Per trunk and hour: peak concurrent calls and peak CPS, with the day's Erlang B channels.

    Args:
        data: the report's data.
        cov: covered hours.
        gos: grade of service for Erlang B (0.01 = 1 % of busy-hour calls blocked).

    Returns:
        ``project_id``, ``trunk_id``, ``trunk``, ``hour_start``, ``local_start``, ``local_date``,
        ``peak_calls`` (max simultaneous calls in the hour, ringing and failed attempts
        included), ``erlangs`` (E, carried traffic of the hour), ``peak_cps`` (1/s),
        ``cps_limit`` (1/s), ``busy_hour_erlangs`` (E, the day's highest hour) and
        ``channels`` (Erlang B channels for it); nulls for hours not covered.
    """
    trunk_wide = (
        _period(data.usage, data)
        .group_by("hour_start", "project_id", "trunk_id")
        .agg(
            peak_calls=pl.col("trunk_peak_concurrent_calls").max(),
            erlangs=pl.col("trunk_erlangs").max(),
            peak_cps=pl.col("trunk_peak_cps").max(),
        )
    )
    values = ["peak_calls", "erlangs", "peak_cps"]
    hourly = complete_hours(
        trunk_wide, data.period.start, data.period.end, cov, values, by=["project_id", "trunk_id"]
    )
    hourly = with_local_time(hourly, data.tz)
    per_day = (
        hourly.group_by("project_id", "trunk_id", "local_date")
        .agg(busy_hour_erlangs=pl.col("erlangs").max())
        .with_columns(
            channels=pl.col("busy_hour_erlangs").map_elements(
                lambda a: channels_for_grade_of_service(a, gos), return_dtype=pl.Int64
            )
        )
    )
    return (
        hourly.join(per_day, on=["project_id", "trunk_id", "local_date"], how="left")
        .with_columns(pl.when(pl.col("covered")).then(pl.col("channels")).alias("channels"))
        .join(trunk_label(data), on=["project_id", "trunk_id"], how="left")
        .with_columns(pl.coalesce("trunk", "trunk_id").alias("trunk"))
        .sort("trunk", "hour_start")
    )


def sizing(conc: pl.DataFrame, gos: float = 0.01) -> pl.DataFrame:
    """Per trunk over the period: what Erlang B recommends and what was observed.

    Returns:
        ``trunk``, ``busy_hour_erlangs`` (E, highest hour), ``channels`` (Erlang B at ``gos``
        for it), ``observed_peak`` (max simultaneous calls), ``hours_over`` (hours whose peak
        exceeded ``channels``), ``covered_hours``, ``peak_cps`` and ``cps_limit`` (1/s),
        sorted by busy-hour traffic, highest first.
    """
    per_trunk = conc.group_by("trunk").agg(
        busy_hour_erlangs=pl.col("erlangs").max(),
        observed_peak=pl.col("peak_calls").max(),
        peak_cps=pl.col("peak_cps").max(),
        cps_limit=pl.col("cps_limit").max(),
        covered_hours=pl.col("covered").sum(),
    )
    per_trunk = per_trunk.with_columns(
        channels=pl.col("busy_hour_erlangs").map_elements(
            lambda a: channels_for_grade_of_service(a, gos), return_dtype=pl.Int64
        )
    )
    over = (
        conc.join(per_trunk.select("trunk", top=pl.col("channels")), on="trunk")
        .group_by("trunk")
        .agg(hours_over=(pl.col("peak_calls") > pl.col("top")).sum())
    )
    return per_trunk.join(over, on="trunk").sort("busy_hour_erlangs", descending=True)


def weekday_hour(data: ReportData, cov: pl.Series) -> pl.DataFrame:
    """Mean calls per covered local clock hour, by weekday (1 = Monday) and hour (0–23).

    Only hours the ingestion covered count, so partial days and gaps do not dilute the mean.

    Returns:
        ``isodow``, ``hour``, ``mean_calls`` (calls per hour), ``hours`` (observations).
    """
    hourly = complete_hours(
        _period(data.answer, data), data.period.start, data.period.end, cov, ["attempts"]
    )
    return (
        with_local_time(hourly.filter(pl.col("covered")), data.tz)
        .group_by(isodow=pl.col("local_start").dt.weekday(), hour=pl.col("local_start").dt.hour())
        .agg(mean_calls=pl.col("attempts").mean(), hours=pl.len())
        .sort("isodow", "hour")
    )


def daily_cost(data: ReportData, cov: pl.Series) -> pl.DataFrame:
    """Cost per local day, currency and direction (never added across currencies).

    Returns:
        ``currency``, ``direction``, ``local_date``, ``cost`` (Float64, in the currency),
        ``billed_minutes`` (min), ``covered_hours``, ``day_hours``, ``partial``.
    """
    frame = _period(data.cost, data).with_columns(pl.col("cost").cast(pl.Float64))
    hourly = complete_hours(
        frame,
        data.period.start,
        data.period.end,
        cov,
        ["cost", "billed_minutes"],
        by=["currency", "direction"],
    )
    return daily(hourly, data.tz, ["cost", "billed_minutes"], by=["currency", "direction"])


def top_countries(data: ReportData, limit: int = 10) -> pl.DataFrame:
    """The ``limit`` destination countries with the most outbound calls in the period.

    Returns:
        ``country`` (ISO 3166 alpha-2, ``??`` = not E.164), ``calls``, ``answered``, ``asr``
        (fraction), ``minutes`` (conversation, min), ``cost`` (text: one amount per currency),
        most calls first.
    """
    if data.countries.is_empty():
        return pl.DataFrame(
            schema={
                "country": pl.String,
                "calls": pl.Int64,
                "answered": pl.Int64,
                "asr": pl.Float64,
                "minutes": pl.Float64,
                "cost": pl.String,
            }
        )
    priced = data.countries.filter(pl.col("currency") != "NONE").sort("country", "currency")
    costs: dict[str, list[str]] = {}
    for country, currency, amount in priced.select("country", "currency", "cost").iter_rows():
        costs.setdefault(country, []).append(fmt_money(amount, currency))
    cost_text = pl.DataFrame(
        {"country": list(costs), "cost": ["; ".join(v) for v in costs.values()]},
        schema={"country": pl.String, "cost": pl.String},
    )
    return (
        data.countries.group_by("country")
        .agg(pl.col("calls").sum(), pl.col("answered").sum(), pl.col("minutes").sum())
        .with_columns(asr=pl.col("answered") / pl.col("calls"))
        .join(cost_text, on="country", how="left")
        .sort(["calls", "country"], descending=[True, False])
        .head(limit)
    )
