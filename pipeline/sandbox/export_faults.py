"""Hostile behaviours of ``GET /calls/export`` (``export_fault``; all off by default).

The export client (``pipeline/sinch/export.py``) and its ingestion guard against an export the
project may not use (403/404), one that never ends, one that ignores ``page``, rows with a
wrong field count and a header that lost its key columns; these play each of them over real
HTTP.  Decisions are deterministic in ``fault_seed`` (refusals: the request URL and its
attempt number; short rows: the callId), like the rest of ``faults.py``.

* ``"forbidden"`` / ``"not-found"``: the export answers 403 / 404 in the usual error shape
  (a share ``export_fault_rate`` of export requests; 1.0 = every one).
* ``"endless"``: a paged request always gets a full page of ``size`` rows.  The first pages are
  the real export; past its last row it starts over with the same calls, each lap's Call Ids
  suffixed ``-lap<n>`` (``<callId>-lap1``, ``-lap2``, …), so no row and no page ever repeats.
* ``"ignores-page"``: ``page`` is ignored; every paged request gets page 1 (at its size).
* ``"short-rows"``: a share ``export_fault_rate`` of rows (chosen per callId) loses its last
  1-24 fields (Timestamp and Call Id stay), so its field count is wrong.
* ``"renamed-header"``: the header spells ``Timestamp`` / ``Call Id`` as ``Timestamp (UTC)`` /
  ``Call ID``; the rows are unchanged.

A request without ``page``/``size``/``pageSize`` (the whole export at once) is paged by none of
them: ``"endless"`` and ``"ignores-page"`` leave it as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pipeline.sandbox.faults import fault_roll
from pipeline.sandbox.records import EXPORT_COLUMNS, StoredCall

if TYPE_CHECKING:
    from pipeline.sandbox.state import SandboxState
    from pipeline.sandbox.store import PageRequest

#: ``export_fault`` → (status, error code, message) of a refusal.
REFUSALS: dict[str, tuple[int, str, str]] = {
    "forbidden": (403, "FORBIDDEN", "the call records export is not enabled for this key"),
    "not-found": (404, "NOT_FOUND", "the call records export is not available for this project"),
}
#: ``"renamed-header"``: what the key columns are called instead.
RENAMED_COLUMNS = {"Timestamp": "Timestamp (UTC)", "Call Id": "Call ID"}
_CALL_ID = EXPORT_COLUMNS.index("Call Id")


def refusal(state: SandboxState, url_key: str, attempt: int) -> tuple[int, str, str] | None:
    """(status, code, message) when this export request is refused, else None."""
    s = state.settings
    refused = REFUSALS.get(s.export_fault or "")
    if refused is None:
        return None
    if fault_roll(s.fault_seed, "export-refusal", url_key, attempt) >= s.export_fault_rate:
        return None
    state.count("export_faults")
    return refused


def header(state: SandboxState) -> tuple[str, ...]:
    """The export's header fields (``"renamed-header"`` renames the key columns)."""
    if state.settings.export_fault != "renamed-header":
        return EXPORT_COLUMNS
    state.count("export_faults")
    return tuple(RENAMED_COLUMNS.get(name, name) for name in EXPORT_COLUMNS)


def rows(
    state: SandboxState, calls: Sequence[StoredCall], pr: PageRequest | None
) -> Iterator[tuple[str, ...]]:
    """The export fields of the rows served for ``calls`` (every match) and the paging."""
    s = state.settings
    kind = s.export_fault
    if pr is None:
        served: Iterator[tuple[str, ...]] = (c.export_fields() for c in calls)
    elif kind == "endless" and calls:
        state.count("export_faults")
        served = _endless(calls, (pr.page - 1) * pr.size, pr.size)
    else:
        page = 1 if kind == "ignores-page" else pr.page
        if kind == "ignores-page" and pr.page != 1:
            state.count("export_faults")
        served = (c.export_fields() for c in calls[(page - 1) * pr.size : page * pr.size])
    if kind != "short-rows":
        yield from served
        return
    cut = False
    for fields in served:
        call_id = fields[_CALL_ID]
        if fault_roll(s.fault_seed, "short-row", call_id) < s.export_fault_rate:
            lost = 1 + int(fault_roll(s.fault_seed, "short-lost", call_id) * 24)
            fields, cut = fields[: len(fields) - lost], True
        yield fields
    if cut:
        state.count("export_faults")


def _endless(calls: Sequence[StoredCall], start: int, size: int) -> Iterator[tuple[str, ...]]:
    """Rows ``start .. start+size`` of the window's calls repeated forever, lap-suffixed."""
    n = len(calls)
    for offset in range(start, start + size):
        lap, i = divmod(offset, n)
        fields = calls[i].export_fields()
        if lap:
            fields = (*fields[:_CALL_ID], f"{fields[_CALL_ID]}-lap{lap}", *fields[_CALL_ID + 1 :])
        yield fields
