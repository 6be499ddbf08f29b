"""KPI tiles (pipeline.reporting.kpis): totals and change vs the previous period, by hand.

Two periods of 2 hours: previous [08:00, 10:00), current [10:00, 12:00) UTC.
Current: 100 attempts, 70 answered, 95 not failed, 7,000 s of conversation, 1.50 USD + 2 EUR.
Previous: 80 attempts, 60 answered, 76 not failed, 6,000 s, 1.00 USD.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl

from pipeline.reporting.kpis import Totals, table_html, tiles, tiles_html, totals

H = timedelta(hours=1)
T0 = datetime(2026, 11, 30, 8, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    answer = pl.DataFrame(
        {
            "hour_start": [T0, T0 + H, T0 + 2 * H, T0 + 3 * H],
            "attempts": [40, 40, 60, 40],
            "answered": [30, 30, 40, 30],
            "ner_numerator": [38, 38, 57, 38],
        },
        schema_overrides={"hour_start": UTC_US},
    )
    usage = pl.DataFrame(
        {"hour_start": [T0, T0 + 2 * H, T0 + 3 * H], "conversation_seconds": [6000.0, 4000, 3000]},
        schema_overrides={"hour_start": UTC_US},
    )
    cost = pl.DataFrame(
        {
            "hour_start": [T0, T0 + 2 * H, T0 + 2 * H, T0 + 3 * H],
            "currency": ["USD", "USD", "EUR", "USD"],
            "cost": [Decimal("1.000000"), Decimal("1.000000"), Decimal("2"), Decimal("0.5")],
        },
        schema_overrides={"hour_start": UTC_US, "cost": pl.Decimal(38, 6)},
    )
    return answer, usage, cost


def _covered(*hours: int) -> pl.Series:
    return pl.Series("hour_start", [T0 + h * H for h in hours], dtype=UTC_US)


def test_totals_re_derive_rates_from_sums() -> None:
    current = totals(*_frames(), T0 + 2 * H, T0 + 4 * H, _covered(0, 1, 2, 3))
    assert (current.calls, current.answered, current.ner_numerator) == (100, 70, 95)
    assert current.asr == 0.70 and current.ner == 0.95
    assert current.acd_seconds == 100.0  # 7,000 s / 70 answered
    assert current.cost == {"EUR": Decimal("2"), "USD": Decimal("1.5")}
    assert (current.covered_hours, current.hours) == (2, 2)
    empty = Totals(0, 0, 0, 0.0)
    assert empty.asr is None and empty.acd_seconds is None


def test_tiles_show_change_against_the_previous_period() -> None:
    frames = _frames()
    covered = _covered(0, 1, 2, 3)
    current = totals(*frames, T0 + 2 * H, T0 + 4 * H, covered)
    previous = totals(*frames, T0, T0 + 2 * H, covered)
    got = {
        t.label: (t.value, t.change.text, t.change.direction, t.previous)
        for t in tiles(current, previous)
    }
    assert got == {
        "Calls": ("100", "+25.0 %", "up", "80"),
        "ASR": ("70.0 %", "−5.0 pp", "down", "75.0 %"),
        "NER": ("95.0 %", "±0.0 pp", "flat", "95.0 %"),
        "ACD": ("1 min 40 s", "±0 s", "flat", "1 min 40 s"),
        # 7,000 s = 116.67 min vs 6,000 s = 100 min
        "Minutes": ("117 min", "+16.7 %", "up", "100 min (1.7 h)"),
        "Cost EUR": ("2.00 EUR", "no previous data", "none", "–"),
        "Cost USD": ("1.50 USD", "+50.0 %", "up", "1.00 USD"),
    }
    minutes = next(t for t in tiles(current, previous) if t.label == "Minutes")
    assert minutes.hint == "minutes of use (conversation), 1.9 h"


def test_amount_change_says_when_the_periods_hold_different_hours() -> None:
    current = totals(*_frames(), T0 + 2 * H, T0 + 4 * H, _covered(2, 3))
    # the previous period had one hour of its two ingested
    previous = Totals(80, 60, 76, 6000.0, {"USD": Decimal(1)}, covered_hours=1, hours=2)
    by_label = {t.label: t for t in tiles(current, previous)}
    assert by_label["Calls"].change.text == "+25.0 % (2 h vs 1 h of data)"
    assert by_label["Calls"].change.direction == "none"
    assert by_label["ASR"].change.text == "−5.0 pp"  # rates stay comparable


def test_no_previous_data() -> None:
    current = totals(*_frames(), T0 + 2 * H, T0 + 4 * H, _covered(2, 3))
    nothing = totals(*_frames(), T0 - 2 * H, T0, _covered(2, 3))
    assert nothing.covered_hours == 0
    for tile in tiles(current, nothing):
        assert tile.change.text == "no previous data"
        assert tile.previous == "–"


def test_tiles_html_is_escaped_and_has_one_tile_per_kpi() -> None:
    current = totals(*_frames(), T0 + 2 * H, T0 + 4 * H, _covered(2, 3))
    html = tiles_html(tiles(current, None))
    assert html.count('class="kpi-tile"') == 7
    assert 'data-kpi="Cost EUR"' in html
    assert "None" not in html and "e+" not in html and "<script" not in html
    table = table_html("a <b>", ["x", "y"], [["<i>", "1,000"]])
    assert "&lt;i&gt;" in table and "a &lt;b&gt;" in table


def test_acd_divides_by_the_answered_calls_with_a_known_conversation() -> None:
    """Two usage hours: 40 answered of which 35 with answer and end time (acd_calls), 4,000 s;
    30 answered, acd_calls NULL (a row built before the column: its answered stand in),
    3,000 s. ACD = (4,000 + 3,000) / (35 + 30) = 107.69… s, not 7,000 / 70 = 100 s."""
    answer, _usage, cost = _frames()
    usage = pl.DataFrame(
        {
            "hour_start": [T0 + 2 * H, T0 + 3 * H],
            "conversation_seconds": [4000.0, 3000.0],
            "answered": [40, 30],
            "acd_calls": [35, None],
        },
        schema_overrides={"hour_start": UTC_US, "acd_calls": pl.Int64},
    )
    current = totals(answer, usage, cost, T0 + 2 * H, T0 + 4 * H)
    assert current.acd_calls == 65
    assert current.acd_seconds == 7000.0 / 65
