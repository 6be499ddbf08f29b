"""Parse call objects from the calls API into :class:`CallRecord` / :class:`RejectedRecord`.

Tolerates every variant listed in ``docs/api-reference.md`` (§3, pitfalls 11-17):

* ``direction`` / ``callResult`` in either case → upper case (pitfall 11);
* timestamps with ``Z``, ``+0000``, ``+01``, ``+01:00``, no offset (= UTC), 0-9 fraction digits
  (truncated to microseconds), ``""`` / ``null`` / ``"null"`` → None (pitfall 13). Python 3.11's
  ``datetime.fromisoformat`` accepts all of these, so there is no regex on the hot path;
* money ``amount`` as JSON number or string → exact ``Decimal(str(v))`` (pitfall 12); a CSV-style
  ``"0.0040 USD"`` string is split into amount and currency;
* integers that arrive as strings (``"45"``) or integral floats (``45.0``);
* numbers as E.164, bare digits, ``sip:user@host`` or ``user@host:port``: kept as sent, plus a
  derived ``+digits`` form when the user part is all digits (pitfall 14);
* ids are opaque strings (pitfall 16); computed fields are not cross-checked (pitfall 17).

A record that lacks ``callId`` or ``createTime`` or has a value that cannot be read becomes a
:class:`RejectedRecord` whose ``reason`` names the field (``"createTime: missing"``); parsing never
raises for bad data, so one bad record cannot kill a page.

``raw`` choice: the API body is decoded with orjson, which does not keep source offsets, so
``raw`` is the record re-serialised with ``orjson.dumps``: same keys in the same order, same
values, compact separators. JSON numbers are normalised by the float round-trip (``0.0040`` →
``0.004``, ``1e2`` → ``100.0``); the money fields themselves are exact (``Decimal(str(float))``
recovers the shortest repr, which for a 4-decimal amount is the sent value).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import orjson

from pipeline.sinch.models import CALL_FIELDS, CallRecord, RejectedRecord

KNOWN_FIELDS: frozenset[str] = frozenset(CALL_FIELDS)
_NULLS = frozenset(("", "null", "NULL", "None"))


# float/int -> Decimal(str(v)) for money amounts, which repeat (rates per destination).
_DECIMAL_CACHE_SIZE = 4096
_DECIMALS: dict[float, Decimal] = {}


#: Money lands in ``DECIMAL(18, 6)`` (``raw.calls``): at most 6 decimal places and 12 digits
#: before the point. A wider amount is rejected with its reason (before this check it made the
#: whole page fail to land, on every re-run) — except a JSON number (a float), which is rounded
#: to 6 places and counted: float noise must not reject a call.
MONEY_SCALE = 6
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_ONE = Decimal(1)
#: Whole seconds land in BIGINT columns.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_BIG = 2**62  # hot path: ints well inside BIGINT skip parse_int
_notes = threading.local()  # .rounded: money amounts rounded by this thread (rounded_amounts)


class FieldError(ValueError):
    """A field value could not be read; ``str()`` is the rejection reason."""


def dump_raw(obj: Any) -> str:
    """Serialise a decoded JSON value back to compact JSON text (key order kept)."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return repr(obj)


def parse_timestamp(value: Any, field: str = "time") -> datetime | None:
    """Parse an API timestamp into an aware UTC datetime.

    Args:
        value: ISO-8601 text (``2024-06-06T16:57:45+0000``, ``...45.820177628Z``, ``...45``),
            or None / ``""`` / ``"null"``.
        field: field name used in the error message.

    Returns:
        The instant in UTC (microsecond precision; extra fraction digits truncated), or None.

    Raises:
        FieldError: for any other value.
    """
    if value is None:
        return None
    if type(value) is not str:
        raise FieldError(f"{field}: not a string: {value!r}"[:200])
    try:
        parsed = datetime.fromisoformat(value)  # fast path: the usual, clean text
    except ValueError:
        parsed = None
    if parsed is not None:
        tz = parsed.tzinfo
        if tz is UTC:
            return parsed
        if tz is None:
            return parsed.replace(tzinfo=UTC)
        return _to_utc(parsed, value, field)
    text = value.strip()
    if text in _NULLS:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"{field}: unparseable timestamp {value!r}"[:200]) from None
    if parsed.tzinfo is None:  # missing offset means UTC (pitfall 6/13; Node addTimezoneIfMissing)
        return parsed.replace(tzinfo=UTC)
    if parsed.utcoffset():
        return _to_utc(parsed, value, field)
    return parsed if parsed.tzinfo is UTC else parsed.replace(tzinfo=UTC)


def _to_utc(parsed: datetime, value: str, field: str) -> datetime:
    """``parsed`` in UTC; an instant beyond year 1..9999 in UTC is a :class:`FieldError`.

    ``9999-12-31T23:30:00-01:00`` is valid ISO text but falls in year 10000 in UTC: before this
    check the OverflowError escaped ``parse_call`` and failed the window on every re-run.
    """
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise FieldError(f"{field}: out of range in UTC: {value!r}"[:200]) from None


def parse_int(value: Any, field: str) -> int | None:
    """Read an integer sent as a JSON int, an integral float or a digit string.

    Raises:
        FieldError: for booleans, fractional numbers, other text, or a value outside BIGINT.
    """
    result = _parse_int(value, field)
    if result is not None and not INT64_MIN <= result <= INT64_MAX:
        raise FieldError(f"{field}: {value!r} is out of range"[:200])
    return result


def _parse_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(f"{field}: not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise FieldError(f"{field}: not an integer: {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text in _NULLS:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                as_dec = Decimal(text)
            except InvalidOperation:
                as_dec = None
            if as_dec is not None and as_dec.is_finite() and as_dec.adjusted() > 18:
                raise FieldError(f"{field}: {value!r} is out of range"[:200]) from None
            if as_dec is not None and as_dec.is_finite() and as_dec == as_dec.to_integral_value():
                return int(as_dec)
            raise FieldError(f"{field}: not an integer: {value!r}"[:200]) from None
    raise FieldError(f"{field}: not an integer: {value!r}"[:200])


def _read_decimal(value: Any, field: str) -> Decimal | None:
    """The exact decimal a JSON number or a string spells; None for null-like text.

    Raises:
        FieldError: a boolean, or text that is not a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError(f"{field}: not a number: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))  # str(float) is the shortest repr: 0.004 -> '0.004'
    if not isinstance(value, str):
        raise FieldError(f"{field}: not a number: {value!r}"[:200])
    text = value.strip()
    if text in _NULLS:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise FieldError(f"{field}: not a number: {value!r}"[:200]) from None


def parse_decimal(value: Any, field: str) -> Decimal | None:
    """Read an exact money amount from a JSON number or a string (never via float arithmetic).

    Raises:
        FieldError: for booleans, NaN/Infinity, text that is not a number, or an amount that
            does not fit ``DECIMAL(18, 6)`` (more than 6 decimal places or 12 integer digits).
    """
    result = _read_decimal(value, field)
    if result is None:
        return None
    if not result.is_finite():
        raise FieldError(f"{field}: not a finite number: {value!r}")
    # Only context-free operations (adjusted, as_tuple, copy_abs) until the value is known to
    # be small: arithmetic on 1e+1000000 would raise decimal.Overflow out of parse_call.
    if result and result.adjusted() >= 18 - MONEY_SCALE:
        msg = f"{field}: {value!r} has more than {18 - MONEY_SCALE} integer digits"
        raise FieldError(msg[:200])
    exponent = result.as_tuple().exponent
    assert isinstance(exponent, int)  # finite (checked above): never "n", "N" or "F"
    rounded = False
    if exponent < -MONEY_SCALE and result != result.quantize(_MONEY_QUANTUM):
        if type(value) is not float:
            msg = f"{field}: {value!r} has more than {MONEY_SCALE} decimal places"
            raise FieldError(msg[:200])
        # A JSON number is a binary float: 0.0123 computed as a float product arrives as
        # 0.012299999999999998. Its decimal value is the nearest 6-place amount; the record's
        # `raw` keeps the number as sent, and the rounding is counted (rounded_amounts()).
        result = result.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
        _notes.rounded = getattr(_notes, "rounded", 0) + 1
        rounded = True
    if exponent > 0:  # 0E+13, 1E+5: Arrow wants the digits written out
        result = result.quantize(_ONE)
    # Cache floats that were not rounded (a cache hit must not skip the count); not 0.0/-0.0,
    # whose text differs; only valid amounts.
    if type(value) is float and value and not rounded:
        if len(_DECIMALS) >= _DECIMAL_CACHE_SIZE:
            _DECIMALS.clear()
        _DECIMALS[value] = result  # Decimal is immutable: safe to share
    return result


def rounded_amounts(reset: bool = True) -> int:
    """Money amounts this thread rounded to 6 decimals since the last reset (JSON floats)."""
    count: int = getattr(_notes, "rounded", 0)
    if reset:
        _notes.rounded = 0
    return count


def parse_money(value: Any, field: str) -> tuple[Decimal | None, str | None]:
    """Read a Money object ``{"amount": ..., "currencyCode": "USD"}`` (N-MONEY).

    Also accepts a bare amount (number or string) and the CSV form ``"0.0040 USD"``.

    Returns:
        ``(amount, currency)``; each None when absent.

    Raises:
        FieldError: if the amount or currency cannot be read.
    """
    if value is None:
        return None, None
    if type(value) is dict:
        amount_raw = value.get("amount")
        currency = value.get("currencyCode")
        if type(currency) is str and currency.isupper() and currency.isalpha():
            # hot path: {"amount": 0.004, "currencyCode": "USD"}; prices repeat, so cache them.
            # Letters only: " USD" must be stripped as below, cached amount or not.
            cached = _DECIMALS.get(amount_raw) if type(amount_raw) is float else None
            if cached is not None:
                return cached, currency
    if isinstance(value, dict):
        amount_raw = value.get("amount")
        currency = value.get("currencyCode")
    else:
        amount_raw, currency = value, None
    if currency is not None:
        if not isinstance(currency, str):
            raise FieldError(f"{field}.currencyCode: not a string: {currency!r}"[:200])
        currency = currency.strip().upper() or None
    if isinstance(amount_raw, str) and " " in amount_raw.strip():
        number, _, unit = amount_raw.strip().partition(" ")
        unit = unit.strip()
        if unit.isalpha() and len(unit) == 3:
            amount_raw = number
            currency = currency or unit.upper()
    amount = parse_decimal(amount_raw, f"{field}.amount")
    return amount, currency


def _opt_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value if value not in _NULLS and value.strip() else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # opaque value sent as a number: keep its text
    raise FieldError(f"{field}: not a string: {value!r}"[:200])


def _opt_upper(value: Any, field: str) -> str | None:
    if type(value) is str and value.isupper() and value.isalpha():
        return value  # hot path: already "INBOUND" / "COMPLETED"
    text = _opt_str(value, field)
    return text.strip().upper() if text is not None else None


def to_e164(number: str | None) -> str | None:
    """Derive ``+digits`` from a phone field when its user part is all ASCII digits.

    ``"+15551239898"`` → ``"+15551239898"``; ``"12017777777"`` → ``"+12017777777"``;
    ``"sip:12015555555@76.184.202.212"`` → ``"+12015555555"``;
    ``"+14402801402@3cxtest.pstn.sinch.com:5060"`` → ``"+14402801402"``;
    ``"sip:alice@example.com"`` → None. (api-reference §3, pitfall 14; no phonenumbers lookup per
    record, for speed — validity against numbering plans is not checked.)
    """
    if not number:
        return None
    if number[0] == "+" and number[1:].isdigit() and number.isascii():
        return number  # hot path: already E.164
    user = number.strip()
    if ":" in user:
        scheme, _, rest = user.partition(":")
        if scheme.lower() in ("sip", "sips", "tel"):
            user = rest
    user = user.split("@", 1)[0].split(";", 1)[0]
    if user.startswith("+"):
        user = user[1:]
    if user and user.isascii() and user.isdigit():
        return "+" + user
    return None


def parse_call(obj: Any) -> CallRecord | RejectedRecord:
    """Parse one element of the ``calls`` array.

    Args:
        obj: the decoded JSON value (normally a dict with the ``CALL_FIELDS`` keys).

    Returns:
        A :class:`CallRecord`, or a :class:`RejectedRecord` whose ``reason`` names the first bad
        field (``"callId: missing"``, ``"createTime: unparseable timestamp '...'"``,
        ``"record: not a JSON object"``). Never raises for bad data.
    """
    raw = dump_raw(obj)
    if not isinstance(obj, dict):
        return RejectedRecord(reason="record: not a JSON object", raw=raw)
    get = obj.get
    call_id: str | None = None
    try:
        # Hot path: plain non-empty strings are taken as they are; anything else goes through
        # _opt_str (same result, more checks). Keeps per-record work to a few microseconds.
        v = get("callId")
        call_id = v if type(v) is str and v not in _NULLS and not v.isspace() else None
        if call_id is None:
            call_id = _opt_str(v, "callId")
            if not call_id:
                raise FieldError("callId: missing")
        create_time = parse_timestamp(get("createTime"), "createTime")
        if create_time is None:
            raise FieldError("createTime: missing")
        ppm, ppm_currency = parse_money(get("pricePerMinute"), "pricePerMinute")
        price, price_currency = parse_money(get("price"), "price")
        v = get("from")
        from_number = v if type(v) is str and v not in _NULLS else _opt_str(v, "from")
        v = get("to")
        to_number = v if type(v) is str and v not in _NULLS else _opt_str(v, "to")
        v = get("trunkId")
        trunk_id = v if type(v) is str and v not in _NULLS else _opt_str(v, "trunkId")
        v = get("projectId")
        project_id = v if type(v) is str and v not in _NULLS else _opt_str(v, "projectId")
        v = get("durationSeconds")
        duration = v if type(v) is int and -_BIG < v < _BIG else parse_int(v, "durationSeconds")
        v = get("billingDurationSeconds")
        billing = (
            v if type(v) is int and -_BIG < v < _BIG else parse_int(v, "billingDurationSeconds")
        )
        return CallRecord(
            call_id=call_id,
            create_time=create_time,
            answer_time=parse_timestamp(get("answerTime"), "answerTime"),
            end_time=parse_timestamp(get("endTime"), "endTime"),
            direction=_opt_upper(get("direction"), "direction"),
            call_result=_opt_upper(get("callResult"), "callResult"),
            from_number=from_number if from_number is None or not from_number.isspace() else None,
            to_number=to_number if to_number is None or not to_number.isspace() else None,
            from_e164=to_e164(from_number),
            to_e164=to_e164(to_number),
            trunk_id=trunk_id if trunk_id is None or not trunk_id.isspace() else None,
            project_id=project_id if project_id is None or not project_id.isspace() else None,
            duration_seconds=duration,
            billing_duration_seconds=billing,
            price_per_minute=ppm,
            price_per_minute_currency=ppm_currency,
            price=price,
            price_currency=price_currency,
            raw=raw,
        )
    except FieldError as exc:
        return RejectedRecord(reason=str(exc), raw=raw, call_id=call_id)


def unknown_fields(obj: Any) -> frozenset[str]:
    """Return the keys of a call object that are not in ``CALL_FIELDS`` (fields added later)."""
    if not isinstance(obj, dict):
        return frozenset()
    keys = obj.keys()
    if keys <= KNOWN_FIELDS:
        return frozenset()
    return frozenset(keys - KNOWN_FIELDS)
