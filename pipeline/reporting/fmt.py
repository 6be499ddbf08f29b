"""Numbers for people: thousands separators, minutes and hours, percentages, money, changes.

Every function takes ``None`` (no data) and returns ``"–"`` for it, so a report cell never
prints ``None``, ``nan`` or scientific notation such as ``1.119e+04``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

#: What a missing value prints as.
NO_DATA = "–"


def _missing(value: float | Decimal | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_count(value: float | None) -> str:
    """A count with thousands separators: ``11190`` → ``"11,190"``.

    Args:
        value: a count (rounded to the nearest whole number), or None.
    """
    if _missing(value):
        return NO_DATA
    assert value is not None
    return f"{round(value):,}"


def fmt_pct(fraction: float | None, digits: int = 1) -> str:
    """A fraction 0–1 as a percentage: ``0.6834`` → ``"68.3 %"``.

    Args:
        fraction: the share (1.0 = 100 %), or None.
        digits: decimals after the point.
    """
    if _missing(fraction):
        return NO_DATA
    assert fraction is not None
    return f"{fraction * 100:.{digits}f} %"


def fmt_duration(seconds: float | None) -> str:
    """A short duration: ``42.4`` → ``"42 s"``, ``185`` → ``"3 min 05 s"``, 3900 → ``"1 h 05 min"``.

    Args:
        seconds: the duration in s (an ACD, a time to answer), or None.
    """
    if _missing(seconds):
        return NO_DATA
    assert seconds is not None
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600:,} h {total % 3600 // 60:02d} min"


def fmt_minutes(minutes: float | None) -> str:
    """Minutes of use: ``45.25`` → ``"45.3 min"``, ``11190.4`` → ``"11,190 min (186.5 h)"``.

    Args:
        minutes: an amount in min, or None.
    """
    if _missing(minutes):
        return NO_DATA
    assert minutes is not None
    if abs(minutes) < 60:
        return f"{minutes:.1f} min"
    return f"{round(minutes):,} min ({minutes / 60:,.1f} h)"


def fmt_money(amount: float | Decimal | None, currency: str) -> str:
    """An amount in one currency: ``1234.5, "EUR"`` → ``"1,234.50 EUR"``; below 1: 4 decimals.

    Args:
        amount: the amount in ``currency`` (Decimal or float), or None.
        currency: ISO 4217 code printed after the amount.
    """
    if _missing(amount):
        return NO_DATA
    assert amount is not None
    value = float(amount)
    digits = 2 if abs(value) >= 1 or value == 0 else 4
    return f"{value:,.{digits}f} {currency}"


@dataclass(frozen=True)
class Change:
    """A change against the previous period, ready to print.

    Attributes:
        text: ``"+12.3 %"`` (relative, for amounts), ``"−1.4 pp"`` (percentage points, for
            rates), or a reason there is none (``"no previous data"``).
        direction: ``"up"``, ``"down"``, ``"flat"`` or ``"none"`` (no comparison possible).
    """

    text: str
    direction: str


def _direction(delta: float) -> str:
    if delta > 0:
        return "up"
    return "down" if delta < 0 else "flat"


def relative_change(current: float | Decimal | None, previous: float | Decimal | None) -> Change:
    """Change of an amount (calls, minutes, cost) in % of the previous value.

    ``120`` vs ``100`` → ``"+20.0 %"``; a previous value of 0 or None gives no percentage.
    """
    if _missing(current) or _missing(previous):
        return Change("no previous data", "none")
    assert current is not None and previous is not None
    if float(previous) == 0:
        return Change("previous 0", "none" if float(current) == 0 else "up")
    delta = (float(current) - float(previous)) / abs(float(previous))
    return Change(f"{_signed(delta * 100)} %", _direction(round(delta * 1000)))


def point_change(current: float | None, previous: float | None) -> Change:
    """Change of a rate (fractions 0–1) in percentage points: 0.70 vs 0.72 → ``"−2.0 pp"``."""
    if _missing(current) or _missing(previous):
        return Change("no previous data", "none")
    assert current is not None and previous is not None
    delta = (current - previous) * 100
    return Change(f"{_signed(delta)} pp", _direction(round(delta * 10)))


def seconds_change(current: float | None, previous: float | None) -> Change:
    """Change of a duration in s: ``130`` vs ``120`` → ``"+10 s"``."""
    if _missing(current) or _missing(previous):
        return Change("no previous data", "none")
    assert current is not None and previous is not None
    delta = current - previous
    return Change(f"{_signed(delta, 0)} s", _direction(round(delta)))


def _signed(value: float, digits: int = 1) -> str:
    """``+1.5`` / ``−1.5`` (a real minus sign) / ``±0.0``, with thousands separators."""
    text = f"{abs(value):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return f"±{text}"
    return f"+{text}" if value > 0 else f"−{text}"
