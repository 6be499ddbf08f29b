"""The in-memory call record the sandbox serves, and its renderings (JSON bytes, export CSV row).

A :class:`StoredCall` keeps the *canonical* call dict (ground truth: upper-case enums, ``Z``
timestamps, numeric money) next to pre-serialised JSON bytes of what the API serves (which may
carry a format variant or an injected malformation), so a page is assembled by joining bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

EXPORT_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "Call Id",
    "Answer Time",
    "End Time",
    "From",
    "To",
    "Trunk Id",
    "Trunk Name",
    "Direction",
    "Duration (s)",
    "Result",
    "To Country",
    "From Country",
    "Is Emergency Call",
    "Price Per Minute",
    "Cost",
    "Cause Code",
    "SIP Response Code",
    "Region",
    "MOS",
    "Transport",
    "Port",
    "Project Id",
    "Group Id",
    "Relationship Type",
    "Has Children",
)


@dataclass(slots=True)
class StoredCall:
    """One call as the sandbox holds it.

    Attributes:
        create_ms / answer_ms / end_ms: epoch milliseconds (UTC); None when absent.
        call_id, trunk_id: opaque ids.
        direction, call_result: canonical upper-case values ("" when absent).
        from_number, to_number: canonical values used by the prefix filters.
        canonical: the ground-truth call dict (API field names), or None when it equals the
            served JSON (saves memory; use :meth:`canonical_dict`).
        final_json: bytes served once the call is visible in its final form.
        progress_json: bytes served while it is in progress (None = never listed in progress).
        export_row: the 26 export-CSV fields, or None for generated calls (computed on demand;
            use :meth:`export_fields`).
        malformed: True when ``final_json`` was deliberately corrupted (fault).
        codes: generated calls: (Q.850 Cause Code, SIP Response Code, MOS) for the export
            (``traffic_model``); None for replayed calls, whose ``export_row`` is given.
    """

    create_ms: int
    answer_ms: int | None
    end_ms: int | None
    call_id: str
    trunk_id: str
    direction: str
    call_result: str
    from_number: str
    to_number: str
    canonical: dict[str, Any] | None
    final_json: bytes
    progress_json: bytes | None
    export_row: tuple[str, ...] | None
    malformed: bool = False
    codes: tuple[str, str, str] | None = None
    sort_key: tuple[int, str] = field(init=False)

    def __post_init__(self) -> None:
        self.sort_key = (self.create_ms, self.call_id)

    def canonical_dict(self) -> dict[str, Any]:
        """The ground-truth call dict."""
        if self.canonical is not None:
            return self.canonical
        return orjson.loads(self.final_json)

    def export_fields(self) -> tuple[str, ...]:
        """The 26 export-CSV fields (computed on demand for generated calls)."""
        if self.export_row is not None:
            return self.export_row
        return export_row_for(self)


def export_row_for(c: StoredCall) -> tuple[str, ...]:
    """The 26 export-CSV fields of a generated call (canonical values, not format variants).

    Cause Code, SIP Response Code and MOS are the call's own (``StoredCall.codes``, drawn by
    the model: 200/16 answered, 603/21 refused over the CPS limit …); the countries are the
    numbers' (``COUNTRY_OF_NUMBER``), the region the trunk's.
    """
    from pipeline.sandbox.traffic import COUNTRY_OF_NUMBER, TRUNK_BY_ID  # cycle

    g = c.canonical_dict()
    trunk = TRUNK_BY_ID[c.trunk_id]
    cause, sip, mos = c.codes if c.codes is not None else ("", "", "")
    ppm = f"{g['pricePerMinute']['amount']:.4f} USD"
    price = f"{g['price']['amount']:.4f} USD"
    return (
        iso_ms(c.create_ms),
        c.call_id,
        iso_ms(c.answer_ms) if c.answer_ms is not None else "",
        iso_ms(c.end_ms) if c.end_ms is not None else "",
        c.from_number,
        c.to_number,
        trunk.id,
        trunk.name,
        c.direction,
        str(g["durationSeconds"]),
        c.call_result,
        COUNTRY_OF_NUMBER.get(c.to_number, ""),
        COUNTRY_OF_NUMBER.get(c.from_number, ""),
        "false",
        ppm,
        price,
        cause,
        sip,
        trunk.region,
        mos,
        "udp",
        "5060",
        str(g["projectId"]),
        "",
        "initial",
        "false",
    )


@lru_cache(maxsize=4096)
def _hour_prefix(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:")


def iso_z(ms: int) -> str:
    """Epoch ms → ``YYYY-MM-DDTHH:MM:SSZ`` (second precision, as the unit-test mock)."""
    s = ms // 1000
    rem = s % 3600
    return f"{_hour_prefix(s // 3600)}{rem // 60:02d}:{rem % 60:02d}Z"


def iso_ms(ms: int) -> str:
    """Epoch ms → ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the export CSV's form)."""
    return f"{iso_z(ms)[:-1]}.{ms % 1000:03d}Z"


def parse_instant_ms(text: str) -> int | None:
    """Parse an API/CSV timestamp (``Z``, ``+0000``, fractions, no offset = UTC) to epoch ms."""
    if not text or text == "null":
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000 + (0.5 if dt.timestamp() >= 0 else -0.5))


def dumps(obj: Any) -> bytes:
    """orjson bytes of ``obj``, copied to an exact-size object.

    orjson's result keeps an ~8 KiB buffer, which would cost ~8 KiB per cached call.
    """
    return bytes(memoryview(orjson.dumps(obj)))


def csv_line(fields: tuple[str, ...] | list[str]) -> str:
    """Every field quoted, ``"`` doubled, CRLF (export format: api-reference pitfall 18)."""
    return ",".join('"' + f.replace('"', '""') + '"' for f in fields) + "\r\n"


_TIME_FIELDS = ("createTime", "answerTime", "endTime")


def _shift_times(d: dict[str, Any], delta_ms: int) -> dict[str, Any]:
    out = dict(d)
    for key in _TIME_FIELDS:
        value = out.get(key)
        ms = parse_instant_ms(value) if isinstance(value, str) else None
        if ms is not None:
            ms += delta_ms
            out[key] = iso_ms(ms) if ms % 1000 else iso_z(ms)
    return out


def shifted(c: StoredCall, delta_ms: int) -> StoredCall:
    """``c`` with createTime, answerTime and endTime moved by ``delta_ms``.

    The callId and other fields stay the same.  Served times that parse are rewritten as
    ``…Z`` (with milliseconds when not whole seconds; a ``+0000`` / 9-digit variant is
    dropped); a malformed one stays.
    """
    row = c.export_row
    if row is not None:
        cols = list(row)
        for i in (0, 2, 3):  # Timestamp, Answer Time, End Time
            ms = parse_instant_ms(cols[i])
            if ms is not None:
                cols[i] = iso_ms(ms + delta_ms)
        row = tuple(cols)
    progress = c.progress_json
    return StoredCall(
        create_ms=c.create_ms + delta_ms,
        answer_ms=c.answer_ms + delta_ms if c.answer_ms is not None else None,
        end_ms=c.end_ms + delta_ms if c.end_ms is not None else None,
        call_id=c.call_id,
        trunk_id=c.trunk_id,
        direction=c.direction,
        call_result=c.call_result,
        from_number=c.from_number,
        to_number=c.to_number,
        canonical=_shift_times(c.canonical, delta_ms) if c.canonical is not None else None,
        final_json=dumps(_shift_times(orjson.loads(c.final_json), delta_ms)),
        progress_json=(
            dumps(_shift_times(orjson.loads(progress), delta_ms)) if progress is not None else None
        ),
        export_row=row,
        malformed=c.malformed,
        codes=c.codes,
    )
