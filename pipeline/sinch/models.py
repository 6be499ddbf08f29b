"""Typed shapes of what the Sinch Elastic SIP Trunk calls API returns.

These immutable records are the contract between the client (which parses API JSON into them),
the ingestion (which lands them in DuckDB ``raw.calls`` / ``raw.rejected_calls`` / ``raw.trunks``)
and the sandbox (which only borrows the wire field names below).

Times are timezone-aware UTC ``datetime`` values; money amounts are exact ``Decimal``; ids are
opaque strings (see ``docs/api-reference.md`` §3 and pitfall 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

# Field names of a call object on the wire (Node SDK ``models/v1/call/call.ts``).
CALL_FIELDS: tuple[str, ...] = (
    "callId",
    "to",
    "from",
    "direction",
    "answerTime",
    "endTime",
    "durationSeconds",
    "callResult",
    "pricePerMinute",
    "billingDurationSeconds",
    "price",
    "createTime",
    "projectId",
    "trunkId",
)

DIRECTIONS: tuple[str, ...] = ("INBOUND", "OUTBOUND")
CALL_RESULTS: tuple[str, ...] = ("COMPLETED", "NO_ANSWER", "CANCEL", "BUSY", "FAILED")


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open UTC time window ``[start, end)`` of call ``createTime`` values.

    Raises:
        ValueError: if either bound is naive (no tzinfo) or ``start >= end``.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            msg = "window bounds must be timezone-aware (UTC)"
            raise ValueError(msg)
        if self.start >= self.end:
            msg = f"window start {self.start.isoformat()} is not before end {self.end.isoformat()}"
            raise ValueError(msg)

    def contains(self, instant: datetime) -> bool:
        """Return whether ``start <= instant < end``."""
        return self.start <= instant < self.end


class CallRecord(NamedTuple):
    """One call detail record (CDR) as parsed from the API.

    An immutable named tuple: the parser builds one per call, and a tuple is built ~3× faster
    than a frozen dataclass (~0.6 µs against ~1.6 µs). Its fields are in the column order of
    ``raw.calls``, so a page of records transposes into columns with ``zip(*records)``.

    Attributes:
        call_id: the API's ``callId``, an opaque string (ULID, short token or SIP Call-ID).
        create_time: ``createTime``, UTC; when the call was set up (seizure).
        answer_time: ``answerTime``, UTC, or None when the call was not answered.
        end_time: ``endTime``, UTC, or None while a call is still in progress.
        direction: ``INBOUND`` / ``OUTBOUND`` (normalised to upper case), or None if absent.
        call_result: ``COMPLETED`` / ``NO_ANSWER`` / ``CANCEL`` / ``BUSY`` / ``FAILED`` (upper
            case; other strings are kept as sent, upper-cased), or None if absent.
        from_number: ``from`` exactly as sent (E.164, bare digits, SIP URI, user@host:port).
        to_number: ``to`` exactly as sent.
        from_e164: ``from`` normalised to ``+digits`` when the user part is all digits, else None.
        to_e164: ``to`` normalised the same way.
        trunk_id: ``trunkId``, opaque.
        project_id: ``projectId``, opaque.
        duration_seconds: ``durationSeconds`` as sent (seconds; not derived: api-reference
            pitfall 17).
        billing_duration_seconds: ``billingDurationSeconds`` (seconds, rounded by the billing
            increment).
        price_per_minute: ``pricePerMinute.amount`` (exact decimal, per minute).
        price_per_minute_currency: ``pricePerMinute.currencyCode`` (ISO 4217).
        price: ``price.amount`` (exact decimal, total for the call).
        price_currency: ``price.currencyCode`` (ISO 4217).
        raw: the record's original JSON text, unchanged (keeps fields the API adds later).
    """

    call_id: str
    create_time: datetime
    answer_time: datetime | None
    end_time: datetime | None
    direction: str | None
    call_result: str | None
    from_number: str | None
    to_number: str | None
    from_e164: str | None
    to_e164: str | None
    trunk_id: str | None
    project_id: str | None
    duration_seconds: int | None
    billing_duration_seconds: int | None
    price_per_minute: Decimal | None
    price_per_minute_currency: str | None
    price: Decimal | None
    price_currency: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record the parser could not turn into a :class:`CallRecord`; never dropped.

    Attributes:
        reason: why it was rejected, e.g. ``"createTime: missing"``.
        raw: the record's original JSON text (or ``repr`` if it was not JSON-serialisable).
        call_id: ``callId`` if one could be read, else None.
    """

    reason: str
    raw: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Trunk:
    """A SIP trunk from ``GET /v1/projects/{projectId}/trunks`` (only id/name are reliable).

    Attributes:
        trunk_id: ``id``.
        name: ``name``, or None.
        calls_per_second: ``callsPerSecond`` (the trunk's CPS limit), or None.
        raw: the original JSON text.
    """

    trunk_id: str
    name: str | None
    calls_per_second: int | None
    raw: str
