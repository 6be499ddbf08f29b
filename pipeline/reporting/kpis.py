"""KPI tiles: totals of a period and their change against the previous period of equal length.

Every KPI is re-derived from summed numerators and denominators (docs/kpi-definitions.md, rule
1): ASR = Σ answered ÷ Σ attempts (ITU-T E.411), NER proxy = Σ (attempts − failed) ÷ Σ attempts,
ACD = Σ conversation s ÷ Σ acd_calls (answered calls whose conversation is known: an answered
call without answerTime is in neither part), minutes of use = Σ conversation s ÷ 60. Cost is
summed per currency and never across currencies.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import polars as pl

from pipeline.reporting.fmt import (
    Change,
    fmt_count,
    fmt_duration,
    fmt_minutes,
    fmt_money,
    fmt_pct,
    point_change,
    relative_change,
    seconds_change,
)


@dataclass(frozen=True)
class Totals:
    """Sums over one period.

    Attributes:
        calls: attempts (distinct calls created in the period).
        answered: COMPLETED calls.
        ner_numerator: attempts − FAILED.
        conversation_seconds: s, Σ (end − answer) of answered calls.
        cost: per currency (ISO 4217 → amount), exact.
        covered_hours: hours of the period the ingestion covered.
        hours: hours of the period.
        acd_calls: answered calls with a known conversation (ACD's denominator); None: not
            known (rows built before the column), ``answered`` is used.
    """

    calls: int
    answered: int
    ner_numerator: int
    conversation_seconds: float
    cost: dict[str, Decimal] = field(default_factory=dict)
    covered_hours: int = 0
    hours: int = 0
    acd_calls: int | None = None

    @property
    def asr(self) -> float | None:
        """Answered ÷ attempts (fraction), None without attempts."""
        return self.answered / self.calls if self.calls else None

    @property
    def ner(self) -> float | None:
        """NER proxy (fraction), None without attempts."""
        return self.ner_numerator / self.calls if self.calls else None

    @property
    def acd_seconds(self) -> float | None:
        """Average conversation of answered calls with a known conversation (s), or None."""
        calls = self.answered if self.acd_calls is None else self.acd_calls
        return self.conversation_seconds / calls if calls else None

    @property
    def minutes(self) -> float:
        """Minutes of use (min)."""
        return self.conversation_seconds / 60


def _in(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return frame.filter(pl.col("hour_start") >= start, pl.col("hour_start") < end)


def totals(
    answer: pl.DataFrame,
    usage: pl.DataFrame,
    cost: pl.DataFrame,
    start: datetime,
    end: datetime,
    covered: pl.Series | None = None,
) -> Totals:
    """Sum the hourly analytics rows of ``[start, end)``.

    Args:
        answer: ``analytics.answer_rate_hourly`` rows (``attempts``, ``answered``,
            ``ner_numerator``).
        usage: ``analytics.trunk_usage_hourly`` rows (``conversation_seconds``; ``acd_calls``
            and ``answered`` when there: a row without ``acd_calls`` counts its answered).
        cost: ``analytics.cost_hourly`` rows (``currency``, ``cost``).
        start: period start (inclusive, UTC).
        end: period end (exclusive).
        covered: the hours the ingestion covered (any period); None = hours with calls.
    """
    a, u, c = _in(answer, start, end), _in(usage, start, end), _in(cost, start, end)
    per_currency = c.group_by("currency").agg(pl.col("cost").sum()).sort("currency")
    if covered is None:
        covered = a["hour_start"].unique()
    hours_with_data = set(a["hour_start"].to_list())
    in_period = {h for h in covered.to_list() if start <= h < end} | hours_with_data
    return Totals(
        calls=int(a["attempts"].sum()),
        answered=int(a["answered"].sum()),
        ner_numerator=int(a["ner_numerator"].sum()),
        conversation_seconds=float(u["conversation_seconds"].sum()),
        acd_calls=_acd_calls(u),
        cost={cur: Decimal(str(amount)) for cur, amount in per_currency.iter_rows() if cur},
        covered_hours=len(in_period),
        hours=round((end - start).total_seconds() / 3600),
    )


def _acd_calls(usage: pl.DataFrame) -> int | None:
    """Σ ``acd_calls`` of the usage rows (``answered`` where NULL), None without the columns."""
    if "acd_calls" not in usage.columns or "answered" not in usage.columns:
        return None
    return int(usage.select(pl.coalesce("acd_calls", "answered").sum()).item() or 0)


@dataclass(frozen=True)
class Tile:
    """One KPI tile.

    Attributes:
        label: what it measures (``"ASR"``).
        value: the formatted value of the period.
        change: change against the previous period.
        previous: the formatted previous value (``"–"`` when none).
        hint: one line of definition.
    """

    label: str
    value: str
    change: Change
    previous: str
    hint: str


def tiles(current: Totals, previous: Totals | None) -> list[Tile]:
    """Calls, ASR, NER, ACD, minutes and one tile per currency, with change vs ``previous``.

    Args:
        current: totals of the report period.
        previous: totals of the period before it; None, or one without any covered hour,
            means no comparison (the tiles say "no previous data"). When the two periods hold
            different numbers of ingested hours, the change of an amount (calls, minutes, cost)
            says so and is not coloured: fewer hours of data is not less traffic.
    """
    prev = previous if previous is not None and previous.covered_hours else None

    def pick(attr: str) -> float | None:
        return getattr(prev, attr) if prev is not None else None

    def amount_change(now: float | Decimal, before: float | Decimal | None) -> Change:
        """Relative change; flagged when the periods hold different hours of data."""
        change = relative_change(now, before)
        if prev is None or before is None or current.covered_hours == prev.covered_hours:
            return change
        note = f" ({current.covered_hours} h vs {prev.covered_hours} h of data)"
        return Change(change.text + note, "none")

    out = [
        Tile(
            "Calls",
            fmt_count(current.calls),
            amount_change(current.calls, pick("calls")),
            fmt_count(pick("calls")),
            "attempts: calls created, any result",
        ),
        Tile(
            "ASR",
            fmt_pct(current.asr),
            point_change(current.asr, pick("asr")),
            fmt_pct(pick("asr")),
            "answered ÷ attempts (ITU-T E.411)",
        ),
        Tile(
            "NER",
            fmt_pct(current.ner),
            point_change(current.ner, pick("ner")),
            fmt_pct(pick("ner")),
            "not FAILED ÷ attempts (E.425 proxy)",
        ),
        Tile(
            "ACD",
            fmt_duration(current.acd_seconds),
            seconds_change(current.acd_seconds, pick("acd_seconds")),
            fmt_duration(pick("acd_seconds")),
            "average conversation of answered calls",
        ),
        Tile(
            "Minutes",
            f"{fmt_count(current.minutes)} min",
            amount_change(current.minutes, pick("minutes")),
            fmt_minutes(pick("minutes")),
            f"minutes of use (conversation), {current.minutes / 60:,.1f} h",
        ),
    ]
    for currency, amount in current.cost.items():
        before = prev.cost.get(currency) if prev is not None else None
        out.append(
            Tile(
                f"Cost {currency}",
                fmt_money(amount, currency),
                amount_change(amount, before),
                fmt_money(before, currency),
                "Σ price of the calls, this currency only",
            )
        )
    return out


#: Colours of a change: for these KPIs up is good, for cost up is bad, minutes neutral.
_GOOD_UP = {"Calls", "ASR", "NER", "ACD"}

TILE_CSS = """
<style>
.kpi-tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(195px,1fr));gap:12px;
  margin:8px 0 16px}
.kpi-tile{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;
  background:#f6f8fa;font-family:system-ui,sans-serif}
.kpi-tile .label{font-size:13px;color:#57606a;font-weight:600}
.kpi-tile .value{font-size:22px;font-weight:700;margin:2px 0;color:#1f2328;white-space:nowrap}
.kpi-tile .change{font-size:13px}
.kpi-tile .up.good,.kpi-tile .down.bad{color:#1a7f37}
.kpi-tile .down.good,.kpi-tile .up.bad{color:#cf222e}
.kpi-tile .prev,.kpi-tile .hint{font-size:11px;color:#6e7781}
</style>
"""


def tiles_html(items: list[Tile]) -> str:
    """The tiles as an HTML block (inline CSS, no script), for ``IPython.display.HTML``."""
    arrows = {"up": "▲", "down": "▼", "flat": "■", "none": ""}
    blocks = []
    for tile in items:
        tone = (
            "good" if tile.label in _GOOD_UP else ("bad" if tile.label.startswith("Cost") else "")
        )
        arrow = arrows[tile.change.direction]
        blocks.append(
            f'<div class="kpi-tile" data-kpi="{html.escape(tile.label)}">'
            f'<div class="label">{html.escape(tile.label)}</div>'
            f'<div class="value">{html.escape(tile.value)}</div>'
            f'<div class="change {tile.change.direction} {tone}">{arrow} '
            f"{html.escape(tile.change.text)}</div>"
            f'<div class="prev">previous: {html.escape(tile.previous)}</div>'
            f'<div class="hint">{html.escape(tile.hint)}</div></div>'
        )
    return TILE_CSS + '<div class="kpi-tiles">' + "".join(blocks) + "</div>"


def table_html(caption: str, headers: list[str], rows: list[list[str]]) -> str:
    """A plain HTML table of already formatted cells (escaped); numbers right-aligned."""
    head = "".join(
        f'<th style="text-align:{"left" if i == 0 else "right"}">{html.escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="text-align:{"left" if i == 0 else "right"}">{html.escape(c)}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f"<table><caption><b>{html.escape(caption)}</b></caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
