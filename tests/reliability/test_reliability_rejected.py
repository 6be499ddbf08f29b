"""Rejected records are kept exactly once, like calls (bugs found by this suite).

1. The client asks for ``[start, end]`` with an inclusive upper *second*
   (docs/api-reference.md, pitfall 3) and cuts parsed calls to ``[start, end)``; rejected
   records were kept "whatever their time", so a malformed call created in the first second of
   an hour was rejected by BOTH windows and landed twice in ``raw.rejected_calls``. Fixed in the
   client (a rejected record with a readable createTime outside the window is cut like a call)
   and in the warehouse (one row per callId: a record without a readable createTime cannot be
   placed by the client).
2. A malformed record repeated across pages (the duplicate fault) was staged twice within one
   window and landed twice. Fixed in ``RawCallsWriter.commit_window``.

(The same duplicate fault also exposed a lost-calls bug: the paging loop counted repeated
records towards ``totalItems`` and stopped before the last page; pinned by
``test_reliability_faults.py::...[record-repeated-across-pages]`` and the test below.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reliability_kit import assert_exactly_the_sandbox_calls, ingest, rejected_rows

from pipeline.sandbox.testing import sandbox_server

pytestmark = pytest.mark.integration

#: Call 01M7JZ3VG08GVVVSN6BJDCS72W (seed 20260101) is created at exactly 2026-11-16T20:00:00Z,
#: the boundary second of two hourly windows; these fault seeds make it malformed in each way.
#: (Found again when the sandbox's traffic model changed, issue 14 item 3: the old boundary call
#: 01M7NRC9R0BK0KRSFVSB0X8Q8H no longer exists.)
BOUNDARY_CALL = "01M7JZ3VG08GVVVSN6BJDCS72W"
BOUNDARY_SEEDS = {"impossible-endTime": 4, "missing-createTime": 54, "garbage-createTime": 66}
START = datetime(2026, 11, 16, 19, tzinfo=UTC)
END = START + timedelta(hours=2)


@pytest.mark.parametrize("concurrency", [1, 2])
@pytest.mark.parametrize("fault_seed", BOUNDARY_SEEDS.values(), ids=BOUNDARY_SEEDS.keys())
def test_malformed_call_in_a_boundary_second_is_rejected_once(
    tmp_path: Path, fault_seed: int, concurrency: int
):
    db = tmp_path / "w.duckdb"
    with sandbox_server(malformed_rate=0.05, fault_seed=fault_seed) as sb:
        assert BOUNDARY_CALL in sb.app_state.malformed_call_ids_between(START, END)
        ingest(sb, db, START, END, concurrency=concurrency)
        assert_exactly_the_sandbox_calls(sb, db, START, END)
        # re-ingesting only the earlier window must not bring a second copy back
        ingest(sb, db, START, START + timedelta(hours=1), concurrency=1)
        assert_exactly_the_sandbox_calls(sb, db, START, END)
    assert [r[0] for r in rejected_rows(db)].count(BOUNDARY_CALL) == 1


@pytest.mark.slow
def test_malformed_record_repeated_across_pages_is_rejected_once(tmp_path: Path):
    start, end = datetime(2026, 11, 16, 8, tzinfo=UTC), datetime(2026, 11, 16, 20, tzinfo=UTC)
    db = tmp_path / "w.duckdb"
    with sandbox_server(malformed_rate=0.3, duplicate_rate=1.0) as sb:
        ingest(sb, db, start, end, page_size=20)
        assert sb.app_state.stats["duplicates"] > 50
        assert_exactly_the_sandbox_calls(sb, db, start, end)
