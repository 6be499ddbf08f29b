"""Parse one page of the calls export (CSV) into rows of ``raw.call_details``, cut to a window.

``GET /v1/projects/{projectId}/calls/export`` answers CSV (docs/api-reference.md §4, pitfall
18): a header line naming 26 columns, every field quoted, empty as ``""``, the literal
``"null"``, money as ``"0.0000 USD"``, CRLF or LF line endings, perhaps a trailing newline.
Read with Python's :mod:`csv` (RFC 4180 quoting; quoted fields may hold commas, doubled quotes
and line breaks), so an unquoted row reads as well as a quoted one.

What comes out (:class:`ParsedExport`):

* ``details``: an Arrow table typed as ``raw.call_details`` minus the ingestion columns
  (:data:`DETAILS_ARROW_SCHEMA`), only rows with ``start <= Timestamp < end``;
* ``rejected``: every row that cannot be read, with its reason (``field count 15, header has
  26``, ``Timestamp: unparseable …``, ``SIP Response Code: 'abc' is not an integer``) and the
  record as sent: never dropped silently; a record cut short keeps the Call Id it still has
  (a field count other than the header's: ``_miscounted_key`` says what is read and why);
* ``outside_window``: readable rows created outside the window (the server's inclusive
  bounds; the client asks one second early), counted, not landed;
* ``new_columns`` / ``missing_columns``: header names this parser does not know (kept in
  ``raw_line`` only) and known ones the header lacks (their columns are NULL). A header
  without ``Timestamp`` or ``Call Id`` is an :class:`~pipeline.sinch.errors.ResponseFormatError`.

Values: ``""``, ``null`` (any case) → NULL; ``MOS`` ``0.0`` (no media measured) → NULL;
booleans ``true``/``false`` (any case); integers as digits (``"200"``, ``"200.0"``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from pipeline.sinch.errors import ResponseFormatError
from pipeline.sinch.models import RejectedRecord
from pipeline.sinch.parsing import FieldError, parse_timestamp

UTC_TS = pa.timestamp("us", tz="UTC")
INT32_MAX = 2**31 - 1

#: The export's columns as Sinch documents them, in order (api-reference §4).
EXPORT_COLUMNS: tuple[str, ...] = (
    "Timestamp", "Call Id", "Answer Time", "End Time", "From", "To", "Trunk Id", "Trunk Name",
    "Direction", "Duration (s)", "Result", "To Country", "From Country", "Is Emergency Call",
    "Price Per Minute", "Cost", "Cause Code", "SIP Response Code", "Region", "MOS", "Transport",
    "Port", "Project Id", "Group Id", "Relationship Type", "Has Children",
)  # fmt: skip

#: ``raw.call_details`` column → (export column, kind). Columns not listed here (times, numbers,
#: money of the call list) stay in ``raw_line``; ``raw.calls`` has them typed.
DETAIL_FIELDS: dict[str, tuple[str, str]] = {
    "call_id": ("Call Id", "id"),
    "project_id": ("Project Id", "text"),
    "create_time": ("Timestamp", "time"),
    "sip_response_code": ("SIP Response Code", "int"),
    "cause_code": ("Cause Code", "int"),
    "mos": ("MOS", "mos"),
    "region": ("Region", "text"),
    "from_country": ("From Country", "text"),
    "to_country": ("To Country", "text"),
    "is_emergency": ("Is Emergency Call", "bool"),
    "group_id": ("Group Id", "text"),
    "relationship_type": ("Relationship Type", "text"),
    "has_children": ("Has Children", "bool"),
    "transport": ("Transport", "text"),
    "port": ("Port", "int"),
    "trunk_name": ("Trunk Name", "text"),
}

_ARROW_TYPES = {
    "id": pa.string(),
    "text": pa.string(),
    "time": UTC_TS,
    "int": pa.int32(),
    "mos": pa.float64(),
    "bool": pa.bool_(),
}

#: Arrow schema of parsed export rows: ``raw.call_details`` (sql/schema/raw_details.sql) up to
#: ``raw_line``; the writer adds ``window_start``, ``window_end`` and ``fetched_at``.
DETAILS_ARROW_SCHEMA = pa.schema(
    [(name, _ARROW_TYPES[kind]) for name, (_col, kind) in DETAIL_FIELDS.items()]
    + [("raw_line", pa.string())]
)

_REQUIRED = ("Timestamp", "Call Id")
_NULLS = ("", "null")
#: How far past a window its request reaches (:func:`~pipeline.sinch.windows.request_bounds`).
_SLACK = timedelta(seconds=1)


@dataclass(slots=True)
class ParsedExport:
    """One export page, parsed and cut to a window ``[start, end)``.

    Attributes:
        details: rows inside the window (:data:`DETAILS_ARROW_SCHEMA`).
        rejected: rows that could not be read, with reason and the record as sent.
        outside_window: readable rows created outside the window.
        rows: data records on the page (all of them: landed, rejected or outside).
        keys: each data record's text in order (compared with the previous page's to catch
            a server that ignores ``page``).
        new_columns: header names this parser does not know.
        missing_columns: known export columns the header lacks.
    """

    details: pa.Table
    rejected: list[RejectedRecord]
    outside_window: int
    rows: int
    keys: list[str] = field(default_factory=list)
    new_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()


def decode_body(body: bytes) -> str:
    """The body as text: UTF-8 (a byte-order mark dropped), undecodable bytes replaced."""
    return body.decode("utf-8-sig", "replace")


def _records(text: str) -> Iterator[tuple[list[str], str]]:
    """``(fields, record as sent without its line ending)`` for each CSV record of ``text``.

    Blank lines are skipped; a quoted field may span lines (its record spans them too).

    Raises:
        ResponseFormatError: the csv module gave up (a field over its size limit).
    """
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), strict=False)
    try:
        for row in reader:
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            if row:
                yield row, raw
    except csv.Error as exc:  # e.g. a field beyond csv.field_size_limit() (128 KiB)
        raise ResponseFormatError(
            f"the export's CSV could not be read after {reader.line_num} lines: {exc}", status=200
        ) from None


def parse_export(body: bytes, start: datetime, end: datetime, url: str = "") -> ParsedExport:
    """Parse one export page (header line, then records) cut to ``[start, end)``.

    Args:
        body: the CSV as received.
        start: the window's start (aware UTC, inclusive).
        end: the window's end (exclusive).
        url: for error messages.

    Returns:
        The :class:`ParsedExport`. A body with a header and no record is an empty page.

    Raises:
        ResponseFormatError: the body has no header line, or the header lacks ``Timestamp``
            or ``Call Id`` (the export changed shape: nothing can be keyed or placed in time),
            or a field is beyond the csv module's size limit (128 KiB).
    """
    records = _records(decode_body(body))
    first = next(records, None)
    if first is None:
        raise ResponseFormatError(
            "the export answered an empty body (no CSV header line)", status=200, url=url
        )
    header = [name.strip() for name in first[0]]
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    absent = [name for name in _REQUIRED if name not in index]
    if absent:
        raise ResponseFormatError(
            f"the export's header lacks {', '.join(map(repr, absent))}; it has "
            f"{len(header)} columns: {', '.join(header)[:300]}",
            status=200, url=url, body=first[1][:500],
        )  # fmt: skip
    parsed = ParsedExport(
        DETAILS_ARROW_SCHEMA.empty_table(),
        [],
        0,
        0,
        new_columns=tuple(name for name in header if name not in EXPORT_COLUMNS),
        missing_columns=tuple(name for name in EXPORT_COLUMNS if name not in index),
    )
    columns: dict[str, list[Any]] = {name: [] for name in DETAILS_ARROW_SCHEMA.names}
    for fields, raw in records:
        parsed.rows += 1
        parsed.keys.append(raw)
        _add_row(fields, raw, header, index, start, end, columns, parsed)
    parsed.details = _to_arrow(columns, parsed.rejected)
    return parsed


def _add_row(
    fields: list[str],
    raw: str,
    header: list[str],
    index: dict[str, int],
    start: datetime,
    end: datetime,
    columns: dict[str, list[Any]],
    parsed: ParsedExport,
) -> None:
    """Append one record to ``columns``, or to ``parsed.rejected`` / ``outside_window``."""
    if len(fields) != len(header):
        created, call_id = _miscounted_key(fields, header, index, start, end)
        if created is not None and not start <= created < end:
            parsed.outside_window += 1  # the neighbouring window keeps (rejects) it
        else:
            reason = f"field count {len(fields)}, header has {len(header)}"
            parsed.rejected.append(RejectedRecord(reason, raw, call_id))
        return
    call_id = fields[index["Call Id"]].strip() or None
    try:
        row = {name: _value(fields, index, *spec) for name, spec in DETAIL_FIELDS.items()}
    except FieldError as exc:
        created = _readable_time(fields[index["Timestamp"]])
        if created is not None and not start <= created < end:
            parsed.outside_window += 1  # the neighbouring window keeps it
        else:
            parsed.rejected.append(RejectedRecord(str(exc)[:300], raw, call_id))
        return
    if not start <= row["create_time"] < end:
        parsed.outside_window += 1
        return
    row["raw_line"] = raw
    for name, value in row.items():
        columns[name].append(value)


def _miscounted_key(
    fields: list[str], header: list[str], index: dict[str, int], start: datetime, end: datetime
) -> tuple[datetime | None, str | None]:
    """``(Timestamp, Call Id)`` of a record whose field count is not the header's, where safe.

    Either may be None (unsafe to read, absent, empty or unparseable). The caller places the
    record with the time as for any rejected record: outside ``[start, end)`` it is counted
    ``outside_window`` (the window it falls in rejects it), so a record at a window boundary,
    sent to both windows (the request's bounds are inclusive), is rejected once, not twice.

    * SHORT record (fewer fields): the export cut its end (the fields it still has are where
      the header says), so both are read by their header index when the record reaches it;
      the Call Id only when the Timestamp reads as a time within a second of the window: the
      second piece of a row split by an unquoted newline is short too, its fields shifted
      (its "Call Id" is another column's value, which would match, and so drop, other
      rejected rows).
    * LONG record (more fields): an unquoted comma inside some field shifts every field after
      it, so no position is trusted but the first: Call Id stays None; the Timestamp is read
      only when it is the header's first column and its time lies within a second of the
      window (the request's bounds: a time beyond them is a misread, e.g. a prefix of a
      Timestamp split by its own comma, and no window would keep that record).
    """
    ts, cid = index["Timestamp"], index["Call Id"]
    if len(fields) < len(header):
        created = _readable_time(fields[ts]) if ts < len(fields) else None
        placed = created is not None and start - _SLACK <= created < end + _SLACK
        call_id = (fields[cid].strip() or None) if placed and cid < len(fields) else None
        if call_id is not None and call_id.lower() == "null":
            call_id = None
        return created, call_id
    created = _readable_time(fields[0]) if ts == 0 else None
    if created is not None and not start - _SLACK <= created < end + _SLACK:
        created = None
    return created, None


def _readable_time(text: str) -> datetime | None:
    try:
        return parse_timestamp(text.strip(), "Timestamp")
    except FieldError:
        return None


def _value(fields: list[str], index: dict[str, int], column: str, kind: str) -> Any:
    """The typed value of ``column`` (None when absent from the header, empty or ``null``).

    Raises:
        FieldError: naming the column and the value.
    """
    i = index.get(column)
    text = fields[i].strip() if i is not None else ""
    if text.lower() in _NULLS:
        if kind in ("id", "time"):
            raise FieldError(f"{column}: missing")
        return None
    if kind in ("id", "text"):
        return text
    if kind == "time":
        try:
            return parse_timestamp(text, column)
        except FieldError:
            raise FieldError(f"{column}: unparseable {text[:60]!r}") from None
    if kind == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise FieldError(f"{column}: {text[:60]!r} is not true or false")
    if kind == "int":
        return _int(text, column)
    return _mos(text, column)


def _int(text: str, column: str) -> int:
    try:
        number = float(text)
    except ValueError:
        raise FieldError(f"{column}: {text[:60]!r} is not an integer") from None
    if not number.is_integer() or abs(number) > INT32_MAX:
        raise FieldError(f"{column}: {text[:60]!r} is not an integer in range")
    return int(number)


def _mos(text: str, column: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        raise FieldError(f"{column}: {text[:60]!r} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 5.0:
        raise FieldError(f"{column}: {text[:60]!r} is outside 0-5")
    return None if number == 0.0 else number  # 0.0: no media measured


def _to_arrow(columns: dict[str, list[Any]], rejected: list[RejectedRecord]) -> pa.Table:
    """The columns as a :data:`DETAILS_ARROW_SCHEMA` table.

    A row Arrow cannot hold (not expected: every value was checked) is rejected, not the page.
    """
    try:
        return pa.Table.from_pydict(columns, schema=DETAILS_ARROW_SCHEMA)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        pass
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    kept: list[dict[str, Any]] = []
    for row in rows:
        try:
            pa.Table.from_pylist([row], schema=DETAILS_ARROW_SCHEMA)
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            reason = f"record: a value does not fit raw.call_details ({exc})"[:300]
            rejected.append(RejectedRecord(reason, row["raw_line"], row["call_id"]))
        else:
            kept.append(row)
    return pa.Table.from_pylist(kept, schema=DETAILS_ARROW_SCHEMA)
