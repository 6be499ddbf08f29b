"""The vectorised fast path of page parsing: a page's call objects typed column by column.

:func:`~pipeline.sinch.parsing.parse_call` types one record at a time (~15 µs a call with the
Arrow build). Here a page's records are pulled apart into one Python list per field (a C-speed
``dict.get`` per value), and every column is typed, checked and normalised with Arrow compute
kernels and NumPy over the whole page: timestamps, upper-cased enums, E.164 derivation, exact
money. Arrow's kernels are called one by one: no query plan to build for a page of ~1,000 rows
(Polars' plan cost ~0.85 ms a page before any row was read; bench/README.md, "End to end vs
dlt, 2026-12-07, fourth session").

The fast path accepts only values whose result it can compute *exactly as parse_call does*:

* strings of printable ASCII (other text goes to the fallback: Python's ``strip``/``isspace``
  and other whitespace rules differ outside ASCII); ``""``/``"null"``/``"NULL"``/``"None"`` →
  null as there;
* timestamps ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH[[:]MM])`` with years 1900-2199 and
  in-range fields (a date the calendar lacks, e.g. ``02-30``, and text without an offset fall
  back); the fraction is truncated to microseconds;
* ``direction``/``callResult`` of ASCII letters and ``_`` (upper-cased; ``"NULL"`` is kept, as
  ``parse_call``'s hot path keeps it);
* whole seconds as JSON integers; money as ``{"amount": <float>, "currencyCode": <letters>}``
  or null, where the float is within ±1e9 and its shortest decimal has at most 6 places (so
  that decimal is exact: no rounding to count), or where the amount is text spelling a plain
  decimal (``"0.0040"``: optional ``-``, 1-12 digits, up to 6 decimals).

Every other record — non-objects, missing ``callId``/``createTime``, seconds as strings, money
as other text (``"0.0040 USD"``, ``"1e3"``), float noise, SIP-style odd values, anything
rejected — is returned as a *fallback*
position: :func:`pipeline.sinch.pages.parse_page` parses those with ``parse_call``, so both
paths give identical frames and rejections (``tests/client/test_client_columnar.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.sinch.parsing import KNOWN_FIELDS, dump_raw

UTC_TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 6)
_NULL_TEXT = pa.array(["", "null", "NULL", "None"])
_NULLISH_ENUM = pa.array(["", "null", "None"])  # "NULL" is kept, as parse_call keeps it
_NO_TEXT = pa.scalar(None, pa.string())
_PRINTABLE = r"^[\x20-\x7e]*$"
#: What the fast path reads as a timestamp: an offset is required (text without one is odd).
_TS = (
    r"^(?:19|20|21)[0-9][0-9]-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)$"
)
_UTC_NS = pa.timestamp("ns", tz="UTC")  # 1677-2262: holds every year _TS accepts
_E164 = r"^(?i:(?:sips?|tel):)?\+?(?P<digits>[0-9]+)(?:[@;].*)?$"
_ENUM = r"^[A-Za-z_]+$"
_CURRENCY = r"^[A-Za-z]*$"
_FLOAT_OR_NONE = {float, type(None)}
_AMOUNT_KINDS = {float, str, type(None)}
_DICT_OR_NONE = {dict, type(None)}
_NO_MONEY: dict[str, Any] = {}  # a null money field, read as an object without keys
#: An amount as text the fast path types: the digits of ``DECIMAL(18, 6)``, nothing else.
_DECIMAL_TEXT = r"^-?[0-9]{1,12}(?:\.[0-9]{1,6})?$"
_MONEY_LIMIT = 1e9  # below it, distinct 6-decimal amounts are distinct floats (exactness)

_TEXT_FIELDS = ("callId", "createTime", "answerTime", "endTime", "direction", "callResult",
                "from", "to", "trunkId", "projectId")  # fmt: skip
_TIME_FIELDS = (("createTime", "create_time"), ("answerTime", "answer_time"),
                ("endTime", "end_time"))  # fmt: skip
_ENUM_FIELDS = (("direction", "direction"), ("callResult", "call_result"))
_OPAQUE_FIELDS = (("from", "from_number"), ("to", "to_number"))
_E164_FIELDS = (("from", "from_e164"), ("to", "to_e164"))
_ID_FIELDS = (("trunkId", "trunk_id"), ("projectId", "project_id"))
_SECONDS_FIELDS = (
    ("durationSeconds", "duration_seconds"),
    ("billingDurationSeconds", "billing_duration_seconds"),
)
_MONEY_FIELDS = (("pricePerMinute", "price_per_minute"), ("price", "price"))


class FastRows(NamedTuple):
    """What the fast path typed, and what it left to ``parse_call``.

    Attributes:
        calls: the typed calls (``raw.calls`` columns and types, ``raw`` excluded), in page
            order.
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
            (:func:`plain_text_body`): the per-field check is skipped.

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
    typed = _typed_texts(dicts, plain_text, bad)
    for key, name in _SECONDS_FIELDS:
        typed[name] = _seconds(_column(dicts, key), bad)
    for key, name in _MONEY_FIELDS:
        typed[name], currency = _money(_column(dicts, key), bad)
        typed[f"{name}_currency"], odd = _currency(currency)
        bad |= odd
    keep = ~bad
    at = np.asarray(positions, dtype=np.int64)
    if len(positions) == len(items):  # every item an object: the odd ones are the fallback
        fallback = at[bad].tolist()
    else:
        fallback = sorted(set(range(len(items))).difference(positions).union(at[bad].tolist()))
    table = pa.Table.from_pydict(typed)
    if not keep.all():
        table = table.filter(pa.array(keep))
    return FastRows(table, at[keep], fallback, unknown)


def _typed_texts(
    dicts: list[dict[str, Any]], plain_text: bool, bad: np.ndarray
) -> dict[str, pa.Array]:
    """The text fields of ``dicts`` typed (``raw.calls`` names); odd rows set in ``bad``."""
    text: dict[str, pa.Array] = {}
    for key in _TEXT_FIELDS:
        text[key], wrong = _strings(_column(dicts, key))
        bad |= wrong
    typed: dict[str, pa.Array] = {"call_id": text["callId"]}
    blank_id = pc.or_(pc.is_in(text["callId"], _NULL_TEXT), _only_spaces(text["callId"]))
    bad |= _mask(blank_id, null_is=True)  # a missing callId is odd too
    for key, name in _TIME_FIELDS:
        typed[name], odd = _timestamp(text[key])
        bad |= odd
    bad |= _mask(typed["create_time"].is_null(), null_is=True)
    for key, name in _ENUM_FIELDS:
        typed[name], odd = _enum(text[key])
        bad |= odd
    for key, name in _OPAQUE_FIELDS:
        typed[name] = _opaque(text[key])
    for key, name in _E164_FIELDS:
        typed[name] = _e164(text[key])
    for key, name in _ID_FIELDS:
        typed[name] = _opaque(text[key])
    if not plain_text:  # Python's and Arrow's whitespace differ outside printable ASCII
        for key in ("callId", "from", "to", "trunkId", "projectId"):
            bad |= ~_mask(pc.match_substring_regex(text[key], _PRINTABLE), null_is=True)
    return typed


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
    # Both encoders write valid UTF-8 (``str.encode`` refuses a lone surrogate), so the bytes
    # are viewed as text, not validated again by a cast (0.05 against 0.11 ms a page).
    return pa.array(dumped, pa.binary()).view(pa.string())


def _mask(condition: pa.Array, null_is: bool) -> np.ndarray:
    """A boolean Arrow array as a NumPy mask, nulls read as ``null_is``."""
    mask: np.ndarray = condition.fill_null(null_is).to_numpy(zero_copy_only=False)
    return mask


def _strings(values: list[Any]) -> tuple[pa.Array, np.ndarray]:
    """``values`` as a string array; non-strings become null and are flagged (mask).

    A string UTF-8 cannot hold (a lone surrogate, never from a JSON body) is flagged too.
    """
    try:
        return pa.array(values, pa.string()), np.zeros(len(values), bool)
    except (pa.ArrowException, TypeError, UnicodeError):
        cleaned = [v if type(v) is str and _encodable(v) else None for v in values]
        pairs = zip(values, cleaned, strict=True)
        wrong = np.array([v is not None and c is None for v, c in pairs], dtype=bool)
        return pa.array(cleaned, pa.string()), wrong


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeError:
        return False
    return True


def _only_spaces(c: pa.Array) -> pa.Array:
    """Whether each text is empty or only ASCII spaces (null stays null)."""
    return pc.equal(pc.utf8_trim(c, " "), "")


def _opaque(c: pa.Array) -> pa.Array:
    """An opaque string field (``from``, ``trunkId``...): kept as sent, blanks → null."""
    blank = _mask(pc.or_(pc.is_in(c, _NULL_TEXT), _only_spaces(c)), null_is=False)
    return pc.if_else(pa.array(blank), _NO_TEXT, c) if blank.any() else c


def _e164(c: pa.Array) -> pa.Array:
    """``+digits`` when the number's user part is all digits (``parsing.to_e164``), else null."""
    digits = pc.struct_field(pc.extract_regex(pc.utf8_trim(c, " "), _E164), [0])
    return pc.binary_join_element_wise("+", digits, "")


def _enum(c: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``direction``/``callResult``: upper-cased; null-like text → null (``"NULL"`` is kept).

    Returns the values and the odd mask (anything but ASCII letters and ``_``).
    """
    nullish = _mask(pc.is_in(c, _NULLISH_ENUM), null_is=False)
    odd = ~_mask(pc.match_substring_regex(c, _ENUM), null_is=True) & ~nullish
    upper = pc.ascii_upper(c)  # the odd values go to parse_call: ASCII is enough here
    return (pc.if_else(pa.array(nullish), _NO_TEXT, upper) if nullish.any() else upper), odd


def _timestamp(c: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """ISO-8601 text → UTC ``timestamp[us]``; null-like text → null; other text is odd.

    Text matching :data:`_TS` (an offset required) is cast by Arrow's ISO-8601 parser, its
    fraction truncated to microseconds; a date the calendar lacks (``02-30``) fails that cast
    and is odd (``parse_call`` decides), as is text without an offset or of another shape.

    Returns the values and the odd mask.
    """
    shaped = _mask(pc.match_substring_regex(c, _TS), null_is=False)
    present = _mask(c.is_valid(), null_is=False) & ~_mask(pc.is_in(c, _NULL_TEXT), False)
    readable = c if shaped.all() else pc.if_else(pa.array(shaped), c, _NO_TEXT)
    values = _utc_micros(readable)
    read = _mask(values.is_valid(), null_is=False)
    return values, present & ~read


def _utc_micros(text: pa.Array) -> pa.Array:
    """Shaped ISO-8601 text (or null) → ``timestamp[us, UTC]``; unreadable text → null.

    Read to nanoseconds (the shape allows 9 fraction digits), then floored to microseconds:
    the digits after the 6th are dropped, as ``parse_call`` drops them, before 1970 too.
    """
    try:
        nanos = pc.cast(text, _UTC_NS)
    except pa.ArrowInvalid:  # a calendar date that does not exist: find it, one by one
        nanos = pa.array([_one_utc_nanos(value) for value in text], _UTC_NS)
    if nanos.offset:
        nanos = pa.concat_arrays([nanos])  # a copy starting at offset 0
    validity, values = nanos.buffers()
    micros = np.floor_divide(np.frombuffer(values, np.int64, len(nanos)), 1000)
    return pa.Array.from_buffers(UTC_TS, len(nanos), [validity, pa.py_buffer(micros)])


def _one_utc_nanos(value: pa.Scalar) -> Any:
    try:
        return pc.cast(value, _UTC_NS).value
    except pa.ArrowInvalid:
        return None


def _currency(c: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A money's ``currencyCode``: upper-cased, ``""`` → null; anything but letters is odd."""
    odd = ~_mask(pc.match_substring_regex(c, _CURRENCY), null_is=True)
    empty = _mask(pc.equal(c, ""), null_is=False)
    upper = pc.ascii_upper(c)
    return (pc.if_else(pa.array(empty), _NO_TEXT, upper) if empty.any() else upper), odd


def _seconds(values: list[Any], bad: np.ndarray) -> pa.Array:
    """Whole seconds: JSON integers only (``"45"``, ``45.0``, booleans... flagged)."""
    array = _inferred(values)
    if array is None or not (pa.types.is_int64(array.type) or pa.types.is_null(array.type)):
        ok = [v is None or (type(v) is int and -(2**62) < v < 2**62) for v in values]
        bad |= ~np.array(ok, dtype=bool)
        kept = [v if fits else None for v, fits in zip(values, ok, strict=True)]
        array = pa.array(kept, pa.int64())
    return array.cast(pa.int64())


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


def _money(values: list[Any], bad: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """``{"amount": number, "currencyCode": letters}`` or null → (``decimal(18, 6)``, currency).

    JSON floats are typed here, and amounts sent as plain decimal text (``"0.0040"``, the API
    before 1.2.0; :data:`_DECIMAL_TEXT`); an amount sent as an int, other text or anything
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
    kinds = set(map(type, amounts))
    texts = None
    if kinds <= _FLOAT_OR_NONE:  # the usual page
        array = pa.array(amounts, pa.float64(), from_pandas=False)
    else:
        if not kinds <= _AMOUNT_KINDS:  # a bool, an int, an object...: parse_call reads it
            odd = [v is not None and type(v) is not float and type(v) is not str for v in amounts]
            bad |= np.array(odd, dtype=bool)
        array = pa.array([v if type(v) is float else None for v in amounts], pa.float64())
        if str in kinds:
            texts = _decimal_texts([v if type(v) is str else None for v in amounts], bad)
    decimals = _exact_decimals(array, bad)
    return (decimals if texts is None else pc.coalesce(decimals, texts)), currency


def _exact_decimals(array: pa.Array, bad: np.ndarray) -> pa.Array:
    """JSON floats (or null) as ``decimal(18, 6)``; a float that is not such a decimal is odd."""
    present = array.is_valid().to_numpy(zero_copy_only=False)
    floats = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore", over="ignore"):
        small = np.abs(np.nan_to_num(floats, nan=0.0)) < _MONEY_LIMIT
        scaled = np.rint(np.where(small, floats, 0.0) * 1e6)
        exact = (scaled / 1e6) == floats
    bad |= present & ~(small & exact)
    unscaled = np.where(present & small, scaled, 0.0).astype(np.int64)
    words = np.empty((len(array), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = unscaled >> 63  # sign extension: a little-endian 128-bit integer
    validity = pa.array(present).buffers()[1]
    return pa.Array.from_buffers(MONEY, len(array), [validity, pa.py_buffer(words)])


def _decimal_texts(texts: list[str | None], bad: np.ndarray) -> pa.Array:
    """Amounts sent as text: those spelling :data:`_DECIMAL_TEXT` as ``decimal(18, 6)``.

    Other text (spaces, exponents, ``"0.0040 USD"``, null-like words, more than 6 decimals)
    is odd: ``parse_call`` decides.
    """
    array = pa.array(texts, pa.string())
    plain = _mask(pc.match_substring_regex(array, _DECIMAL_TEXT), null_is=False)
    bad |= array.is_valid().to_numpy(zero_copy_only=False) & ~plain
    return pc.cast(pc.if_else(pa.array(plain), array, _NO_TEXT), MONEY)
