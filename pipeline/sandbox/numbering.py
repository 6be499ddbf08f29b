"""Who a generated call connects and what it costs: number pools, callIds, price tables.

* Numbers: pools of numbers that ``phonenumbers.is_valid_number`` accepts, built once per
  country at start-up from the library's example numbers by varying the last digits (fixed,
  independent of the seed).  A number's country (the export's To/From Country) is its pool's
  region — the one ``phonenumbers.region_code_for_number`` gives — kept in
  ``COUNTRY_OF_NUMBER``; :func:`country_of` falls back to that phonenumbers lookup.
* callIds are ULIDs (:func:`ulid`): 48 bits of createTime ms, 80 random bits, Crockford
  base 32.
* Price: ``pricePerMinute`` by destination country (PPM_OUTBOUND / PPM_INBOUND; USD,
  illustrative, not Sinch's price list, which is not public for this use); 6/6 billing for the
  North American numbering plan (US, CA), 60/60 elsewhere (choice; both schemes are common).
  Outbound destinations abroad follow FOREIGN_MIX (choice).
"""

from __future__ import annotations

import random
from functools import cache, lru_cache

import numpy as np
import phonenumbers

PPM_OUTBOUND: dict[str, str] = {
    "US": "0.0040", "CA": "0.0050", "GB": "0.0120", "DE": "0.0150", "DK": "0.0200",
    "SE": "0.0180", "FR": "0.0140", "NL": "0.0160", "ES": "0.0130", "PL": "0.0210",
    "IN": "0.0250", "BR": "0.0300", "MX": "0.0220",
}  # fmt: skip
PPM_OUTBOUND_DEFAULT = "0.0300"
PPM_INBOUND: dict[str, str] = {"US": "0.0020", "CA": "0.0025"}
PPM_INBOUND_DEFAULT = "0.0060"
SIX_SECOND_COUNTRIES = frozenset({"US", "CA"})
FOREIGN_MIX: tuple[tuple[str, float], ...] = (
    ("US", 0.25), ("GB", 0.12), ("DE", 0.12), ("FR", 0.08), ("SE", 0.07), ("DK", 0.06),
    ("NL", 0.06), ("ES", 0.06), ("PL", 0.05), ("IN", 0.05), ("BR", 0.04), ("MX", 0.02),
    ("CA", 0.02),
)  # fmt: skip

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)  # 10 bits → 2 characters


def ulid(ms: int, rand80: int) -> str:
    """A 26-character ULID string from a 48-bit ms time and 80 random bits."""
    n = (ms << 80) | rand80  # 128 bits, read as 130 bits = 13 × 10
    p = _PAIRS
    return "".join([p[(n >> s) & 1023] for s in range(120, -10, -10)])


_CODEPOINTS = np.array([ord(ch) for ch in _CROCKFORD], dtype=np.uint32)
_SHIFTS_48 = np.arange(45, -5, -5, dtype=np.int64)  # 10 characters of a 48-bit time
_SHIFTS_40 = np.arange(35, -5, -5, dtype=np.int64)  # 8 characters of 40 random bits


def ulids(ms: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> list[str]:
    """:func:`ulid` of many calls at once: ``ulid(ms[i], hi[i] << 40 | lo[i])`` (40-bit halves)."""
    digits = np.hstack([
        (ms[:, None] >> _SHIFTS_48) & 31,
        (hi[:, None] >> _SHIFTS_40) & 31,
        (lo[:, None] >> _SHIFTS_40) & 31,
    ])  # fmt: skip
    chars = np.ascontiguousarray(_CODEPOINTS[digits])
    return chars.view("<U26").ravel().tolist()


COUNTRY_OF_NUMBER: dict[str, str] = {}


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


@lru_cache(maxsize=65536)
def country_of(number: str) -> str:
    """ISO region of an E.164 number: its pool's, else ``phonenumbers``' lookup ("" if none)."""
    hit = COUNTRY_OF_NUMBER.get(number)
    if hit is not None:
        return hit
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.region_code_for_number(parsed) or ""
