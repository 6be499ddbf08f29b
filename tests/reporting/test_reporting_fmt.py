"""Numbers for people (pipeline.reporting.fmt): golden strings worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.reporting.fmt import (
    fmt_count,
    fmt_duration,
    fmt_minutes,
    fmt_money,
    fmt_pct,
    point_change,
    relative_change,
    seconds_change,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [(11190.4, "11,190"), (1.119e4, "11,190"), (0, "0"), (1234567, "1,234,567"), (None, "–")],
)
def test_counts_have_thousands_separators_never_scientific(value, text) -> None:
    assert fmt_count(value) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        # 11,190.4 min = 186.507 h: the figure the old report printed as 1.119e+04
        (11190.4, "11,190 min (186.5 h)"),
        (45.26, "45.3 min"),
        (60, "60 min (1.0 h)"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_minutes_read_as_minutes_and_hours(minutes, text) -> None:
    assert fmt_minutes(minutes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s"), (3900, "1 h 05 min"), (None, "–")],
)
def test_durations(seconds, text) -> None:
    assert fmt_duration(seconds) == text


def test_percent_and_money() -> None:
    assert fmt_pct(0.6834) == "68.3 %"
    assert fmt_pct(1) == "100.0 %"
    assert fmt_pct(None) == "–"
    assert fmt_money(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert fmt_money(0.01826, "USD") == "0.0183 USD"
    assert fmt_money(0, "USD") == "0.00 USD"
    assert fmt_money(None, "USD") == "–"


def test_relative_change_of_amounts() -> None:
    assert relative_change(120, 100) == relative_change(Decimal("1.2"), Decimal("1"))
    up = relative_change(120, 100)
    assert (up.text, up.direction) == ("+20.0 %", "up")
    down = relative_change(80, 100)
    assert (down.text, down.direction) == ("−20.0 %", "down")  # a real minus sign
    flat = relative_change(100, 100)
    assert (flat.text, flat.direction) == ("±0.0 %", "flat")
    assert relative_change(12345, 100).text == "+12,245.0 %"
    assert relative_change(5, 0).text == "previous 0"
    assert relative_change(5, None) == relative_change(None, 5)
    assert relative_change(5, None).text == "no previous data"
    assert relative_change(5, None).direction == "none"


def test_rate_changes_are_percentage_points_and_durations_seconds() -> None:
    drop = point_change(0.70, 0.72)
    assert (drop.text, drop.direction) == ("−2.0 pp", "down")
    assert point_change(0.7234, 0.7).text == "+2.3 pp"
    assert point_change(None, 0.7).direction == "none"
    longer = seconds_change(130, 120)
    assert (longer.text, longer.direction) == ("+10 s", "up")
    assert seconds_change(119.8, 120).text == "±0 s"
