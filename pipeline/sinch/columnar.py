"""The vectorised fast path of page parsing: a page's call objects typed column by column.

:func:`~pipeline.sinch.parsing.parse_call` types one record at a time (~15 µs a call with the
Arrow build). Here a page's records are pulled apart into one Python list per field (a C-speed
``dict.get`` per value), and every column is typed, checked and normalised with Polars/NumPy
expressions over the whole page: timestamps, upper-cased enums, E.164 derivation, exact money.

The fast path accepts only values whose result it can compute *exactly as parse_call does*:

* strings of printable ASCII (other text goes to the fallback: Python's ``strip``/``isspace``
  and Rust's differ outside ASCII); ``""``/``"null"``/``"NULL"``/``"None"`` → null as there;
* timestamps ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH[[:]MM])`` with years 1900-2199 and
  in-range fields (a date the calendar lacks, e.g. ``02-30``, and text without an offset fall
  back); the fraction is truncated to microseconds;
* ``direction``/``callResult`` of ASCII letters and ``_`` (upper-cased; ``"NULL"`` is kept, as
  ``parse_call``'s hot path keeps it);
* whole seconds as JSON integers; money as ``{"amount": <float>, "currencyCode": <letters>}``
  or null, where the float is within ±1e9 and its shortest decimal has at most 6 places (so
  that decimal is exact: no rounding to count).

Every other record — non-objects, missing ``callId``/``createTime``, numbers as strings, money
as text, float noise, SIP-style odd values, anything rejected — is returned as a *fallback*
position: :func:`pipeline.sinch.pages.parse_page` parses those with ``parse_call``, so both
paths give identical frames and rejections (``tests/client/test_client_columnar.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from pipeline.sinch.parsing import KNOWN_FIELDS, dump_raw

UTC_TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 6)
_NULL_TEXT = ["", "null", "NULL", "None"]
_PRINTABLE = r"^[\x20-\x7e]*$"
_TS = (
    r"^(?:19|20|21)[0-9][0-9]-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?$"
)
_E164 = r"^(?i:(?:sips?|tel):)?\+?([0-9]+)(?:[@;].*)?$"
_ENUM = r"^[A-Za-z_]+$"
_FLOAT_OR_NONE = {float, type(None)}
_DICT_OR_NONE = {dict, type(None)}
_NO_MONEY: dict[str, Any] = {}  # a null money field, read as an object without keys
_MONEY_LIMIT = 1e9  # below it, distinct 6-decimal amounts are distinct floats (exactness)


class FastRows(NamedTuple):
    """What the fast path typed, and what it left to ``parse_call``.

    Attributes:
        calls: the typed calls (``raw.calls`` columns, ``raw`` excluded; Polars' Arrow
            types, cast them to the schema), in page order.
        positions: each row's index in the page (``int64``, same length as ``calls``).
        fallback: page indexes the fast path could not type exactly, ascending.
        unknown_fields: keys outside ``CALL_FIELDS`` seen on any object of the page.
    """

    calls: pa.Table
    positions: np.ndarray
    fallback: list[int]
    unknown_fields: frozenset[str]


def type_page(items: Sequence[Any], plain_text: bool = False) -> FastRows:
    """Type a page's call objects column by column (see the module docstring).

    Args:
        items: the decoded ``calls`` array (any JSON values).
        plain_text: every string of ``items`` is known to be printable ASCII
            (:func:`plain_text_body`): the per-field check is skipped (~0.25 ms a page).

    Returns:
        The typed rows, their positions and the positions left to the per-record parser.
        Never raises for bad data: an odd value only sends its record to the fallback.
    """
    positions = [i for i, item in enumerate(items) if type(item) is dict]
    dicts = [items[i] for i in positions] if len(positions) < len(items) else list(items)
    unknown = frozenset(set().union(*map(dict.keys, dicts)) - KNOWN_FIELDS)
    if not dicts:
        return FastRows(pa.table({}), np.empty(0, np.int64), list(range(len(items))), unknown)
    bad = np.zeros(len(dicts), dtype=bool)
    source: dict[str, pl.Series] = {}
    for key in _TEXT_FIELDS:
        source[key], wrong = _strings(_column(dicts, key))
        bad |= wrong
    for key, name in _SECONDS_FIELDS:
        source[name] = _seconds(_column(dicts, key), bad)
    for key, name in _MONEY_FIELDS:
        source[name], source[f"{key}.currencyCode"] = _money(_column(dicts, key), bad)
    # Two steps: the flags read the typed columns instead of computing them again. One plan,
    # not optimised: on ~1000 rows Polars' optimiser cost more than it saved (a page 5.1 ->
    # 3.9 ms, bench/README.md "End to end vs dlt", item 4); the expressions are already what
    # should run. The in-memory engine named, not chosen by "auto": 0.09 ms less a plan (1.27
    # -> 1.18 ms on 1000 rows, 0.77 -> 0.68 on one; bench/README.md, third session).
    frame = (
        pl.DataFrame(source)
        .lazy()
        .with_columns(*_TYPED)
        .select(*_TYPED_NAMES, (_FLAGGED_PLAIN if plain_text else _FLAGGED).alias("_odd"))
        .collect(optimizations=_AS_WRITTEN, engine="in-memory")
    )
    bad |= frame.get_column("_odd").to_numpy()
    keep = ~bad
    at = np.asarray(positions, dtype=np.int64)
    if len(positions) == len(items):  # every item an object: the odd ones are the fallback
        fallback = at[bad].tolist()
    else:
        fallback = sorted(set(range(len(items))).difference(positions).union(at[bad].tolist()))
    typed = frame.to_arrow().drop_columns(["_odd"])
    if not keep.all():
        typed = typed.filter(pa.array(keep))
    return FastRows(typed, at[keep], fallback, unknown)


def plain_text_body(body: bytes) -> bool:
    """Whether every string a JSON body decodes to is printable ASCII (0x20 to 0x7e).

    True when the bytes are ASCII without ``DEL`` and without a backslash: JSON forbids raw
    control characters in strings (the decoder refuses them), so only an escape could make one.
    """
    return body.isascii() and b"\\" not in body and b"\x7f" not in body


def _column(dicts: list[dict[str, Any]], key: str) -> list[Any]:
    """``[d.get(key) for d in dicts]``, looped in C (``map``).

    1.02 against 1.58 ms for the 16 fields of a 1000-call page (bench/README.md, "End to end
    vs dlt": "Where a parser's ~21 ms a 1000-call page goes").
    """
    return list(map(dict.get, dicts, repeat(key)))


def raw_texts(items: Sequence[Any]) -> pa.Array:
    """Each record re-serialised as compact JSON (``dump_raw``), as an Arrow string array."""
    try:
        dumped = [orjson.dumps(item) for item in items]
    except TypeError:  # a value orjson cannot write (never from orjson.loads): as parse_call
        dumped = [dump_raw(item).encode() for item in items]
    return pa.array(dumped, pa.binary()).cast(pa.string())


def _strings(values: list[Any]) -> tuple[pl.Series, np.ndarray]:
    """``values`` as a String series; non-strings become null and are flagged (mask)."""
    try:
        return pl.Series(values, dtype=pl.String, strict=True), np.zeros(len(values), bool)
    except (TypeError, pl.exceptions.PolarsError):
        wrong = np.array([v is not None and type(v) is not str for v in values], dtype=bool)
        cleaned = [v if type(v) is str else None for v in values]
        return pl.Series(cleaned, dtype=pl.String), wrong


def _null_text(c: pl.Expr) -> pl.Expr:
    return c.is_in(_NULL_TEXT).fill_null(False)


def _opaque(key: str) -> tuple[pl.Expr, pl.Expr]:
    """An opaque string field (``from``, ``trunkId``...): kept as sent, blanks → null.

    Returns the value and the odd flag (text outside printable ASCII, where Python's
    ``isspace`` and Rust's whitespace differ).
    """
    c = pl.col(key)
    blank = _null_text(c) | (c.str.strip_chars(" ") == "").fill_null(False)
    return pl.when(blank).then(None).otherwise(c), ~c.str.contains(_PRINTABLE).fill_null(True)


def _e164(key: str) -> pl.Expr:
    """``+digits`` when the number's user part is all digits (``parsing.to_e164``), else null."""
    return pl.lit("+") + pl.col(key).str.strip_chars(" ").str.extract(_E164, 1)


def _enum(key: str) -> tuple[pl.Expr, pl.Expr]:
    """``direction``/``callResult``: upper-cased; null-like text → null (``"NULL"`` is kept)."""
    c = pl.col(key)
    nullish = c.is_in(["", "null", "None"]).fill_null(False)
    odd = ~c.str.contains(_ENUM).fill_null(True) & ~nullish
    return pl.when(nullish).then(None).otherwise(c.str.to_uppercase()), odd


def _timestamp(key: str, name: str) -> tuple[pl.Expr, pl.Expr]:
    """ISO-8601 text → UTC ``Datetime(us)``; null-like text → null; other text is odd.

    One ``strptime`` (``%#z`` reads ``Z``, ``±HH``, ``±HHMM``, ``±HH:MM``) on text that matches
    :data:`_TS`; text without an offset, or a date the calendar lacks, reads as null and is
    odd (``parse_call`` decides).
    """
    c = pl.col(key)
    value = c.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False)
    unread = ~c.str.contains(_TS).fill_null(True) | pl.col(name).is_null()
    return value, (unread & c.is_not_null() & ~_null_text(c)).fill_null(True)


def _typed_columns() -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
    """The expressions typing a page (``raw.calls`` order, ``raw`` excluded) and the odd flag.

    Returns:
        The typed columns, the odd flag, and the odd flag without the printable-ASCII checks
        of the opaque fields (for a page whose text is known to be printable ASCII).
    """
    odd: list[pl.Expr] = []
    unprintable: list[pl.Expr] = []
    typed: dict[str, pl.Expr] = {}
    call_id = pl.col("callId")
    typed["call_id"] = call_id
    unprintable.append(_opaque("callId")[1])
    odd.append(_null_text(call_id) | (call_id.str.strip_chars(" ") == "").fill_null(True))
    for key, name in (("createTime", "create_time"), ("answerTime", "answer_time")):
        typed[name], flag = _timestamp(key, name)
        odd.append(flag)
    typed["end_time"], flag = _timestamp("endTime", "end_time")
    odd += [flag, pl.col("create_time").is_null()]
    for key, name in (("direction", "direction"), ("callResult", "call_result")):
        typed[name], flag = _enum(key)
        odd.append(flag)
    for key, name in (("from", "from_number"), ("to", "to_number")):
        typed[name], flag = _opaque(key)
        unprintable.append(flag)
    typed["from_e164"], typed["to_e164"] = _e164("from"), _e164("to")
    for key, name in (("trunkId", "trunk_id"), ("projectId", "project_id")):
        typed[name], flag = _opaque(key)
        unprintable.append(flag)
    typed["duration_seconds"] = pl.col("duration_seconds")
    typed["billing_duration_seconds"] = pl.col("billing_duration_seconds")
    for key, name in _MONEY_FIELDS:
        currency = pl.col(f"{key}.currencyCode")
        typed[name] = pl.col(name)
        typed[f"{name}_currency"] = (
            pl.when(currency == "").then(None).otherwise(currency.str.to_uppercase())
        )
        odd.append(~currency.str.contains(r"^[A-Za-z]*$").fill_null(True))
    columns = [e.alias(n) for n, e in typed.items()]
    return (
        columns,
        pl.any_horizontal([*odd, *unprintable]).fill_null(True),
        pl.any_horizontal(odd).fill_null(True),
    )


_TEXT_FIELDS = ("callId", "createTime", "answerTime", "endTime", "direction", "callResult",
                "from", "to", "trunkId", "projectId")  # fmt: skip
_SECONDS_FIELDS = (
    ("durationSeconds", "duration_seconds"),
    ("billingDurationSeconds", "billing_duration_seconds"),
)
_MONEY_FIELDS = (("pricePerMinute", "price_per_minute"), ("price", "price"))
_TYPED, _FLAGGED, _FLAGGED_PLAIN = _typed_columns()
_TYPED_NAMES = [e.meta.output_name() for e in _TYPED]
_AS_WRITTEN = pl.QueryOptFlags.none()


def _seconds(values: list[Any], bad: np.ndarray) -> pl.Series:
    """Whole seconds: JSON integers only (``"45"``, ``45.0``, booleans... flagged)."""
    array = _inferred(values)
    if array is None or not (pa.types.is_int64(array.type) or pa.types.is_null(array.type)):
        ok = [v is None or (type(v) is int and -(2**62) < v < 2**62) for v in values]
        bad |= ~np.array(ok, dtype=bool)
        kept = [v if fits else None for v, fits in zip(values, ok, strict=True)]
        array = pa.array(kept, pa.int64())
    return pl.Series(array.cast(pa.int64()))


def _inferred(values: list[Any]) -> pa.Array | None:
    """Arrow's own typing of ``values``; None when it fails or a boolean is among them.

    Arrow reads ``True`` among numbers as 1: ``parse_call`` rejects it, so no boolean may
    pass here.
    """
    if bool in set(map(type, values)):
        return None
    try:
        return pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError):
        return None


def _money(values: list[Any], bad: np.ndarray) -> tuple[pl.Series, pl.Series]:
    """``{"amount": number, "currencyCode": letters}`` or null → (``decimal(18, 6)``, currency).

    Only JSON floats (and null) are typed here; an amount sent as an int, text or anything
    else, and money that is not an object, is odd (``parse_call`` reads it).
    """
    if set(map(type, values)) <= _DICT_OR_NONE:  # the usual page: null when not answered
        objects = values if None not in values else [v or _NO_MONEY for v in values]
        amounts = _column(objects, "amount")
        codes = _column(objects, "currencyCode")
    else:
        bad |= np.array([v is not None and type(v) is not dict for v in values], dtype=bool)
        amounts = [v.get("amount") if type(v) is dict else None for v in values]
        codes = [v.get("currencyCode") if type(v) is dict else None for v in values]
    currency, wrong = _strings(codes)
    bad |= wrong
    try:  # the usual page: floats and nulls only (a bool, an int or text raises)
        array = pa.array(amounts, pa.float64(), from_pandas=False)
        if not set(map(type, amounts)) <= _FLOAT_OR_NONE:
            raise TypeError
    except (pa.ArrowException, OverflowError, TypeError):
        bad |= np.array([v is not None and type(v) is not float for v in amounts], dtype=bool)
        array = pa.array([v if type(v) is float else None for v in amounts], pa.float64())
    present = array.is_valid().to_numpy(zero_copy_only=False)
    floats = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore", over="ignore"):
        small = np.abs(np.nan_to_num(floats, nan=0.0)) < _MONEY_LIMIT
        scaled = np.rint(np.where(small, floats, 0.0) * 1e6)
        exact = (scaled / 1e6) == floats
    bad |= present & ~(small & exact)
    unscaled = np.where(present & small, scaled, 0.0).astype(np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = unscaled >> 63  # sign extension: a little-endian 128-bit integer
    validity = pa.array(present).buffers()[1]
    decimals = pa.Array.from_buffers(MONEY, len(values), [validity, pa.py_buffer(words)])
    return pl.Series(decimals), currency
