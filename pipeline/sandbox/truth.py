"""The ground-truth API of a running sandbox, for tests that check "none lost, none doubled".

Mixed into :class:`SandboxState` (``handle.app_state``).

Truth vs listing (see ``state.py``): these helpers return every call once, at its corrected
place — a moved call (``move_call``) at its new createTime, a cross-window call
(``duplicate_across_windows_rate``) as its later copy — and canonical values, whatever the
served bytes carry (format variants, malformations, ``float_money``, ``extreme_times``).
``listed_call_ids_between`` is the exception: it says what ``/calls`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.sandbox.faults import crosses_windows
from pipeline.sandbox.store import _ms

if TYPE_CHECKING:
    from pipeline.sandbox.records import StoredCall
    from pipeline.sandbox.settings import SandboxSettings
    from pipeline.sandbox.traffic import TrafficGenerator

CPS_REFUSED_SIP = "603"  # traffic_model.CPS_REFUSED
CHANNELS_FULL_SIP = "503"  # traffic_model.CHANNELS_FULL


class _HasBounds(Protocol):
    start: datetime
    end: datetime


class GroundTruth:
    """The ground-truth methods of :class:`SandboxState`.

    They use its ``truth_created``, ``calls_created``, ``_placed``, ``_extreme_kinds``,
    ``rendered``, ``now_ms`` and ``settings`` (declared below for the type checker).
    """

    if TYPE_CHECKING:
        settings: SandboxSettings

        def truth_created(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
            """Every call created in ``[lo_ms, hi_ms)`` once, at its corrected place."""

        def calls_created(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
            """Every call *listed* with createTime in ``[lo_ms, hi_ms)``, sorted."""

        def _placed(self, lo_ms: int, hi_ms: int) -> list[StoredCall]:
            """The source's calls in ``[lo_ms, hi_ms)`` with the moves applied."""

        def _extreme_kinds(self, lo_ms: int, hi_ms: int) -> dict[tuple[str, int], str]:
            """``extreme_times``: (callId, createTime ms) → the field served extreme."""

        def rendered(self, c: StoredCall, now_ms: int) -> bytes | None:
            """The bytes served for ``c`` at ``now_ms``, or None if not visible yet."""

        def now_ms(self) -> int:
            """The injectable clock, in epoch ms."""

        trunks: list[dict[str, Any]]
        generator: TrafficGenerator | None

    def calls_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Canonical dicts of every call created in ``[start, end)``.

        The calls are in final form, in API order, visible or not.  The canonical form has
        upper-case enums, ``Z`` timestamps and numeric money even when the served bytes use a
        format variant, float noise, an extreme time or a malformation.  Every call once, at its
        corrected place: a moved call (:meth:`move_call`) at its new createTime, a cross-window
        call (``duplicate_across_windows_rate``) as its later copy, never the stale earlier one.
        """
        return [c.canonical_dict() for c in self.truth_created(_ms(start), _ms(end))]

    def calls_in(self, window: _HasBounds) -> list[dict[str, Any]]:
        """:meth:`calls_between` for anything with ``start``/``end`` (e.g. ``models.Window``)."""
        return self.calls_between(window.start, window.end)

    def call_ids_between(self, start: datetime, end: datetime) -> list[str]:
        """callIds of :meth:`calls_between`."""
        return [c.call_id for c in self.truth_created(_ms(start), _ms(end))]

    def visible_calls_between(
        self, start: datetime, end: datetime, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Canonical dicts of calls in ``[start, end)`` that the API lists at ``at`` (now)."""
        now = _ms(at) if at is not None else self.now_ms()
        return [
            c.canonical_dict()
            for c in self.truth_created(_ms(start), _ms(end))
            if self.rendered(c, now) is not None
        ]

    def malformed_call_ids_between(self, start: datetime, end: datetime) -> list[str]:
        """callIds served malformed (fault) in ``[start, end)``."""
        return [c.call_id for c in self.truth_created(_ms(start), _ms(end)) if c.malformed]

    def served_json_between(self, start: datetime, end: datetime) -> Iterable[bytes]:
        """The final served bytes of the calls in ``[start, end)``.

        That is, before ``float_money`` and ``extreme_times``, which are applied when a page is
        built.
        """
        return [c.final_json for c in self.truth_created(_ms(start), _ms(end))]

    def listed_call_ids_between(self, start: datetime, end: datetime) -> list[str]:
        """callIds ``/calls`` lists for ``[start, end)`` (visible or not), in API order.

        With ``duplicate_across_windows_rate`` this includes the stale copies (module doc).
        """
        return [c.call_id for c in self.calls_created(_ms(start), _ms(end))]

    def cross_window_call_ids_between(self, start: datetime, end: datetime) -> list[str]:
        """callIds listed in ``[start, end)`` whose corrected copy is listed again an hour later.

        Such copies come from ``duplicate_across_windows_rate``; the copy is the truth.
        """
        s = self.settings
        return [c.call_id for c in self._placed(_ms(start), _ms(end))
                if crosses_windows(s, c.call_id)]  # fmt: skip

    def extreme_time_call_ids_between(self, start: datetime, end: datetime) -> dict[str, str]:
        """``extreme_times``: callId → the field served out of range, for ``[start, end)``.

        The field is ``"createTime"`` or ``"endTime"``; the calls are those listed in
        ``[start, end)`` that are the first and second of their hour.
        """
        lo, hi = _ms(start), _ms(end)
        kinds = self._extreme_kinds(lo, hi) if self.settings.extreme_times else {}
        return {cid: f for (cid, ms), f in kinds.items() if lo <= ms < hi}

    def trunk_capacity(self) -> dict[str, dict[str, float]]:
        """Per trunk id: ``callsPerSecond``, ``channels`` and ``busyHourErlangs`` (offered).

        Channels and erlangs are the generator's (``capacity.py``); a replay has only the
        served ``callsPerSecond`` (channels 0, erlangs 0.0).
        """
        gen = self.generator
        out: dict[str, dict[str, float]] = {}
        for t in self.trunks:
            spec = next((s for s in gen.trunks if s.id == t["id"]), None) if gen else None
            out[t["id"]] = {
                "callsPerSecond": t["callsPerSecond"],
                "channels": gen.channels[t["id"]] if gen and spec else 0,
                "busyHourErlangs": gen.offered_erlangs(spec) if gen and spec else 0.0,
            }
        return out

    def capacity_refusals_between(
        self, start: datetime, end: datetime
    ) -> dict[str, dict[str, int]]:
        """Per trunk id, the calls created in ``[start, end)`` its capacity refused.

        ``{"cps": n, "channels": m}``: ``cps`` = FAILED with SIP 603 (over callsPerSecond),
        ``channels`` = BUSY with SIP 503 (every channel up).  Every served trunk is a key.
        """
        out = {t["id"]: {"cps": 0, "channels": 0} for t in self.trunks}
        for c in self.truth_created(_ms(start), _ms(end)):
            sip = c.codes[1] if c.codes is not None else ""
            if sip == CPS_REFUSED_SIP and c.call_result == "FAILED":
                out.setdefault(c.trunk_id, {"cps": 0, "channels": 0})["cps"] += 1
            elif sip == CHANNELS_FULL_SIP and c.call_result == "BUSY":
                out.setdefault(c.trunk_id, {"cps": 0, "channels": 0})["channels"] += 1
        return out

    def cps_refused_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Per trunk id, the calls created in ``[start, end)`` refused over its CPS limit (603)."""
        return {k: v["cps"] for k, v in self.capacity_refusals_between(start, end).items()}
