"""Page bodies of the sandbox's generator, built in-process without HTTP (bench and tests).

:func:`page_bodies` asks a :class:`~pipeline.sandbox.state.SandboxState` for the served bytes
of every call of each hour (``select``: format variants, malformations, ``float_money`` and
extreme times applied as the server would) and joins them into ``{"calls": [...]}`` envelopes
of ``size`` calls, as the API pages them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.state import SandboxState
from pipeline.sandbox.store import build_query


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def page_bodies(
    settings: SandboxSettings, start: datetime, hours: int, size: int = 1000
) -> list[tuple[datetime, datetime, bytes]]:
    """``(window start, window end, page body)`` of every page of ``hours`` hourly windows.

    Raises:
        pipeline.sandbox.store.BadRequest: never for these bounds (whole UTC hours).
    """
    state = SandboxState(settings)
    now_ms = state.now_ms()
    out: list[tuple[datetime, datetime, bytes]] = []
    for h in range(hours):
        lo, hi = start + timedelta(hours=h), start + timedelta(hours=h + 1)
        query = build_query(
            [("createTime>", _fmt(lo)), ("createTime<", _fmt(hi))],
            now_ms=now_ms,
            default_window_ms=int(settings.default_window_s * 1000),
            exact_instant_mode=settings.exact_instant_mode,
            history_start_ms=int(settings.history_start.timestamp() * 1000),
        )
        calls = state.select(query, now_ms)
        pages = [calls[i : i + size] for i in range(0, len(calls), size)] or [[]]
        for number, chunk in enumerate(pages, start=1):
            tail = f'],"page":{number},"pageSize":{size},"totalItems":{len(calls)}}}'.encode()
            out.append((lo, hi, b'{"calls":[' + b",".join(chunk) + tail))
    return out
