"""A short re-fetch never deletes calls landed before (both backends).

A fetch that did not reconcile (the API counted calls it did not list this time) replaces only
what it saw; the window's other calls and rejected records stay, because they may be the very
calls the API failed to list. A fetch that reconciles replaces the whole window as before, so
a call the API no longer lists at all does go.
"""

from __future__ import annotations

import pytest
from warehouse_kit import BACKENDS, A, at, commit_via, make_call, rows_of

from pipeline.sinch.models import RejectedRecord
from pipeline.warehouse.ledger import WindowFetch

X = make_call("X", at("2026-03-01 10:05"))
Y = make_call("Y", at("2026-03-01 10:10"))
X_LATER = make_call("X", at("2026-03-01 10:05"), end=at("2026-03-01 10:07"))
BAD = RejectedRecord("createTime: missing", '{"callId":"R"}', "R")
CALLS = "SELECT call_id, end_time FROM raw.calls"
REJECTED = "SELECT call_id FROM raw.rejected_calls"


def _short(seen: int, counted: int) -> WindowFetch:
    return WindowFetch(
        sweeps=3,
        pages=1,
        api_total_items=counted,
        attempts=3,
        seconds=0.1,
        reconciled=False,
        shortfall=counted - seen,
    )


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_short_refetch_keeps_what_it_did_not_see(tmp_path, backend):
    warehouse = BACKENDS[backend](tmp_path)
    commit_via(warehouse, "P", A, [X, Y], [BAD])

    entry = commit_via(warehouse, "P", A, [X_LATER], fetch=_short(seen=1, counted=3))
    assert (entry.records, entry.rejected, entry.reconciled) == (2, 1, False)
    assert rows_of(warehouse, CALLS) == [("X", at("2026-03-01 10:07")), ("Y", None)]
    assert rows_of(warehouse, REJECTED) == [("R",)]

    # Again, short and seeing the same: nothing doubles.
    commit_via(warehouse, "P", A, [X_LATER], fetch=_short(seen=1, counted=3))
    assert rows_of(warehouse, CALLS) == [("X", at("2026-03-01 10:07")), ("Y", None)]
    assert rows_of(warehouse, REJECTED) == [("R",)]

    # A fetch that reconciles is the API's whole list: what it no longer lists goes.
    entry = commit_via(warehouse, "P", A, [X_LATER])
    assert (entry.records, entry.rejected, entry.reconciled) == (1, 0, True)
    assert rows_of(warehouse, CALLS) == [("X", at("2026-03-01 10:07"))]
    assert rows_of(warehouse, REJECTED) == []
