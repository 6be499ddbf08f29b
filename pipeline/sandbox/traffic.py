"""Seeded synthetic call traffic that behaves like a trunk, generated per (UTC hour, trunk).

Determinism: every (hour, trunk) block is drawn from its own numpy ``Generator`` (PCG64)
seeded with ``blake2b(seed, trunk id, hour)``; its capacity check also regenerates the previous
block of the trunk from *its* seed (``capacity.py``).  So any window is produced without the
history before it, and the same seed + window gives the same calls (and bytes); numpy is
pinned by ``uv.lock``, which keeps its streams stable.  Years of history for many trunks cost
no memory beyond the LRU caches of recently used blocks.

This module draws a :class:`CallOutcome` per call: the fitted distributions and their sources
are in ``traffic_model.py``, the CPS and channel limits in ``capacity.py``.  Turning an outcome
into the JSON the API serves is ``render.py``'s job, a malformed record is injected by
``faults.py``; ``state.py`` puts them together.

What this module adds (sources, tags as in ``docs/api-reference.md``; "choice" = ours,
illustrative, not a Sinch statistic):

* Trunks (``TRUNKS``): name, country, IANA time zone, ``callsPerSecond`` (Sinch's trunk field)
  and an offered weekday busy-hour load in erlangs (choice: 1.5–10 E, an office or a small
  contact centre); the load sizes the volume (``traffic_model``) and the channels
  (``capacity``).  ``calls_per_hour`` (a number) instead sets the calls of a weekday 10:00
  hour of a trunk of weight 1 (Copenhagen), the others scaled by their load.  ``hour_calls``
  (``busy_hour_calls``) replaces the profile: every hour has exactly that many calls, split
  over the trunks by weight (largest remainders), and no bursts.
* Bursts: with probability ``burst_probability`` a business-hour block (hour share ≥ 2 %) also
  holds 20–80 outbound calls within 60 s (a dialler campaign); the CPS limit refuses the excess.
* Direction: per-trunk inbound share (``TRUNKS``; choice).
* ``durationSeconds``: INBOUND from createTime to endTime, OUTBOUND from answerTime to endTime
  (0 if unanswered), per the field doc [N-CALL].
* Billing: 6/6 increments for destinations in the North American numbering plan (US, CA),
  60/60 elsewhere (choice; both schemes are common).  billed = ceil(conv / inc) × inc;
  unanswered calls bill 0.  The destination is ``to`` for OUTBOUND and the trunk's own
  country for INBOUND.
* Price: ``pricePerMinute`` by destination country (PPM_OUTBOUND / PPM_INBOUND below; USD,
  illustrative, not Sinch's price list, which is not public for this use);
  ``price = round_half_up(ppm × billed / 60, 4)`` [N-UT] [N-E2E].
* Numbers: pools of numbers that ``phonenumbers.is_valid_number`` accepts, built once per
  country at start-up from the library's example numbers by varying the last digits; each
  number's country (export To/From Country) is the pool's region, the one
  ``phonenumbers.region_code_for_number`` gives.  Each trunk owns 12 DIDs in its country;
  outbound destinations are 70 % domestic, 30 % from FOREIGN_MIX; inbound callers 85 %
  domestic.
* Format variants (at ``variant_rate``, one per affected call, value-preserving; drawn here as
  :attr:`CallOutcome.variant`, applied by ``render.py``): lower-case direction; ``+0000``
  offsets; 9-digit fractions (``.000000000Z``); ``from`` as ``sip:+E164@ip``; ``to`` as
  ``+E164@host:5060``; money amounts as strings ``"0.0040"``; ``to`` as bare digits.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from pipeline.sandbox import traffic_model as tm
from pipeline.sandbox.capacity import channel_admitted
from pipeline.sandbox.draws import HourDraw, Layout, concat, draw_hours, layout, seed_int
from pipeline.sandbox.numbering import _CROCKFORD as _CROCKFORD  # re-exported
from pipeline.sandbox.numbering import COUNTRY_OF_NUMBER as COUNTRY_OF_NUMBER
from pipeline.sandbox.numbering import FOREIGN_MIX as FOREIGN_MIX
from pipeline.sandbox.numbering import PPM_INBOUND as PPM_INBOUND
from pipeline.sandbox.numbering import PPM_OUTBOUND as PPM_OUTBOUND
from pipeline.sandbox.numbering import SIX_SECOND_COUNTRIES as SIX_SECOND_COUNTRIES
from pipeline.sandbox.numbering import number_pool, ulids
from pipeline.sandbox.numbering import ulid as ulid
from pipeline.sandbox.trunks import TRUNK_BY_ID as TRUNK_BY_ID
from pipeline.sandbox.trunks import TRUNKS, TrunkSpec

HOUR_MS = 3_600_000
MAX_CALL_MS = tm.MAX_CALL_MS  # longest possible createTime → endTime (< 1 h)
BATCH_HOURS = 48  # hours drawn together by TrafficGenerator.hours callers (state.py)
RAW_CACHE_HOURS = 2 * BATCH_HOURS + 8


def _split(total: int, trunks: tuple[TrunkSpec, ...]) -> dict[str, int]:
    """``total`` calls over ``trunks`` by weight, exactly (largest remainders, then order)."""
    weight = sum(t.weight for t in trunks)
    exact = [total * t.weight / weight for t in trunks]
    counts = [int(e) for e in exact]
    by_rest = sorted(range(len(trunks)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_rest[: total - sum(counts)]:
        counts[i] += 1
    return {t.id: n for t, n in zip(trunks, counts, strict=True)}


class CallOutcome(NamedTuple):
    """One generated call as the model draws it, before any rendering (``render.py``).

    A named tuple (cheap to build by the hundred thousand); change one with ``_replace``.

    Attributes:
        create_ms / answer_ms / end_ms: epoch ms (UTC); ``answer_ms`` is None if unanswered.
        call_id: a ULID whose time part is ``create_ms``.
        trunk_id: the trunk's id.
        direction: ``"INBOUND"`` or ``"OUTBOUND"``.
        result: the callResult (``traffic_model.OUTCOME_MIX``, or a capacity refusal).
        from_number / to_number: E.164 numbers.
        price_per_minute: USD per minute, a 4-decimal string (PPM_OUTBOUND / PPM_INBOUND).
        billed_s: billingDurationSeconds (0 if unanswered).
        price: USD, a 4-decimal string (rounded half up).
        duration_s: durationSeconds.
        variant: the format variant to serve (0–6, see ``render.py``), or -1 for none.
        sip_code / cause_code: the export's SIP Response Code and Q.850 Cause Code.
        mos: the export's MOS (0.0 when unanswered).
    """

    create_ms: int
    answer_ms: int | None
    end_ms: int
    call_id: str
    trunk_id: str
    direction: str
    result: str
    from_number: str
    to_number: str
    price_per_minute: str
    billed_s: int
    price: str
    duration_s: int
    variant: int
    sip_code: int = 200
    cause_code: int = 16
    mos: float = 0.0


class TrafficGenerator:
    """Draws the calls of each (hour, trunk) block, deterministically from the seed."""

    def __init__(
        self,
        *,
        seed: int,
        calls_per_hour: float | None,
        burst_probability: float,
        variant_rate: float,
        trunks: tuple[TrunkSpec, ...] = TRUNKS,
        hour_calls: int | None = None,
        odd_completed_rate: float = tm.ODD_COMPLETED_RATE,
    ) -> None:
        self.hour_calls = _split(hour_calls, trunks) if hour_calls is not None else None
        self.seed = seed
        self.calls_per_hour = calls_per_hour
        self.burst_probability = burst_probability
        self.variant_rate = variant_rate
        self.odd_completed_rate = odd_completed_rate
        self.trunks = trunks
        self._tz = {t.id: ZoneInfo(t.tz) for t in trunks}
        dids = {}
        for t in trunks:
            pool = number_pool(t.country)
            r = random.Random(seed_int(seed, "dids", t.id))
            dids[t.id] = tuple(r.sample(pool, min(12, len(pool))))
        self._layout: Layout = layout(trunks, dids)
        self._raw_cache: OrderedDict[int, HourDraw] = OrderedDict()
        self._raw_lock = threading.Lock()
        self._hold_s = {t.id: tm.mean_holding_s(t.inbound_share) for t in trunks}
        self._peak = {t.id: self._peak_rate(t) for t in trunks}
        self.channels = {t.id: tm.erlang_b_channels(self.offered_erlangs(t)) for t in trunks}

    # ------------------------------------------------------------------ sizes
    def peak_rate(self, trunk: TrunkSpec) -> float:
        """Mean calls of ``trunk``'s weekday 10:00 (local) hour, bursts aside."""
        return self._peak[trunk.id]

    def _peak_rate(self, trunk: TrunkSpec) -> float:
        if self.hour_calls is not None:
            return float(self.hour_calls[trunk.id])
        if self.calls_per_hour is not None:
            return self.calls_per_hour * trunk.weight
        return trunk.busy_hour_erlangs * 3600 / self._hold_s[trunk.id]

    def offered_erlangs(self, trunk: TrunkSpec) -> float:
        """Offered load of ``trunk``'s busy hour (peak rate × mean holding time / 3600 s)."""
        return self.peak_rate(trunk) * self._hold_s[trunk.id] / 3600

    def expected_rate(self, trunk: TrunkSpec, hour_ms: int) -> float:
        """Mean calls (excluding bursts) of ``trunk`` in the UTC hour starting at ``hour_ms``."""
        if self.hour_calls is not None:
            return float(self.hour_calls[trunk.id])
        local = datetime.fromtimestamp(hour_ms / 1000, UTC).astimezone(self._tz[trunk.id])
        day = self.peak_rate(trunk) / tm.PEAK_HOUR_SHARE
        return day * tm.HOUR_SHARE[local.hour] * tm.DAY_FACTOR[local.weekday()]

    # ------------------------------------------------------------------ drawing
    def _arrivals(self, rng: np.random.Generator, trunk: TrunkSpec, hour_ms: int) -> np.ndarray:
        """Arrival second offsets in the hour; a burst's calls are coded ``-1 - offset``."""
        if self.hour_calls is not None:
            return rng.integers(0, 3600, self.hour_calls[trunk.id])
        lam = self.expected_rate(trunk, hour_ms)
        starts = rng.integers(0, 3600, rng.poisson(lam)) if lam > 0 else np.zeros(0, np.int64)
        business = lam >= tm.BURST_MIN_HOUR_SHARE / tm.PEAK_HOUR_SHARE * self.peak_rate(trunk)
        if business and rng.random() < self.burst_probability:
            b0 = int(rng.integers(0, 3600 - 60))
            burst = b0 + rng.integers(0, 60, int(rng.integers(20, 81)))
            starts = np.concatenate([starts, -1 - burst])
        return starts

    def _raws(self, hours: list[int]) -> dict[int, HourDraw]:
        """The draws of ``hours`` (from the cache, the missing ones drawn together)."""
        found: dict[int, HourDraw] = {}
        with self._raw_lock:
            for h in hours:
                hit = self._raw_cache.get(h)
                if hit is not None:
                    self._raw_cache.move_to_end(h)
                    found[h] = hit
        missing = [h for h in hours if h not in found]
        if missing:
            drawn = draw_hours(
                self.seed,
                self._layout,
                missing,
                self._arrivals,
                odd_rate=self.odd_completed_rate,
                variant_rate=self.variant_rate,
            )
            found.update(zip(missing, drawn, strict=True))
            with self._raw_lock:
                self._raw_cache.update(zip(missing, drawn, strict=True))
                while len(self._raw_cache) > RAW_CACHE_HOURS:
                    self._raw_cache.popitem(last=False)
        return found

    def hours(self, hour_list: list[int]) -> list[dict[str, list[CallOutcome]]]:
        """Every trunk's calls of each UTC hour in ``hour_list``, each in listing order.

        The trunks' CPS and channel limits are enforced (``capacity.py``); the channels
        already held when an hour starts are those of the previous hour *as drawn*.  Drawing
        several hours at once is faster and gives the same calls as one by one.
        """
        needed = sorted({*hour_list, *(h - HOUR_MS for h in hour_list)})
        raws = self._raws(needed)
        got: list[bool] = []
        for h in hour_list:
            raw, prev = raws[h], raws[h - HOUR_MS]
            create, end, cps_ok = raw.create_ms.tolist(), raw.end_ms.tolist(), raw.cps_ok.tolist()
            up = prev.cps_ok & (prev.end_ms > h)
            for i, trunk in enumerate(self.trunks):
                a, b = raw.bounds[i], raw.bounds[i + 1]
                pa, pb = prev.bounds[i], prev.bounds[i + 1]
                carried = prev.end_ms[pa:pb][up[pa:pb]].tolist()
                got += channel_admitted(create[a:b], end[a:b], cps_ok[a:b], carried,
                                        self.channels[trunk.id])  # fmt: skip
        joined = concat([raws[h] for h in hour_list])
        calls = self._outcomes(joined, np.array(got, dtype=bool))
        n = len(self.trunks)
        edges = joined.bounds
        return [
            {
                t.id: calls[edges[k * n + i] : edges[k * n + i + 1]]
                for i, t in enumerate(self.trunks)
            }
            for k in range(len(hour_list))
        ]

    def hour(self, hour_ms: int) -> dict[str, list[CallOutcome]]:
        """Every trunk's calls created in ``[hour_ms, hour_ms + 1 h)`` (:meth:`hours`)."""
        return self.hours([hour_ms])[0]

    def block(self, trunk: TrunkSpec, hour_ms: int) -> list[CallOutcome]:
        """All calls of ``trunk`` created in ``[hour_ms, hour_ms + 1 h)``, in listing order."""
        return self.hour(hour_ms)[trunk.id]

    def _outcomes(self, raw: HourDraw, got: np.ndarray) -> list[CallOutcome]:
        """The hour's calls once the capacity check gave ``got`` (admitted with a channel)."""
        refused_cps, refused_ch = ~raw.cps_ok, raw.cps_ok & ~got
        answered = got & (raw.result == tm.COMPLETED) & ~raw.odd
        result = np.where(refused_cps, tm.FAILED, np.where(refused_ch, tm.BUSY, raw.result))
        conv = np.where(answered, raw.conv, 0)
        hold_s = np.where(got, raw.ring + conv, 0)
        odd = got & raw.odd
        sip = np.where(odd, tm.ODD_COMPLETED[0], raw.sip)
        sip = np.where(refused_cps, tm.CPS_REFUSED[0],
                       np.where(refused_ch, tm.CHANNELS_FULL[0], sip))  # fmt: skip
        cause = np.where(odd, tm.ODD_COMPLETED[1], raw.cause)
        cause = np.where(refused_cps, tm.CPS_REFUSED[1],
                         np.where(refused_ch, tm.CHANNELS_FULL[1], cause))  # fmt: skip
        lay = self._layout
        inc = np.where(lay.six[raw.rate], 6, 60)
        billed = -(-conv // inc) * inc
        price = (lay.ppm_units[raw.rate] * billed * 2 + 60) // 120  # round half up, 1e-4 USD
        answer = np.where(answered, raw.create_ms + raw.ring * 1000, 0).astype(object)
        answer[~answered] = None
        other, did = lay.numbers_obj[raw.other], lay.dids_obj[raw.did]
        columns = (
            raw.create_ms.tolist(),
            answer.tolist(),
            (raw.create_ms + hold_s * 1000).tolist(),
            ulids(raw.create_ms, raw.hi, raw.lo),
            lay.trunk_ids_obj[raw.trunk].tolist(),
            _DIRECTIONS[raw.inbound.astype(np.int64)].tolist(),
            _RESULT_NAMES[result].tolist(),
            np.where(raw.inbound, other, did).tolist(),
            np.where(raw.inbound, did, other).tolist(),
            lay.ppm_obj[raw.rate].tolist(),
            billed.tolist(),
            list(map(_price, price.tolist())),
            np.where(raw.inbound, hold_s, conv).tolist(),
            raw.variant.tolist(),
            sip.tolist(),
            cause.tolist(),
            np.where(answered, raw.mos, 0.0).tolist(),
        )
        return list(map(CallOutcome._make, zip(*columns, strict=True)))


_DIRECTIONS = np.array(["OUTBOUND", "INBOUND"], dtype=object)
_RESULT_NAMES = np.array(tm.RESULTS, dtype=object)


@lru_cache(maxsize=65536)
def _price(q: int) -> str:
    """An amount in 1e-4 USD as the 4-decimal string the API serves."""
    return f"{q // 10000}.{q % 10000:04d}"
