"""Parse one page of call objects into an Arrow table cut to a window.

The same function runs in the fetching thread (:func:`parse_page`) or, for large backfills, in
a worker process that decodes the page body itself (:func:`decode_calls_page`: the envelope,
the call ids for the stop rules and the parsed page), so neither decoding nor parsing competes
with HTTP and DuckDB for the GIL (see :mod:`pipeline.ingest.parsers`).

The table has the columns and types of ``raw.calls`` (:data:`CALLS_ARROW_SCHEMA`): UTC
``timestamp[us]``, exact ``decimal128(18, 6)`` money, whole-second ``int64`` durations.

:func:`parse_page` types the page with column expressions (:mod:`pipeline.sinch.columnar`)
and parses only the records that path cannot type exactly with ``parse_call``;
:func:`parse_page_per_record` is the per-record reference it is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.sinch.columnar import MONEY, UTC_TS, plain_text_body, raw_texts, type_page
from pipeline.sinch.errors import ResponseFormatError
from pipeline.sinch.models import CallRecord, RejectedRecord
from pipeline.sinch.paging import DecodedPage, read_envelope
from pipeline.sinch.parsing import (
    FieldError,
    parse_call,
    parse_timestamp,
    rounded_amounts,
    unknown_fields,
)

#: Arrow schema of parsed calls; names and order follow ``raw.calls`` in ``sql/schema/raw.sql``.
CALLS_ARROW_SCHEMA = pa.schema(
    [
        ("call_id", pa.string()),
        ("create_time", UTC_TS),
        ("answer_time", UTC_TS),
        ("end_time", UTC_TS),
        ("direction", pa.string()),
        ("call_result", pa.string()),
        ("from_number", pa.string()),
        ("to_number", pa.string()),
        ("from_e164", pa.string()),
        ("to_e164", pa.string()),
        ("trunk_id", pa.string()),
        ("project_id", pa.string()),
        ("duration_seconds", pa.int64()),
        ("billing_duration_seconds", pa.int64()),
        ("price_per_minute", MONEY),
        ("price_per_minute_currency", pa.string()),
        ("price", MONEY),
        ("price_currency", pa.string()),
        ("raw", pa.string()),
    ]
)

_TYPED_FIELDS = list(CALLS_ARROW_SCHEMA)[:-1]  # every column but ``raw``

# CallRecord is a named tuple in raw.calls column order: records transpose into columns.
assert CallRecord._fields == tuple(CALLS_ARROW_SCHEMA.names), "CallRecord must follow raw.calls"


def records_to_arrow(records: Sequence[CallRecord]) -> pa.Table:
    """Columnar copy of parsed records, typed as ``raw.calls`` (UTC timestamps, exact money)."""
    if not records:
        return CALLS_ARROW_SCHEMA.empty_table()
    columns = zip(*records, strict=True)  # one tuple per field, in schema order
    return pa.Table.from_arrays(
        [
            pa.array(column, type=f.type)
            for column, f in zip(columns, CALLS_ARROW_SCHEMA, strict=True)
        ],
        schema=CALLS_ARROW_SCHEMA,
    )


def table_to_records(table: pa.Table) -> list[CallRecord]:
    """The rows of a :data:`CALLS_ARROW_SCHEMA` table as :class:`CallRecord` tuples."""
    columns = [table.column(name).to_pylist() for name in CALLS_ARROW_SCHEMA.names]
    return [CallRecord._make(row) for row in zip(*columns, strict=True)]


class ParsedPage(NamedTuple):
    """One page of call objects, parsed and cut to a window ``[start, end)``.

    Attributes:
        calls: parsed calls with ``start <= create_time < end`` (:data:`CALLS_ARROW_SCHEMA`).
        rejected: records that could not be parsed, whatever their time, except those whose
            readable ``createTime`` puts them in a neighbouring window (that window keeps them).
        outside_window: calls left out because ``create_time`` is outside the window (the
            server's inclusive upper bound, or fractions of a second; api-reference pitfall 3).
        unknown_fields: call keys not in ``CALL_FIELDS`` seen on the page.
        rounded_amounts: money amounts sent as JSON numbers with more than 6 decimals (float
            noise), rounded to 6.
    """

    calls: pa.Table
    rejected: list[RejectedRecord]
    outside_window: int
    unknown_fields: frozenset[str]
    rounded_amounts: int = 0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle ``calls`` as one Arrow IPC stream (a parser process sends every page back).

        Pickling the table itself rebuilt each of its 19 arrays in Python on both sides:
        0.32 + 0.15 ms a 1000-call page against 0.16 + 0.08 (bench/README.md, "End to end
        vs dlt, 2026-12-07, fourth session"). Unpickled, the table reads the stream's buffer
        without a copy.
        """
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.calls.schema) as stream:
            stream.write_table(self.calls)
        return _unpickle_parsed_page, (sink.getvalue(), *self[1:])


def _unpickle_parsed_page(calls: pa.Buffer, *rest: Any) -> ParsedPage:
    return ParsedPage(pa.ipc.open_stream(calls).read_all(), *rest)


def parse_page(
    items: Sequence[Any], start: datetime, end: datetime, plain_text: bool = False
) -> ParsedPage:
    """Parse a page's ``calls`` array: vectorised, with ``parse_call`` for the odd records.

    :func:`pipeline.sinch.columnar.type_page` types the records it can type exactly with
    column expressions; the rest go through :func:`parse_page_per_record`'s loop. The result
    is identical to :func:`parse_page_per_record` (same rows in page order, same rejections).
    Never raises for bad records: they come back in ``rejected`` with their reason.
    ``plain_text``: the page's strings are known to be printable ASCII (see ``type_page``).
    """
    rounded_amounts(reset=True)
    fast = type_page(items, plain_text)
    positions = fast.positions
    outside = 0
    typed = fast.calls if fast.calls.num_rows else None
    if typed is not None:
        created = typed.column("create_time")
        inside_arrow = pc.and_(pc.greater_equal(created, start), pc.less(created, end))
        inside = inside_arrow.to_numpy()
        outside = int(inside.size - inside.sum())
        if outside:
            typed, positions = typed.filter(inside_arrow), positions[inside]
    kept_items = (
        items if len(positions) == len(items) else list(map(items.__getitem__, positions.tolist()))
    )
    fast_table = _fast_table(typed, kept_items)
    records: list[CallRecord] = []
    rejected: list[RejectedRecord] = []
    slow_items = [items[i] for i in fast.fallback]
    outside_slow, slow_kept = _parse_records(slow_items, start, end, records, rejected)
    if not records:
        table = fast_table
    else:
        slow_table, kept = _to_arrow_keeping_all(records, rejected)
        slow_positions = np.asarray([fast.fallback[slow_kept[k]] for k in kept], np.int64)
        table = pa.concat_tables([fast_table, slow_table])
        order = np.argsort(np.concatenate([positions, slow_positions]), kind="stable")
        table = table.take(pa.array(order))
    return ParsedPage(
        table,
        rejected,
        outside + outside_slow,
        fast.unknown_fields,
        rounded_amounts(reset=True),
    )


def _fast_table(typed: pa.Table | None, items: Sequence[Any]) -> pa.Table:
    """The fast path's typed rows plus each record's ``raw`` text, as ``raw.calls`` columns."""
    if typed is None or not items:
        return CALLS_ARROW_SCHEMA.empty_table()
    arrays = [_as_type(typed.column(f.name), f.type) for f in _TYPED_FIELDS]
    return pa.Table.from_arrays([*arrays, raw_texts(items)], schema=CALLS_ARROW_SCHEMA)


def _as_type(column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """``column`` cast to ``to`` (no cast when it already has that type)."""
    return column if column.type == to else column.cast(to)


def parse_page_per_record(items: Sequence[Any], start: datetime, end: datetime) -> ParsedPage:
    """:func:`parse_page` one record at a time with :func:`~pipeline.sinch.parsing.parse_call`.

    The reference the vectorised path is checked against (and the fallback it uses).
    """
    records: list[CallRecord] = []
    rejected: list[RejectedRecord] = []
    rounded_amounts(reset=True)
    outside, _kept = _parse_records(items, start, end, records, rejected)
    unknown: set[str] = set()
    for item in items:
        extra = unknown_fields(item)
        if extra:
            unknown |= extra
    table, _ = _to_arrow_keeping_all(records, rejected)
    return ParsedPage(table, rejected, outside, frozenset(unknown), rounded_amounts(reset=True))


def _parse_records(
    items: Sequence[Any],
    start: datetime,
    end: datetime,
    records: list[CallRecord],
    rejected: list[RejectedRecord],
) -> tuple[int, list[int]]:
    """``parse_call`` each item; append calls in ``[start, end)`` and rejections in order.

    Returns:
        The count of calls outside the window, and the index in ``items`` of each record
        appended to ``records``.
    """
    outside = 0
    kept: list[int] = []
    for index, item in enumerate(items):
        parsed = parse_call(item)
        if isinstance(parsed, CallRecord):
            if start <= parsed.create_time < end:
                records.append(parsed)
                kept.append(index)
            else:
                outside += 1
        elif _created_outside(item, start, end):
            # Rejected for another field, but its createTime puts it in the neighbouring
            # window (the server's inclusive upper bound): that window keeps it, or it would
            # be rejected twice.
            outside += 1
        else:
            rejected.append(parsed)
    return outside, kept


def _to_arrow_keeping_all(
    records: list[CallRecord], rejected: list[RejectedRecord]
) -> tuple[pa.Table, list[int]]:
    """:func:`records_to_arrow`, but a record Arrow cannot hold is rejected, not the page.

    Such a record is appended to ``rejected`` with the reason.

    ``parse_call`` keeps values within the column types; this is the safety net that keeps a
    value it did not foresee from failing the whole page, and the window, on every re-run.

    Returns:
        The table, and the index in ``records`` of each of its rows.
    """
    try:
        return records_to_arrow(records), list(range(len(records)))
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        pass
    kept: list[int] = []
    for index, record in enumerate(records):
        try:
            records_to_arrow([record])
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            reason = f"record: a value does not fit raw.calls ({exc})"[:200]
            rejected.append(RejectedRecord(reason=reason, raw=record.raw, call_id=record.call_id))
        else:
            kept.append(index)
    return records_to_arrow([records[i] for i in kept]), kept


def parse_page_body(body: bytes, data_key: str, start: datetime, end: datetime) -> ParsedPage:
    """:func:`parse_page` of the list under ``data_key`` in a JSON body the client validated."""
    items = orjson.loads(body)[data_key]
    if not isinstance(items, list):  # the client validated it; a worker must not guess
        msg = f"`{data_key}` is not a list"
        raise TypeError(msg)
    return parse_page(items, start, end, plain_text_body(body))


def call_id_key(item: Any) -> str | None:
    """A call object's ``callId`` when it is a string (for distinct counts)."""
    if type(item) is dict:
        value = item.get("callId")
        if type(value) is str:
            return value
    return None


def call_id_keys(items: Sequence[Any]) -> list[str | None]:
    """``[call_id_key(item) for item in items]``, looped in C for a page of call objects.

    A worker keys every page it parses: 0.12 against 0.16 ms a 1000-call page with the
    per-item function (100 sandbox pages, one process).
    """
    try:
        ids = list(map(dict.get, items, repeat("callId")))
    except TypeError:  # an item that is not an object
        return [call_id_key(item) for item in items]
    if set(map(type, ids)) <= {str}:
        return ids
    return [value if type(value) is str else None for value in ids]


def decode_calls_page(
    body: bytes, start: datetime, end: datetime, unused_above: int | None
) -> DecodedPage | None:
    """A ``/calls`` answer decoded and parsed at once (what a worker process runs).

    Returns the :class:`~pipeline.sinch.paging.DecodedPage` without ``items`` (the caller
    needs only the keys and the envelope): ``keys`` are the call ids, ``sameness`` the keys
    when every item has one (else the page's JSON with sorted keys), ``parsed`` the
    :class:`ParsedPage` cut to ``[start, end)``, or None when ``totalItems`` is above
    ``unused_above`` (the page will not be used). Returns None when the body is not a valid
    list answer: the caller decodes it again to raise the error with its URL.
    """
    try:
        items, total, reported = read_envelope(body, "calls", "")
    except ResponseFormatError:
        return None
    keys = call_id_keys(items)
    sameness = keys if None not in keys else orjson.dumps(items, option=orjson.OPT_SORT_KEYS)
    unused = unused_above is not None and total is not None and total > unused_above
    parsed = None if unused else parse_page(items, start, end, plain_text_body(body))
    return DecodedPage(None, keys, total, reported, sameness, parsed)


def _created_outside(item: Any, start: datetime, end: datetime) -> bool:
    """Whether a rejected record has a readable ``createTime`` outside ``[start, end)``."""
    if not isinstance(item, dict):
        return False
    try:
        created = parse_timestamp(item.get("createTime"), "createTime")
    except FieldError:
        return False
    return created is not None and not start <= created < end
