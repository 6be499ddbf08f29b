"""Turn a half-open UTC window ``[start, end)`` plus filters into calls-API query parameters.

Pure functions, no I/O. Rules and their sources (``docs/api-reference.md`` §1 and pitfalls):

* Always send both bounds (pitfall 1: the server default is 24 h or a week, sources disagree).
* Keys ``createTime>`` and ``createTime<``; the ``=`` of ``key=value`` doubles as the ``>=``/
  ``<=`` (Node ``calls-history-api.ts``; pitfall 2). httpx percent-encodes the keys to
  ``createTime%3E`` / ``createTime%3C``, which every standard query parser decodes back.
* Values are UTC ``YYYY-MM-DDTHH:MM:SSZ`` — the format the Node SDK sends for a ``Date``
  (``sdk-client/src/utils/date.ts`` ``formatCreateTimeRangeFilter``) and the server's own
  second granularity (``...T23:59:59Z`` ends in the leaked internal notes).
* Both bounds are inclusive on the server (pitfall 3) and ``createTime`` can carry fractions of
  a second (pitfall 13), so the client asks for ``[floor(start) - 1 s, ceil(end)]`` (the extra
  second guards against a server applying the lower bound as strict ``>``) and keeps only
  ``start <= createTime < end`` (:func:`in_window`): a call at exactly ``end`` belongs to the
  next window, and a call at ``10:59:59.500`` in window ``[10:00, 11:00)`` is not lost.
* Filters: ``trunkId``; ``callResult`` and ``direction`` comma-joined (``direction=INBOUND,
  OUTBOUND``, [N-REQ]); ``from``/``to`` prefixes. httpx encodes ``+`` as ``%2B`` so a leading
  ``+`` survives (pitfall 15). Empty filters are not sent (Node drops empty params).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from pipeline.sinch.models import Window

MAX_PAGE_SIZE = 1000  # "The default is 100 and the maximum is 1000" [N-REQ], pitfall 8


@dataclass(frozen=True, slots=True)
class CallFilters:
    """Optional filters of ``GET /calls`` (combined with AND by the server, api-reference §1).

    Attributes:
        trunk_id: ``trunkId``, exact.
        call_results: ``callResult`` values (e.g. ``("COMPLETED", "BUSY")``), sent upper-case
            and comma-joined.
        directions: ``direction`` values (``INBOUND`` / ``OUTBOUND``, any case), sent upper-case
            and comma-joined (pitfall 11).
        from_prefix: ``from``, a number prefix such as ``"+1440"`` (prefix match on the server).
        to_prefix: ``to``, a number prefix.
    """

    trunk_id: str | None = None
    call_results: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    from_prefix: str | None = None
    to_prefix: str | None = None

    def __post_init__(self) -> None:
        # Accept a bare string by mistake as one value rather than a tuple of characters.
        for name in ("call_results", "directions"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            else:
                object.__setattr__(self, name, tuple(value))


def format_bound(instant: datetime) -> str:
    """Format an aware instant as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (fraction dropped, not rounded).

    Raises:
        ValueError: if ``instant`` is naive.
    """
    if instant.tzinfo is None:
        msg = "bound must be timezone-aware"
        raise ValueError(msg)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: How much earlier than the window the lower bound asks. ``createTime>=`` is documented as
#: inclusive, but a server that applies it as strict ``>`` would lose the calls created in the
#: window's first second (at ``:00.000`` exactly, or at any fraction if it compares seconds);
#: asking one second early and cutting client-side costs a second of overlap per window.
LOWER_BOUND_MARGIN = timedelta(seconds=1)


def request_bounds(window: Window) -> tuple[datetime, datetime]:
    """Return the inclusive ``(lower, upper)`` instants to ask the server for.

    ``lower`` is ``start`` truncated to the second, minus :data:`LOWER_BOUND_MARGIN` (one
    second); ``upper`` is ``end`` rounded *up* to the next whole second when it has a fraction,
    else ``end`` itself. Both are UTC. Calls outside ``[start, end)`` are cut by the caller.
    """
    lower = window.start.astimezone(UTC).replace(microsecond=0) - LOWER_BOUND_MARGIN
    end = window.end.astimezone(UTC)
    upper = end.replace(microsecond=0)
    if end.microsecond:
        upper += timedelta(seconds=1)
    return lower, upper


def window_params(window: Window, filters: CallFilters | None = None) -> list[tuple[str, str]]:
    """Build the query parameters (without ``page``/``size``) for one window.

    Args:
        window: the half-open ``[start, end)`` window (aware datetimes, any zone).
        filters: optional :class:`CallFilters`.

    Returns:
        An ordered list of ``(key, value)`` pairs, e.g.
        ``[("createTime>", "2025-04-01T09:59:59Z"), ("createTime<", "2025-04-01T11:00:00Z"),
        ("direction", "INBOUND,OUTBOUND")]``. Pass it to httpx as ``params=``; the result is
        ``createTime%3E=2025-04-01T09%3A59%3A59Z&createTime%3C=...`` on the wire.
    """
    lower, upper = request_bounds(window)
    params: list[tuple[str, str]] = [
        ("createTime>", format_bound(lower)),
        ("createTime<", format_bound(upper)),
    ]
    f = filters or CallFilters()
    if f.trunk_id:
        params.append(("trunkId", f.trunk_id))
    if f.call_results:
        params.append(("callResult", ",".join(v.strip().upper() for v in f.call_results)))
    if f.directions:
        params.append(("direction", ",".join(v.strip().upper() for v in f.directions)))
    if f.from_prefix:
        params.append(("from", f.from_prefix))
    if f.to_prefix:
        params.append(("to", f.to_prefix))
    return params


def in_window(window: Window, create_time: datetime) -> bool:
    """Return whether ``window.start <= create_time < window.end`` (the client-side cut)."""
    return window.start <= create_time < window.end


def check_page_size(size: int) -> int:
    """Validate a page size: ``1 <= size <= 1000`` (pitfall 8).

    Raises:
        ValueError: outside that range (or not an int).
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        msg = f"page size must be an int in 1..{MAX_PAGE_SIZE}, got {size!r}"
        raise ValueError(msg)
    return size


def pieces(window: Window, n: int) -> list[Window]:
    """``window`` cut into ``n`` consecutive windows of (nearly) equal length.

    Cuts fall on whole seconds after ``start`` (rounded down, at least ``i`` seconds after it
    for the ``i``-th cut), so every piece is non-empty; a window shorter than ``n`` seconds
    gives one piece per started second.

    Raises:
        ValueError: ``n < 1``.
    """
    if n < 1:
        msg = "a window is cut into at least one piece"
        raise ValueError(msg)
    seconds = (window.end - window.start).total_seconds()
    n = max(1, min(n, math.ceil(seconds)))
    cuts = [window.start + timedelta(seconds=max(i, int(seconds * i / n))) for i in range(1, n)]
    bounds = [window.start, *cuts, window.end]
    return [Window(a, b) for a, b in pairwise(bounds)]
