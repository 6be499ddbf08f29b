"""Load calls to replay instead of generating them: an export CSV or JSON lines of call objects.

* Export CSV (``GET .../calls/export`` format, 26 quoted columns, CRLF or LF): mapped column →
  field (Timestamp → createTime, Call Id → callId, Answer/End Time, From, To, Trunk Id,
  Direction, Duration (s) → durationSeconds, Result → callResult, "0.0040 USD" → Money,
  Cost → price, Project Id).  ``billingDurationSeconds`` is not in the export: served as null.
  Empty fields and the literal ``null`` become JSON null.  Timestamps are served exactly as
  written in the file.  The export endpoint serves the file's rows unchanged.
* JSONL: one call object per line, served as given (re-serialised compactly).

Rows whose createTime cannot be parsed cannot be placed in time; they are skipped and counted
in :attr:`ReplayData.skipped` (a replay file is trusted input, not a fault injector).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.sandbox.records import EXPORT_COLUMNS, StoredCall, dumps, parse_instant_ms


@dataclass(frozen=True, slots=True)
class ReplayTrunk:
    """A trunk seen in a replay file."""

    id: str
    name: str


@dataclass(slots=True)
class ReplayData:
    """Loaded replay calls (sorted by createTime, callId) plus what was seen alongside."""

    calls: list[StoredCall]
    trunks: list[ReplayTrunk]
    project_id: str | None
    skipped: int


def _none(s: str) -> str | None:
    return None if s in ("", "null") else s


def _money(s: str) -> dict[str, Any] | None:
    s = s.strip()
    if not s or s == "null":
        return None
    parts = s.split()
    amount = parts[0]
    currency = parts[1] if len(parts) > 1 else "USD"
    return {"currencyCode": currency, "amount": float(amount)}


def _int(s: str) -> int | None:
    try:
        return int(float(s)) if s not in ("", "null") else None
    except ValueError:
        return None


def _stored(
    canonical: dict[str, Any], served: dict[str, Any], row: tuple[str, ...]
) -> StoredCall | None:
    create_ms = parse_instant_ms(str(canonical.get("createTime") or ""))
    if create_ms is None:
        return None
    return StoredCall(
        create_ms=create_ms,
        answer_ms=parse_instant_ms(str(canonical.get("answerTime") or "")),
        end_ms=parse_instant_ms(str(canonical.get("endTime") or "")),
        call_id=str(canonical.get("callId") or ""),
        trunk_id=str(canonical.get("trunkId") or ""),
        direction=str(canonical.get("direction") or "").upper(),
        call_result=str(canonical.get("callResult") or "").upper(),
        from_number=str(canonical.get("from") or ""),
        to_number=str(canonical.get("to") or ""),
        canonical=canonical,
        final_json=dumps(served),
        progress_json=None,
        export_row=row,
    )


def load_export_csv(path: Path) -> ReplayData:
    """Load a Sinch call-records export CSV."""
    calls: list[StoredCall] = []
    trunks: dict[str, ReplayTrunk] = {}
    project: str | None = None
    skipped = 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        idx = {name: i for i, name in enumerate(header)}
        missing = [c for c in ("Timestamp", "Call Id") if c not in idx]
        if missing:
            msg = f"{path}: not an export CSV (missing columns {missing})"
            raise ValueError(msg)
        for raw in reader:
            if not raw:
                continue
            row = {name: (raw[i] if i < len(raw) else "") for name, i in idx.items()}
            canonical = {
                "callId": row.get("Call Id", ""),
                "to": _none(row.get("To", "")),
                "from": _none(row.get("From", "")),
                "direction": _none(row.get("Direction", "")),
                "answerTime": _none(row.get("Answer Time", "")),
                "endTime": _none(row.get("End Time", "")),
                "durationSeconds": _int(row.get("Duration (s)", "")),
                "callResult": _none(row.get("Result", "")),
                "pricePerMinute": _money(row.get("Price Per Minute", "")),
                "billingDurationSeconds": None,
                "price": _money(row.get("Cost", "")),
                "createTime": _none(row.get("Timestamp", "")),
                "projectId": _none(row.get("Project Id", "")),
                "trunkId": _none(row.get("Trunk Id", "")),
            }
            export_row = tuple(row.get(c, "") for c in EXPORT_COLUMNS)
            sc = _stored(canonical, canonical, export_row)
            if sc is None:
                skipped += 1
                continue
            calls.append(sc)
            tid = row.get("Trunk Id", "")
            if tid and tid not in trunks:
                trunks[tid] = ReplayTrunk(tid, row.get("Trunk Name", ""))
            if project is None and row.get("Project Id"):
                project = row["Project Id"]
    calls.sort(key=lambda c: c.sort_key)
    return ReplayData(calls, list(trunks.values()), project, skipped)


def _money_str(m: Any) -> str:
    if not isinstance(m, dict) or m.get("amount") is None:
        return ""
    return f"{float(m['amount']):.4f} {m.get('currencyCode') or ''}".strip()


def load_jsonl(path: Path) -> ReplayData:
    """Load JSON lines, one call object per line."""
    calls: list[StoredCall] = []
    trunks: dict[str, ReplayTrunk] = {}
    project: str | None = None
    skipped = 0
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(obj, dict):
                skipped += 1
                continue

            def s(k: str, obj: dict[str, Any] = obj) -> str:
                v = obj.get(k)
                return "" if v is None else str(v)

            row = (
                s("createTime"), s("callId"), s("answerTime"), s("endTime"), s("from"), s("to"),
                s("trunkId"), "", s("direction"), s("durationSeconds"), s("callResult"), "", "",
                "false", _money_str(obj.get("pricePerMinute")), _money_str(obj.get("price")),
                "", "", "", "", "", "", s("projectId"), "", "initial", "false",
            )  # fmt: skip
            sc = _stored(obj, obj, row)
            if sc is None:
                skipped += 1
                continue
            calls.append(sc)
            if sc.trunk_id and sc.trunk_id not in trunks:
                trunks[sc.trunk_id] = ReplayTrunk(sc.trunk_id, "")
            if project is None and obj.get("projectId"):
                project = str(obj["projectId"])
    calls.sort(key=lambda c: c.sort_key)
    return ReplayData(calls, list(trunks.values()), project, skipped)


def load_replay(path: Path | str) -> ReplayData:
    """Load ``.jsonl``/``.ndjson`` as JSON lines, anything else as an export CSV."""
    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        return load_jsonl(p)
    return load_export_csv(p)
