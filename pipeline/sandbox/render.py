"""Rendering a generated call: the model's :class:`CallOutcome` → the JSON the API serves.

* :func:`canonical_dict`: the ground truth (upper-case enums, ``Z`` timestamps, numeric money).
* :func:`with_variant`: the format variant the model drew for the call (``variant_rate``;
  value-preserving, listed in the ``traffic.py`` docstring).
* :func:`in_progress_form`: what ``list_in_progress`` serves before the call ends.
* :func:`stored_call`: the :class:`StoredCall` holding the bytes of both forms.

No fault is injected here: ``faults.malformed`` may corrupt the served dict between
:func:`with_variant` and :func:`stored_call` (``SandboxState`` does the assembling).
"""

from __future__ import annotations

from pipeline.sandbox.records import StoredCall, dumps, iso_z
from pipeline.sandbox.traffic import CallOutcome, TrunkSpec

_TIMES = ("answerTime", "endTime", "createTime")
# What a call in progress does not have yet (served as null).
_NOT_YET = ("answerTime", "endTime", "durationSeconds", "callResult", "billingDurationSeconds",
            "price")  # fmt: skip


def _money(amount: str) -> dict[str, object]:
    return {"currencyCode": "USD", "amount": float(amount)}


def canonical_dict(o: CallOutcome, project_id: str) -> dict[str, object]:
    """The ground-truth call dict of ``o`` (API field names, in the order served)."""
    return {
        "callId": o.call_id,
        "to": o.to_number,
        "from": o.from_number,
        "direction": o.direction,
        "answerTime": iso_z(o.answer_ms) if o.answer_ms is not None else None,
        "endTime": iso_z(o.end_ms),
        "durationSeconds": o.duration_s,
        "callResult": o.result,
        "pricePerMinute": _money(o.price_per_minute),
        "billingDurationSeconds": o.billed_s,
        "price": _money(o.price),
        "createTime": iso_z(o.create_ms),
        "projectId": project_id,
        "trunkId": o.trunk_id,
    }


def with_variant(c: dict[str, object], variant: int, trunk: TrunkSpec) -> dict[str, object]:
    """``c`` in format variant ``variant`` (a new dict), or ``c`` itself when ``variant < 0``."""
    if variant < 0:
        return c
    v = dict(c)
    if variant == 0:
        v["direction"] = str(c["direction"]).lower()
    elif variant in (1, 2):
        suffix = "+0000" if variant == 1 else ".000000000Z"
        for k in _TIMES:
            if v[k] is not None:
                v[k] = str(v[k])[:-1] + suffix
    elif variant == 3:
        v["from"] = f"sip:{c['from']}@203.0.113.{len(trunk.name) + 10}"
    elif variant == 4:
        v["to"] = f"{c['to']}@{trunk.host_name}.pstn.sinch.com:5060"
    elif variant == 5:
        for k in ("pricePerMinute", "price"):
            m = dict(v[k])  # type: ignore[call-overload]
            m["amount"] = f"{m['amount']:.4f}"
            v[k] = m
    else:
        v["to"] = str(c["to"]).lstrip("+")
    return v


def in_progress_form(served: dict[str, object]) -> dict[str, object]:
    """``served`` as listed while the call is in progress: the fields it lacks yet are null."""
    return {**served, **dict.fromkeys(_NOT_YET)}


def stored_call(
    o: CallOutcome,
    canonical: dict[str, object],
    served: dict[str, object],
    *,
    in_progress: bool,
    malformed: bool,
) -> StoredCall:
    """The :class:`StoredCall` of ``o``: ``served`` as bytes, and its in-progress form.

    ``canonical`` is kept only when ``served`` is another dict (a variant or a malformation);
    otherwise the served bytes are the ground truth.
    """
    return StoredCall(
        create_ms=o.create_ms,
        answer_ms=o.answer_ms,
        end_ms=o.end_ms,
        call_id=o.call_id,
        trunk_id=o.trunk_id,
        direction=o.direction,
        call_result=o.result,
        from_number=o.from_number,
        to_number=o.to_number,
        canonical=canonical if served is not canonical else None,
        final_json=dumps(served),
        progress_json=dumps(in_progress_form(served)) if in_progress else None,
        export_row=None,
        malformed=malformed,
        codes=(str(o.cause_code), str(o.sip_code), f"{o.mos:.2f}" if o.mos else "0.0"),
    )
