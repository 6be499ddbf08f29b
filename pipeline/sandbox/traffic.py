"""Seeded, realistic synthetic call traffic, generated per (UTC hour, trunk) on demand.

Determinism: every (hour, trunk) block is drawn from its own ``random.Random`` seeded with
``blake2b(seed, trunk id, hour)``, so any window is produced without generating the history
before it, and the same seed + window gives the same calls (and bytes).  Years of history for
many trunks cost no memory beyond the LRU cache of recently used blocks.

This module is the statistical model only: it draws a :class:`CallOutcome` per call.  Turning
one into the JSON the API serves is ``render.py``'s job, and a malformed record is injected by
``faults.py``; ``state.py`` puts the three together.

Model and parameters (sources, tags as in ``docs/api-reference.md``; "choice" = ours,
illustrative, not a Sinch statistic):

* Arrivals: for each trunk, calls in a UTC hour ~ Poisson(``calls_per_hour`` × trunk weight ×
  HOUR_PROFILE[local hour] × WEEKDAY_PROFILE[local weekday]); Poisson by Knuth for λ ≤ 30, a
  rounded normal approximation above.  Within the hour arrival instants are uniform (a Poisson
  process conditioned on its count).  The intraday shape (night trough, morning ramp, late-
  morning peak, lunch dip, second afternoon peak) follows the arrival profiles of Brown et al.,
  "Statistical analysis of a telephone call center", JASA 100 (2005) §4 and Gans, Koole &
  Mandelbaum, "Telephone call centers: tutorial, review and research prospects", MSOM 5 (2003);
  the exact weights and the weekday factors (weekend ≈ 12–25 % of a weekday) are our choice.
  The local time uses each trunk's IANA time zone (DST included).  ``hour_calls``
  (``busy_hour_calls``) replaces all this: every hour has exactly that many calls, split over
  the trunks by weight (largest remainders), and no bursts.
* Bursts: with probability ``burst_probability`` a block also holds a burst of 20–80 outbound
  calls within 60 s (a dialler campaign), usually above the trunk's callsPerSecond (CPS) limit.
* Direction: per trunk inbound share (TRUNKS below; choice).
* Outcome mix (choice), per direction — consistent with the typical ASR of 50–70 % quoted for
  ITU-T E.411 ASR (voip-info.org/asr) and NER ≈ 1 − FAILED ≈ 95–98 % (ITU-T E.425):
  OUTCOME_MIX below.
* Ring time (createTime → answerTime) of answered calls: lognormal, median 6 s (inbound) /
  8 s (outbound), σ = 0.5, clipped to [1, 60] s (choice).  NO_ANSWER rings 25–60 s (uniform,
  a typical no-answer timer); CANCEL: lognormal median 10 s σ 0.6; BUSY 1–4 s; FAILED 0–3 s.
* Conversation time (answerTime → endTime): lognormal with median 120 s (μ = ln 120) and
  σ = 1.0, clipped to [1 s, 4 h].  Brown et al. (2005) §5 find call-centre service times
  lognormal; the median of about 2 minutes is theirs, σ is our choice.
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
  country at start-up from the library's example numbers by varying the last digits.  Each
  trunk owns 12 DIDs in its country; outbound destinations are 70 % domestic, 30 % from
  FOREIGN_MIX; inbound callers 85 % domestic.
* Format variants (at ``variant_rate``, one per affected call, value-preserving; drawn here as
  :attr:`CallOutcome.variant`, applied by ``render.py``): lower-case direction; ``+0000``
  offsets; 9-digit fractions (``.000000000Z``); ``from`` as ``sip:+E164@ip``; ``to`` as
  ``+E164@host:5060``; money amounts as strings ``"0.0040"``; ``to`` as bare digits.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers

HOUR_MS = 3_600_000

# Relative arrival weight by local hour of day (0..23); peak 1.0 at 10:00.
HOUR_PROFILE: tuple[float, ...] = (
    0.02, 0.01, 0.01, 0.01, 0.01, 0.03, 0.08, 0.25, 0.60, 0.90, 1.00, 0.95,
    0.75, 0.80, 0.95, 0.90, 0.80, 0.60, 0.35, 0.20, 0.12, 0.08, 0.05, 0.03,
)  # fmt: skip
# Relative weight by local weekday, Monday first.
WEEKDAY_PROFILE: tuple[float, ...] = (1.10, 1.00, 1.00, 0.98, 0.90, 0.25, 0.12)

# (result, probability) per direction; each row sums to 1.
OUTCOME_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "INBOUND": (
        ("COMPLETED", 0.80),
        ("NO_ANSWER", 0.08),
        ("CANCEL", 0.08),
        ("BUSY", 0.02),
        ("FAILED", 0.02),
    ),
    "OUTBOUND": (
        ("COMPLETED", 0.60),
        ("NO_ANSWER", 0.18),
        ("BUSY", 0.09),
        ("CANCEL", 0.07),
        ("FAILED", 0.06),
    ),
}
CONVERSATION_MEDIAN_S = 120.0
CONVERSATION_SIGMA = 1.0
CONVERSATION_MAX_S = 4 * 3600
MAX_CALL_MS = (CONVERSATION_MAX_S + 120) * 1000  # longest possible createTime → endTime

PPM_OUTBOUND: dict[str, str] = {
    "US": "0.0040", "CA": "0.0050", "GB": "0.0120", "DE": "0.0150", "DK": "0.0200",
    "SE": "0.0180", "FR": "0.0140", "NL": "0.0160", "ES": "0.0130", "PL": "0.0210",
    "IN": "0.0250", "BR": "0.0300", "MX": "0.0220",
}  # fmt: skip
PPM_INBOUND: dict[str, str] = {"US": "0.0020", "CA": "0.0025"}
PPM_INBOUND_DEFAULT = "0.0060"
SIX_SECOND_COUNTRIES = frozenset({"US", "CA"})
FOREIGN_MIX: tuple[tuple[str, float], ...] = (
    ("US", 0.25), ("GB", 0.12), ("DE", 0.12), ("FR", 0.08), ("SE", 0.07), ("DK", 0.06),
    ("NL", 0.06), ("ES", 0.06), ("PL", 0.05), ("IN", 0.05), ("BR", 0.04), ("MX", 0.02),
    ("CA", 0.02),
)  # fmt: skip
# Q.850 cause / SIP response per result, for the export CSV (choice).
CAUSE_SIP: dict[str, tuple[str, str]] = {
    "COMPLETED": ("16", "200"),
    "NO_ANSWER": ("19", "480"),
    "BUSY": ("17", "486"),
    "CANCEL": ("16", "487"),
    "FAILED": ("34", "503"),
}


@dataclass(frozen=True, slots=True)
class TrunkSpec:
    """A generated trunk.  ``weight`` scales ``calls_per_hour``."""

    id: str
    name: str
    country: str
    tz: str
    calls_per_second: int
    weight: float
    inbound_share: float
    region: str
    host_name: str
    create_time: str


TRUNKS: tuple[TrunkSpec, ...] = (
    TrunkSpec("01JSBX0TRUNK0CPH0000000001", "Copenhagen HQ", "DK", "Europe/Copenhagen", 10,
              1.0, 0.60, "eu-central", "cph-hq", "2025-03-04T09:12:44Z"),
    TrunkSpec("01JSBX0TRUNK0LON0000000002", "London Sales", "GB", "Europe/London", 5,
              0.7, 0.30, "eu-west", "lon-sales", "2025-04-17T13:02:10Z"),
    TrunkSpec("01JSBX0TRUNK0NYC0000000003", "New York Support", "US", "America/New_York", 20,
              1.5, 0.75, "us-east", "nyc-support", "2025-05-20T15:40:00Z"),
    TrunkSpec("01JSBX0TRUNK0BER0000000004", "Berlin, Field Service", "DE", "Europe/Berlin", 1,
              0.3, 0.50, "eu-central", "ber-field", "2025-06-02T07:55:31Z"),
    TrunkSpec("01JSBX0TRUNK0SAO0000000005", "Sao Paulo Ops", "BR", "America/Sao_Paulo", 2,
              0.4, 0.50, "sa-east", "sao-ops", "2025-08-11T11:21:09Z"),
)  # fmt: skip

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)  # 10 bits → 2 characters


def ulid(ms: int, rand80: int) -> str:
    """A 26-character ULID string from a 48-bit ms time and 80 random bits."""
    n = (ms << 80) | rand80  # 128 bits, read as 130 bits = 13 × 10
    p = _PAIRS
    return "".join([p[(n >> s) & 1023] for s in range(120, -10, -10)])


COUNTRY_OF_NUMBER: dict[str, str] = {}
TRUNK_BY_ID: dict[str, TrunkSpec] = {t.id: t for t in TRUNKS}


@cache
def number_pool(region: str, size: int = 300) -> tuple[str, ...]:
    """Valid E.164 numbers for a region (fixed, independent of the seed), built once."""
    rng = random.Random(f"pool:{region}")
    pool: list[str] = []
    seen: set[str] = set()
    bases = []
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        ex = phonenumbers.example_number_for_type(region, kind)
        if ex is not None:
            bases.append(ex)
    tries = 0
    while len(pool) < size and tries < size * 20:
        tries += 1
        base = bases[tries % len(bases)]
        nsn = str(base.national_number)
        k = min(5, len(nsn) - 2)
        varied = nsn[:-k] + "".join(str(rng.randrange(10)) for _ in range(k))
        num = phonenumbers.PhoneNumber(country_code=base.country_code, national_number=int(varied))
        if phonenumbers.is_valid_number(num):
            e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            if e164 not in seen:
                seen.add(e164)
                pool.append(e164)
                COUNTRY_OF_NUMBER[e164] = region
    if not pool:
        msg = f"could not build a number pool for {region}"
        raise RuntimeError(msg)
    return tuple(pool)


def _seed_int(*parts: object) -> int:
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _split(total: int, trunks: tuple[TrunkSpec, ...]) -> dict[str, int]:
    """``total`` calls over ``trunks`` by weight, exactly (largest remainders, then order)."""
    weight = sum(t.weight for t in trunks)
    exact = [total * t.weight / weight for t in trunks]
    counts = [math.floor(e) for e in exact]
    by_rest = sorted(range(len(trunks)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_rest[: total - sum(counts)]:
        counts[i] += 1
    return {t.id: n for t, n in zip(trunks, counts, strict=True)}


def _choice(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    r = rng.random()
    acc = 0.0
    for value, p in table:
        acc += p
        if r < acc:
            return value
    return table[-1][0]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One generated call as the model draws it, before any rendering (``render.py``).

    Attributes:
        create_ms / answer_ms / end_ms: epoch ms (UTC); ``answer_ms`` is None if unanswered.
        call_id: a ULID whose time part is ``create_ms``.
        trunk_id: the trunk's id.
        direction: ``"INBOUND"`` or ``"OUTBOUND"``.
        result: the callResult (OUTCOME_MIX).
        from_number / to_number: E.164 numbers.
        price_per_minute: USD per minute, a 4-decimal string (PPM_OUTBOUND / PPM_INBOUND).
        billed_s: billingDurationSeconds (0 if unanswered).
        price: USD, a 4-decimal string (rounded half up).
        duration_s: durationSeconds.
        variant: the format variant to serve (0–6, see ``render.py``), or -1 for none.
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


def _times(rng: random.Random, direction: str, result: str) -> tuple[int | None, int, int]:
    """(answer, end, conversation) in seconds after createTime, by result (module doc)."""
    if result == "COMPLETED":
        med = 6.0 if direction == "INBOUND" else 8.0
        ring = min(60, max(1, round(rng.lognormvariate(math.log(med), 0.5))))
        conv = min(
            CONVERSATION_MAX_S,
            max(
                1,
                round(rng.lognormvariate(math.log(CONVERSATION_MEDIAN_S), CONVERSATION_SIGMA)),
            ),
        )
        return ring, ring + conv, conv
    if result == "NO_ANSWER":
        end_s = rng.randint(25, 60)
    elif result == "CANCEL":
        end_s = min(60, max(1, round(rng.lognormvariate(math.log(10.0), 0.6))))
    elif result == "BUSY":
        end_s = rng.randint(1, 4)
    else:
        end_s = rng.randint(0, 3)
    return None, end_s, 0


def _outcome_key(o: CallOutcome) -> tuple[int, str]:
    return o.create_ms, o.call_id


class TrafficGenerator:
    """Draws the calls of one (hour, trunk) block, deterministically from the seed."""

    def __init__(
        self,
        *,
        seed: int,
        calls_per_hour: float,
        burst_probability: float,
        variant_rate: float,
        trunks: tuple[TrunkSpec, ...] = TRUNKS,
        hour_calls: int | None = None,
    ) -> None:
        self.hour_calls = _split(hour_calls, trunks) if hour_calls is not None else None
        self.seed = seed
        self.calls_per_hour = calls_per_hour
        self.burst_probability = burst_probability
        self.variant_rate = variant_rate
        self.trunks = trunks
        self._tz = {t.id: ZoneInfo(t.tz) for t in trunks}
        self._dids = {}
        for t in trunks:
            pool = number_pool(t.country)
            r = random.Random(_seed_int(seed, "dids", t.id))
            self._dids[t.id] = tuple(r.sample(pool, min(12, len(pool))))
        for country, _ in FOREIGN_MIX:
            number_pool(country)

    def expected_rate(self, trunk: TrunkSpec, hour_ms: int) -> float:
        """Mean calls (excluding bursts) of ``trunk`` in the UTC hour starting at ``hour_ms``."""
        if self.hour_calls is not None:
            return float(self.hour_calls[trunk.id])
        local = datetime.fromtimestamp(hour_ms / 1000, UTC).astimezone(self._tz[trunk.id])
        return (
            self.calls_per_hour
            * trunk.weight
            * HOUR_PROFILE[local.hour]
            * WEEKDAY_PROFILE[local.weekday()]
        )

    def block(self, trunk: TrunkSpec, hour_ms: int) -> list[CallOutcome]:
        """All calls of ``trunk`` created in ``[hour_ms, hour_ms + 1 h)``, sorted."""
        rng = random.Random(_seed_int(self.seed, trunk.id, hour_ms))
        if self.hour_calls is not None:
            n = self.hour_calls[trunk.id]
        else:
            n = _poisson(rng, self.expected_rate(trunk, hour_ms))
        starts: list[tuple[int, str | None]] = [
            (hour_ms + rng.randrange(3600) * 1000, None) for _ in range(n)
        ]
        if self.hour_calls is None and rng.random() < self.burst_probability:
            b0 = hour_ms + rng.randrange(3600 - 60) * 1000
            starts += [
                (b0 + rng.randrange(60) * 1000, "OUTBOUND") for _ in range(rng.randint(20, 80))
            ]
        calls = [self._call(rng, trunk, ms, forced) for ms, forced in starts]
        calls.sort(key=_outcome_key)
        return calls

    def _call(
        self, rng: random.Random, trunk: TrunkSpec, create_ms: int, forced: str | None
    ) -> CallOutcome:
        """One call's outcome; the draws follow a fixed order (the seed replays them)."""
        direction = forced or ("INBOUND" if rng.random() < trunk.inbound_share else "OUTBOUND")
        result = _choice(rng, OUTCOME_MIX[direction])
        frm, to, ppm, bill_country = self._parties(rng, trunk, direction)
        answer_s, end_s, conv = _times(rng, direction, result)
        inc = 6 if bill_country in SIX_SECOND_COUNTRIES else 60
        billed = -(-conv // inc) * inc if conv else 0
        price = (Decimal(ppm) * billed / 60).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        call_id = ulid(create_ms, rng.getrandbits(80))
        variant = rng.randrange(7) if rng.random() < self.variant_rate else -1
        return CallOutcome(
            create_ms=create_ms,
            answer_ms=create_ms + answer_s * 1000 if answer_s is not None else None,
            end_ms=create_ms + end_s * 1000,
            call_id=call_id,
            trunk_id=trunk.id,
            direction=direction,
            result=result,
            from_number=frm,
            to_number=to,
            price_per_minute=ppm,
            billed_s=billed,
            price=str(price),
            duration_s=end_s if direction == "INBOUND" else conv,
            variant=variant,
        )

    def _parties(
        self, rng: random.Random, trunk: TrunkSpec, direction: str
    ) -> tuple[str, str, str, str]:
        """(from, to, price per minute, billing country) of a call of ``trunk``."""
        did = rng.choice(self._dids[trunk.id])
        if direction == "OUTBOUND":
            dest = trunk.country if rng.random() < 0.70 else _choice(rng, FOREIGN_MIX)
            return did, rng.choice(number_pool(dest)), PPM_OUTBOUND.get(dest, "0.0300"), dest
        src = trunk.country if rng.random() < 0.85 else _choice(rng, FOREIGN_MIX)
        ppm = PPM_INBOUND.get(trunk.country, PPM_INBOUND_DEFAULT)
        return rng.choice(number_pool(src)), did, ppm, trunk.country
