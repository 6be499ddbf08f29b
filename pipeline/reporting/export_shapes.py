"""The report's frames for "What the export adds": true NER, failure causes, MOS, billing.

Built from the analytics tables fed by ``/calls/export`` (``raw.call_details``: SIP and Q.850
codes, MOS) and from the billing audit of the call list. A call without export details is
unknown: every rate here divides by the calls *with* details, and :func:`has_export` says
whether the period has any (the report then says so instead of drawing empty charts).
Same rules as :mod:`pipeline.reporting.shapes`: complete hour grid, partial days and small
denominators marked (:func:`pipeline.reporting.series.ratio`).
"""

from __future__ import annotations

import polars as pl

from pipeline.reporting.report_data import ReportData
from pipeline.reporting.series import complete_hours, daily, ratio
from pipeline.reporting.shapes import trunk_label
from pipeline.transforms.billing_audit import STEPS, increment_label

_NER = ["attempts", "details_calls", "ner_true_numerator", "ner_numerator", "cps_refused"]
_MOS = ["mos_calls", "mos_sum", "mos_below_3_5"]


def _period(frame: pl.DataFrame, data: ReportData) -> pl.DataFrame:
    return frame.filter(
        pl.col("hour_start") >= data.period.start, pl.col("hour_start") < data.period.end
    )


def details_calls(data: ReportData) -> int:
    """Calls of the period with export details (0 when the export never landed)."""
    frame = _period(data.answer, data)
    if "details_calls" not in frame.columns:
        return 0
    return int(frame["details_calls"].fill_null(0).sum())


def has_export(data: ReportData) -> bool:
    """Whether any call of the period has export details."""
    return details_calls(data) > 0


def daily_export(data: ReportData, cov: pl.Series) -> pl.DataFrame:
    """True NER vs NER proxy and MOS per local day (all trunks and directions).

    Returns:
        ``local_date``, the sums (``attempts``, ``details_calls``, ``ner_true_numerator``,
        ``ner_numerator``, ``cps_refused``, ``mos_calls``, ``mos_sum``, ``mos_below_3_5``),
        ``partial``, and for ``ner_true`` (÷ details_calls), ``ner_proxy`` (÷ attempts),
        ``mos_avg`` and ``poor_share`` (÷ mos_calls): the value, ``*_ok``, ``*_note``.
    """
    start, end = data.period.start, data.period.end
    answer = _period(data.answer, data).with_columns(pl.col(c).fill_null(0) for c in _NER)
    hours = complete_hours(answer, start, end, cov, _NER)
    days = daily(hours, data.tz, _NER)
    quality = complete_hours(_period(data.quality, data), start, end, cov, _MOS)
    mos = daily(quality, data.tz, _MOS).select("local_date", *_MOS)
    frame = days.join(mos, on="local_date", how="left")
    frame = ratio(frame, "ner_true", "ner_true_numerator", "details_calls", "calls with details")
    frame = ratio(frame, "ner_proxy", "ner_numerator", "attempts", "attempts")
    frame = ratio(frame, "mos_avg", "mos_sum", "mos_calls", "calls with a MOS")
    return ratio(frame, "poor_share", "mos_below_3_5", "mos_calls", "calls with a MOS")


def failure_causes(data: ReportData, top: int = 10) -> pl.DataFrame:
    """The most frequent outcomes of unanswered calls with details over the period.

    Returns:
        ``label`` (``"SIP 486 · Q.850 17"``), ``sip_response_code``, ``cause_code``,
        ``release_class``, ``calls``, ``share`` (of the unanswered calls with details); at
        most ``top`` rows, most calls first.
    """
    failed = _period(data.causes, data).filter(pl.col("release_class") != "answered")
    keys = ["sip_response_code", "cause_code", "release_class"]
    sums = failed.group_by(keys).agg(pl.col("calls").sum())
    total = sums["calls"].sum()
    sip = pl.format("SIP {}", pl.col("sip_response_code").cast(pl.String)).fill_null("no SIP")
    q850 = pl.format("Q.850 {}", pl.col("cause_code").cast(pl.String)).fill_null("no Q.850")
    return (
        sums.with_columns(
            label=pl.concat_str(sip, q850, separator=" · "),
            share=pl.col("calls") / total if total else pl.lit(None, pl.Float64),
        )
        .sort(["calls", *keys], descending=[True, False, False, False], nulls_last=True)
        .head(top)
        .select("label", *keys, "calls", "share")
    )


def billing_summary(data: ReportData) -> pl.DataFrame:
    """The billing audit of the period's local days per trunk, destination country, currency.

    Returns:
        ``trunk``, ``destination_country``, ``currency``, ``calls``, ``billed_calls``,
        ``overhead`` (billed ÷ conversation − 1 of answered calls, or null), ``cost``,
        ``expected_cost`` (Decimal), ``price_mismatch``, ``currency_mismatch``,
        ``increment_observed``; mismatches first, then most calls.
    """
    frame = data.billing
    sums = [
        "calls", "billed_calls", "audited_conversation_seconds", "audited_billed_seconds",
        "cost", "expected_cost", "price_mismatch", "currency_mismatch", "billed_below_60",
        *(f"billed_div_{n}" for n in STEPS),
    ]  # fmt: skip
    keys = ["project_id", "trunk_id", "destination_country", "currency"]
    names = trunk_label(data).select("project_id", "trunk_id", "trunk")
    return (
        frame.group_by(keys)
        .agg(pl.col(c).sum() for c in sums)
        .with_columns(
            increment_label().alias("increment_observed"),
            pl.when(pl.col("audited_conversation_seconds") > 0)
            .then(
                pl.col("audited_billed_seconds") / pl.col("audited_conversation_seconds") - 1
            )
            .alias("overhead"),
        )
        .join(names, on=["project_id", "trunk_id"], how="left")
        .with_columns(pl.coalesce("trunk", "trunk_id").alias("trunk"))
        .sort(["price_mismatch", "calls", *keys], descending=[True, True, *[False] * len(keys)])
        .select(
            "trunk", "destination_country", "currency", "calls", "billed_calls", "overhead",
            "cost", "expected_cost", "price_mismatch", "currency_mismatch", "increment_observed",
        )
    )  # fmt: skip


def trunk_export(data: ReportData) -> pl.DataFrame:
    """Per trunk over the period: calls, calls with details, true NER, refusals and failures.

    Returns:
        ``trunk``, ``attempts``, ``details_calls``, ``ner_true`` (Float, null without
        details), ``cps_refused``, ``network_failures``, ``invalid_number`` (Int, null when the
        trunk has no details: unknown, not 0); most refusals first.
    """
    counts = ["details_calls", "ner_true_numerator", "cps_refused", "network_failures"]
    counts.append("invalid_number")
    names = trunk_label(data).select("project_id", "trunk_id", "trunk")
    known = pl.col("details_calls") > 0
    return (
        _period(data.answer, data)
        .group_by("project_id", "trunk_id")
        .agg(pl.col("attempts").sum(), *(pl.col(c).fill_null(0).sum() for c in counts))
        .join(names, on=["project_id", "trunk_id"], how="left")
        .with_columns(
            pl.coalesce("trunk", "trunk_id").alias("trunk"),
            pl.when(known).then(pl.col("ner_true_numerator") / pl.col("details_calls")).alias(
                "ner_true"
            ),
            *(
                pl.when(known).then(pl.col(c)).alias(c)
                for c in ("cps_refused", "network_failures", "invalid_number")
            ),
        )
        .sort(["cps_refused", "attempts", "trunk"], descending=[True, True, False], nulls_last=True)
        .select(
            "trunk", "attempts", "details_calls", "ner_true", "cps_refused", "network_failures",
            "invalid_number",
        )
    )  # fmt: skip
