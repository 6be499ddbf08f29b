"""Window → query parameters: explicit inclusive bounds, second granularity, encodings.

Pins docs/api-reference.md §1 (keys ``createTime>``/``createTime<``, UTC
``YYYY-MM-DDTHH:MM:SSZ``) and pitfalls 1-3, 11, 15: a half-open window is requested as
``[floor(start), ceil(end)]``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from pipeline.sinch.models import Window
from pipeline.sinch.windows import (
    CallFilters,
    check_page_size,
    format_bound,
    in_window,
    request_bounds,
    window_params,
)


def w(start: datetime, end: datetime) -> Window:
    return Window(start, end)


H10 = datetime(2025, 4, 1, 10, tzinfo=UTC)
H11 = datetime(2025, 4, 1, 11, tzinfo=UTC)


def test_hour_window_sends_both_bounds_in_utc_seconds() -> None:
    # The lower bound one second early: a server applying `createTime>=` as strict `>` would
    # otherwise lose the calls of the window's first second; the client cuts to [start, end).
    assert window_params(w(H10, H11), CallFilters()) == [
        ("createTime>", "2025-04-01T09:59:59Z"),
        ("createTime<", "2025-04-01T11:00:00Z"),
    ]


def test_non_utc_window_is_converted_to_utc() -> None:
    cet = timezone(timedelta(hours=2))
    params = window_params(
        w(datetime(2025, 4, 1, 12, tzinfo=cet), datetime(2025, 4, 1, 13, tzinfo=cet))
    )
    assert params[:2] == [
        ("createTime>", "2025-04-01T09:59:59Z"),
        ("createTime<", "2025-04-01T11:00:00Z"),
    ]


def test_fractional_bounds_floor_start_and_round_end_up() -> None:
    start = H10 + timedelta(microseconds=250_000)
    end = H11 - timedelta(microseconds=500_000)  # 10:59:59.5
    lower, upper = request_bounds(w(start, end))
    assert format_bound(lower) == "2025-04-01T09:59:59Z"  # floored, then one second early
    assert format_bound(upper) == "2025-04-01T11:00:00Z"  # rounded UP: 10:59:59.7 not lost


def test_in_window_is_half_open() -> None:
    win = w(H10, H11)
    assert in_window(win, H10)
    assert in_window(win, H11 - timedelta(microseconds=500_000))
    assert not in_window(win, H11)


def test_filters_are_joined_upper_cased_and_encoded_on_the_wire() -> None:
    filters = CallFilters(
        trunk_id="01W4FFL35P4NC4K35SIPTRUNK2",
        call_results=("completed", "BUSY"),
        directions=("inbound", "Outbound"),
        from_prefix="+1440",
        to_prefix="+1201",
    )
    params = window_params(w(H10, H11), filters)
    assert params[2:] == [
        ("trunkId", "01W4FFL35P4NC4K35SIPTRUNK2"),
        ("callResult", "COMPLETED,BUSY"),
        ("direction", "INBOUND,OUTBOUND"),
        ("from", "+1440"),
        ("to", "+1201"),
    ]
    raw = httpx.Request("GET", "https://x.test/calls", params=params).url.query.decode()
    assert raw == (
        "createTime%3E=2025-04-01T09%3A59%3A59Z&createTime%3C=2025-04-01T11%3A00%3A00Z"
        "&trunkId=01W4FFL35P4NC4K35SIPTRUNK2&callResult=COMPLETED%2CBUSY"
        "&direction=INBOUND%2COUTBOUND&from=%2B1440&to=%2B1201"
    )


def test_single_string_filter_is_one_value_and_empty_filters_are_not_sent() -> None:
    assert CallFilters(directions="inbound").directions == ("inbound",)  # type: ignore[arg-type]
    keys = [k for k, _ in window_params(w(H10, H11), CallFilters(trunk_id="", from_prefix=None))]
    assert keys == ["createTime>", "createTime<"]


def test_naive_bound_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_bound(datetime(2025, 4, 1))


@pytest.mark.parametrize("size", [0, -1, 1001, True, 10.0])
def test_page_size_outside_1_to_1000_rejected(size: object) -> None:
    with pytest.raises(ValueError, match="page size"):
        check_page_size(size)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [1, 100, 1000])
def test_page_size_accepted(size: int) -> None:
    assert check_page_size(size) == size
