"""Query semantics of ``GET /calls``: raw query parsing, createTime windows, filters, order.

Rules (see ``docs/sandbox.md``):

* The raw query string is split on ``&`` and at the *first* ``=`` **before** percent-decoding,
  so ``createTime>=X``, ``createTime%3E=X`` and ``createTime%3E%3DX`` all give key
  ``createTime>`` and value ``X``.  ``+`` decodes to a space (form encoding), and a leading
  space in ``from``/``to`` or before an offset is read as the ``+`` it was.
* ``createTime=V``: a partial V (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-MM-DDTHH``,
  ``YYYY-MM-DDTHH:MM``) means that whole period.  A full instant means ">= V"
  (``exact_instant_mode="after"``, the OAS example) or that second (``"second"``).
* ``createTime>V`` (inclusive) starts at the start of V's period; ``createTime<V`` (inclusive)
  ends at the end of V's period; a whole-second instant covers that second (the server works
  at second granularity, "…23:59:59Z" ends).  So adjacent windows that share a boundary
  second both contain calls in it (``docs/api-reference.md`` pitfall 3).
  ``strict_lower_bound`` (a hostile setting) makes ``createTime>V`` strict at that
  granularity: the window starts at the *end* of V's period, so the calls of V's own second (or
  minute, hour, day …) are not listed.
* A value without an offset is UTC.  ``now``, ``now-24h``, ``now-7d`` … (old SDKs sent these)
  are accepted.  Several createTime keys are ANDed.
* No createTime key at all → ``[now - default_window_s, now]``.  Only a lower bound → up to
  now.  Only an upper bound → from ``history_start`` (the generator's first hour).
* ``from``/``to``: prefix match on the number, ignoring a leading ``+``/space on both sides;
  a raw prefix (e.g. ``sip:``) matches the served spelling too.
* ``trunkId``: exact (comma list allowed).  ``callResult``/``direction``: comma lists (repeated
  keys add), any case.
* Order: createTime ascending, then callId (byte order) — stable across pages.
* Page size: ``size`` or ``pageSize`` (``size`` wins); ``page_size_key`` can make the server
  honour only one of them, the other being ignored.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Generic, TypeVar
from urllib.parse import unquote_plus

from pipeline.sandbox.records import StoredCall


class BadRequest(Exception):
    """A client error; becomes a 400 with a JSON body."""


def parse_raw_query(qs: str) -> list[tuple[str, str]]:
    """Split a raw query string into decoded (key, value) pairs (see module doc)."""
    out: list[tuple[str, str]] = []
    for part in qs.split("&"):
        if not part:
            continue
        raw_key, sep, raw_val = part.partition("=")
        key = unquote_plus(raw_key)
        val = unquote_plus(raw_val) if sep else ""
        if not sep or not val:
            m = re.match(r"^(createTime[<>])=?(.+)$", key)
            if m and not val:
                key, val = m.group(1), m.group(2)
        out.append((key, val))
    return out


_TIME_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?"
    r"(Z|z|[+\- ]\d{2}(?::?\d{2})?)?)?)?)?$"
)
_NOW_RE = re.compile(r"^now(?:([+\- ])(\d+)([smhdw]))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """A parsed createTime value: ``[start_ms, end_ms)`` and whether it was a full instant."""

    start_ms: int
    end_ms: int
    instant: bool


def _ms(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def parse_time_spec(value: str, now_ms: int) -> TimeSpec:
    """Parse one createTime value to its period (raises :class:`BadRequest`)."""
    v = value.strip()
    m = _NOW_RE.match(v)
    if m:
        t = now_ms
        if m.group(1):
            delta = int(m.group(2)) * _UNITS[m.group(3)] * 1000
            t = t + delta if m.group(1) in "+ " else t - delta
        return TimeSpec(t, t + 1000, True)
    # an offset sign that arrived as a space: "…T16:00:00 01:00"
    m = _TIME_RE.match(v)
    if not m:
        msg = f"createTime value {value!r} is not a date, partial date or instant"
        raise BadRequest(msg)
    y, mo, d, hh, mi, ss, frac, off = m.groups()
    try:
        tz = UTC
        if off and off not in ("Z", "z"):
            sign = -1 if off[0] == "-" else 1
            digits = off[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
            tz = timezone_offset(sign * minutes)
        start = datetime(
            int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=tz
        )
    except ValueError as exc:
        msg = f"createTime value {value!r} is not a valid date: {exc}"
        raise BadRequest(msg) from exc
    if frac:
        ms = int((frac[1:] + "000")[:3])
        s = _ms(start) + ms
        return TimeSpec(s, s + 1, True)
    if ss is not None:
        s = _ms(start)
        return TimeSpec(s, s + 1000, True)
    if mi is not None:
        end = start + timedelta(minutes=1)
    elif hh is not None:
        end = start + timedelta(hours=1)
    elif d is not None:
        end = start + timedelta(days=1)
    elif mo is not None:
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=tz)
    else:
        end = datetime(start.year + 1, 1, 1, tzinfo=tz)
    return TimeSpec(_ms(start), _ms(end), False)


def timezone_offset(minutes: int) -> timezone:
    """A fixed-offset tzinfo."""
    return timezone(timedelta(minutes=minutes))


def _digits_prefix(s: str) -> str:
    return s.lstrip("+ ")


@dataclass(frozen=True, slots=True)
class CallQuery:
    """A normalised filter: createTime ``[lo_ms, hi_ms)`` plus optional field filters."""

    lo_ms: int | None
    hi_ms: int | None
    from_prefix: str | None = None
    to_prefix: str | None = None
    trunk_ids: frozenset[str] | None = None
    results: frozenset[str] | None = None
    directions: frozenset[str] | None = None

    def matches(self, c: StoredCall) -> bool:
        """Whether a call passes the non-time filters."""
        if self.trunk_ids is not None and c.trunk_id not in self.trunk_ids:
            return False
        if self.results is not None and c.call_result not in self.results:
            return False
        if self.directions is not None and c.direction not in self.directions:
            return False
        if self.from_prefix is not None and not _prefix(c.from_number, self.from_prefix):
            return False
        return not (self.to_prefix is not None and not _prefix(c.to_number, self.to_prefix))


def _prefix(value: str, prefix: str) -> bool:
    if value.startswith(prefix):
        return True
    p = _digits_prefix(prefix)
    v = value
    if v.startswith("sip:"):
        v = v[4:]
    return bool(p) and _digits_prefix(v).startswith(p)


def _list(values: list[str]) -> frozenset[str] | None:
    items = {p.strip().upper() for v in values for p in v.split(",") if p.strip()}
    return frozenset(items) if values else None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Page number (from 1) and size."""

    page: int
    size: int


_TIME_KEYS = ("createTime", "createTime>", "createTime<")


def _time_bounds(
    key: str, spec: TimeSpec, *, exact_instant_mode: str, strict_lower_bound: bool
) -> tuple[int | None, int | None]:
    """The lower and upper createTime bound (ms) that one time key sets, None where it sets none.

    ``createTime>`` sets the lower bound (the end of V's period with ``strict_lower_bound``),
    ``createTime<`` the upper one, and ``createTime`` both, or only the lower one for a full
    instant when ``exact_instant_mode="after"``.
    """
    if key == "createTime>":
        return (spec.end_ms if strict_lower_bound else spec.start_ms), None
    if key == "createTime<":
        return None, spec.end_ms
    if spec.instant and exact_instant_mode == "after":
        return spec.start_ms, None
    return spec.start_ms, spec.end_ms


def _time_window(
    pairs: list[tuple[str, str]],
    *,
    now_ms: int,
    default_window_ms: int,
    exact_instant_mode: str,
    history_start_ms: int,
    strict_lower_bound: bool,
) -> tuple[int, int | None]:
    """The createTime window ``[lo_ms, hi_ms)`` of the query (``hi_ms`` None: no upper bound).

    The time keys are ANDed.  Without any, the window is the last ``default_window_ms`` up to
    now; without a lower bound it starts at ``history_start_ms``.

    Raises:
        BadRequest: a time key has an empty or unreadable value.
    """
    lo: int | None = None
    hi: int | None = None
    seen_time = False
    for key, val in pairs:
        if key not in _TIME_KEYS:
            continue
        seen_time = True
        if not val.strip():
            msg = f"{key}: empty value"
            raise BadRequest(msg)
        s, e = _time_bounds(
            key,
            parse_time_spec(val, now_ms),
            exact_instant_mode=exact_instant_mode,
            strict_lower_bound=strict_lower_bound,
        )
        if s is not None:
            lo = s if lo is None else max(lo, s)
        if e is not None:
            hi = e if hi is None else min(hi, e)
    if not seen_time:
        return now_ms - default_window_ms, now_ms + 1
    return (history_start_ms if lo is None else lo), hi


def _values(pairs: list[tuple[str, str]], key: str) -> list[str]:
    """Every value given for ``key``, in query order."""
    return [val for k, val in pairs if k == key]


def _last_prefix(values: list[str]) -> str | None:
    """The last value given for ``from``/``to``, or None when there is none or it is blank."""
    return values[-1] if values and values[-1].strip() else None


def _trunk_ids(values: list[str]) -> frozenset[str] | None:
    """The trunk ids of every ``trunkId`` value (comma lists allowed), or None without any."""
    ids = {p.strip() for v in values for p in v.split(",") if p.strip()}
    return frozenset(ids) if ids else None


def build_query(
    pairs: list[tuple[str, str]],
    *,
    now_ms: int,
    default_window_ms: int,
    exact_instant_mode: str,
    history_start_ms: int,
    strict_lower_bound: bool = False,
) -> CallQuery:
    """Turn decoded query pairs into a :class:`CallQuery`.

    ``strict_lower_bound``: ``createTime>V`` starts after V's period instead of at its start.

    Raises:
        BadRequest: a createTime value is empty or unreadable.
    """
    lo, hi = _time_window(
        pairs,
        now_ms=now_ms,
        default_window_ms=default_window_ms,
        exact_instant_mode=exact_instant_mode,
        history_start_ms=history_start_ms,
        strict_lower_bound=strict_lower_bound,
    )
    return CallQuery(
        lo_ms=lo,
        hi_ms=hi,
        from_prefix=_last_prefix(_values(pairs, "from")),
        to_prefix=_last_prefix(_values(pairs, "to")),
        trunk_ids=_trunk_ids(_values(pairs, "trunkId")),
        results=_list(_values(pairs, "callResult")),
        directions=_list(_values(pairs, "direction")),
    )


SIZE_KEYS: dict[str, tuple[str, ...]] = {
    "both": ("size", "pageSize"),
    "size": ("size",),
    "pageSize": ("pageSize",),
}


def page_request(
    pairs: list[tuple[str, str]],
    *,
    default_size: int,
    max_size: int,
    oversize: str,
    size_keys: tuple[str, ...] = SIZE_KEYS["both"],
) -> PageRequest:
    """The requested ``page`` (from 1) and page size.

    The size is the first of ``size_keys`` with a non-empty value (default ``size``, then
    ``pageSize``); keys not in ``size_keys`` are ignored.
    """
    d = dict(pairs)
    page_s = d.get("page", "").strip() or "1"
    given = (d.get(k) for k in size_keys)
    size_s = next((v for v in given if v), "").strip() or str(default_size)
    try:
        page, size = int(page_s), int(size_s)
    except ValueError as exc:
        msg = f"page and size must be integers (got page={page_s!r}, size={size_s!r})"
        raise BadRequest(msg) from exc
    if page < 1:
        msg = f"page must be >= 1 (got {page})"
        raise BadRequest(msg)
    if size < 1:
        msg = f"size must be >= 1 (got {size})"
        raise BadRequest(msg)
    if size > max_size:
        if oversize == "clamp":
            size = max_size
        else:
            msg = f"size must be <= {max_size} (got {size})"
            raise BadRequest(msg)
    return PageRequest(page, size)


K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A tiny LRU mapping of at most ``size`` entries and, with ``weigh``, ``budget`` in weight.

    ``weigh(value)`` is an entry's weight (e.g. the items a cached result holds); the least
    recently used entries are evicted while there are more than ``size`` or their weights add
    up to more than ``budget`` (the newest entry is always kept).
    """

    def __init__(
        self, size: int, weigh: Callable[[V], int] | None = None, budget: int | None = None
    ) -> None:
        self.size = size
        self._weigh = weigh
        self._budget = budget
        self._weight = 0
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key``, evicting the least recently used beyond the bounds."""
        old = self._d.get(key)
        if old is not None:
            self._weight -= self._weight_of(old)
        self._d[key] = value
        self._d.move_to_end(key)
        self._weight += self._weight_of(value)
        while len(self._d) > 1 and (len(self._d) > self.size or self._over_budget()):
            _, evicted = self._d.popitem(last=False)
            self._weight -= self._weight_of(evicted)

    def _weight_of(self, value: V) -> int:
        return self._weigh(value) if self._weigh is not None else 0

    def _over_budget(self) -> bool:
        return self._budget is not None and self._weight > self._budget
