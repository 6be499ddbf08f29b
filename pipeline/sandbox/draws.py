"""The random draws of one UTC hour: each trunk's block from its own seed, transformed at once.

Each (hour, trunk) block is drawn from its own numpy ``Generator`` (PCG64) seeded with
``blake2b(seed, trunk id, hour)``: its arrival count, a matrix of uniforms and its callIds'
random bits, so no block depends on another.  The hour's blocks are then concatenated and turned
into call fields in one vectorised pass with ``traffic_model``'s functions (per-call numpy work
instead of per-block: a block holds only tens of calls).  Standard normals come from the
uniforms by the Box–Muller transform (exact).  Nothing here enforces capacity: ``cps_ok`` is
the CPS decision (``capacity.cps_admitted``, history-free); channels are ``traffic.py``'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.sandbox import traffic_model as tm
from pipeline.sandbox.capacity import cps_admitted
from pipeline.sandbox.numbering import (
    FOREIGN_MIX,
    PPM_INBOUND,
    PPM_INBOUND_DEFAULT,
    PPM_OUTBOUND,
    PPM_OUTBOUND_DEFAULT,
    SIX_SECOND_COUNTRIES,
    number_pool,
)
from pipeline.sandbox.trunks import TrunkSpec

# Rows of a block's matrix of uniforms.
(_IN, _RESULT, _CODE, _MOS_TAIL, _MOS, _ODD, _DOMESTIC, _FOREIGN, _NUMBER, _DID, _VARIANT,
 _KIND, _TIMES, _NORMALS) = (*range(13), 15)  # fmt: skip
_ROWS = _NORMALS + 4  # 3 rows for times_from, 4 uniforms → 4 normals (Box–Muller)

Arrivals = Callable[[np.random.Generator, TrunkSpec, int], np.ndarray]


def seed_int(*parts: object) -> int:
    """A 64-bit seed from ``parts`` (blake2b)."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


@dataclass(frozen=True, slots=True)
class Layout:
    """Lookup tables over a generator's trunks, countries and numbers.

    ``numbers``: every country's pool, concatenated (``offset`` / ``size`` per country);
    ``dids``: every trunk's DIDs (``did_base`` / ``did_count`` per trunk); ``ppm``: outbound
    rate per country, then the inbound rate per trunk (index ``len(countries) + trunk``).
    """

    trunks: tuple[TrunkSpec, ...]
    countries: tuple[str, ...]
    numbers: tuple[str, ...]
    offset: np.ndarray
    size: np.ndarray
    home: np.ndarray
    foreign: np.ndarray
    foreign_cum: np.ndarray
    dids: tuple[str, ...]
    did_base: np.ndarray
    did_count: np.ndarray
    ppm: tuple[str, ...]
    ppm_units: np.ndarray
    six: np.ndarray
    inbound_share: np.ndarray
    cps: np.ndarray
    numbers_obj: np.ndarray  # the same as object arrays, for vectorised look-ups
    dids_obj: np.ndarray
    ppm_obj: np.ndarray
    trunk_ids_obj: np.ndarray


def _objects(values: tuple[str, ...] | list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def layout(trunks: tuple[TrunkSpec, ...], dids: dict[str, tuple[str, ...]]) -> Layout:
    """The :class:`Layout` of ``trunks`` with their DIDs."""
    countries = tuple(dict.fromkeys([*(t.country for t in trunks), *(c for c, _ in FOREIGN_MIX)]))
    pools = [number_pool(c) for c in countries]
    ppm = (*(PPM_OUTBOUND.get(c, PPM_OUTBOUND_DEFAULT) for c in countries),
           *(PPM_INBOUND.get(t.country, PPM_INBOUND_DEFAULT) for t in trunks))  # fmt: skip
    did_lists = [dids[t.id] for t in trunks]
    return Layout(
        trunks=trunks,
        countries=countries,
        numbers=tuple(n for pool in pools for n in pool),
        offset=np.cumsum([0] + [len(p) for p in pools[:-1]]),
        size=np.array([len(p) for p in pools]),
        home=np.array([countries.index(t.country) for t in trunks]),
        foreign=np.array([countries.index(c) for c, _ in FOREIGN_MIX]),
        foreign_cum=np.cumsum([p for _, p in FOREIGN_MIX]),
        dids=tuple(d for ds in did_lists for d in ds),
        did_base=np.cumsum([0] + [len(d) for d in did_lists[:-1]]),
        did_count=np.array([len(d) for d in did_lists]),
        ppm=ppm,
        ppm_units=np.array([round(float(x) * 10_000) for x in ppm]),
        six=np.array(
            [c in SIX_SECOND_COUNTRIES for c in countries]
            + [t.country in SIX_SECOND_COUNTRIES for t in trunks]
        ),
        inbound_share=np.array([t.inbound_share for t in trunks]),
        cps=np.array([t.calls_per_second for t in trunks]),
        numbers_obj=_objects([n for pool in pools for n in pool]),
        dids_obj=_objects([d for ds in did_lists for d in ds]),
        ppm_obj=_objects(ppm),
        trunk_ids_obj=_objects([t.id for t in trunks]),
    )


@dataclass(frozen=True, slots=True)
class HourDraw:
    """An hour's calls as drawn, trunk after trunk, each trunk's in listing order.

    Trunk ``i``'s calls are ``[bounds[i], bounds[i + 1])``.  ``end_ms`` is the drawn end (a
    call the CPS limit refuses still has it); ``rate`` indexes ``Layout.ppm``, ``other`` the
    numbers (the caller of an inbound call, the callee of an outbound one), ``did`` the DIDs.
    """

    bounds: tuple[int, ...]
    trunk: np.ndarray
    create_ms: np.ndarray
    end_ms: np.ndarray
    cps_ok: np.ndarray
    inbound: np.ndarray
    result: np.ndarray
    ring: np.ndarray
    conv: np.ndarray
    sip: np.ndarray
    cause: np.ndarray
    mos: np.ndarray
    odd: np.ndarray
    rate: np.ndarray
    other: np.ndarray
    did: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    variant: np.ndarray


def _normals(u: np.ndarray) -> np.ndarray:
    """4 rows of standard normals from 4 rows of uniforms in [0, 1) (Box–Muller)."""
    out = np.empty_like(u)
    for k in (0, 2):
        r = np.sqrt(-2.0 * np.log1p(-u[k]))
        theta = 2.0 * np.pi * u[k + 1]
        out[k], out[k + 1] = r * np.cos(theta), r * np.sin(theta)
    return out


def draw_hours(
    seed: int,
    lay: Layout,
    hours: list[int],
    arrivals: Arrivals,
    *,
    odd_rate: float,
    variant_rate: float,
) -> list[HourDraw]:
    """Draw every trunk's block of each hour and turn the draws into call fields (module doc).

    ``arrivals(rng, trunk, hour_ms)`` gives a block's arrival second offsets (a burst's coded
    as ``-1 - offset``: forced outbound); it is the first use of the block's generator.  The
    hours are transformed together (fewer numpy calls per call); each block's values depend on
    its own seed only, so an hour is the same whichever hours are drawn with it.
    """
    coded, uniforms, bits = [], [], []
    for hour_ms in hours:
        for trunk in lay.trunks:
            rng = np.random.Generator(np.random.PCG64(seed_int(seed, trunk.id, hour_ms)))
            c = arrivals(rng, trunk, hour_ms)
            coded.append(c)
            uniforms.append(rng.random((_ROWS, c.size)))
            bits.append(rng.integers(0, 1 << 40, (2, c.size)))
    counts = [c.size for c in coded]
    n_trunks = len(lay.trunks)
    block = np.repeat(np.arange(len(counts)), counts)
    codes, u, ids = np.concatenate(coded), np.hstack(uniforms), np.hstack(bits)
    forced = codes < 0
    offset_s = np.where(forced, -1 - codes, codes)
    order = np.lexsort((ids[1], ids[0], offset_s, block))  # block order is unchanged
    u, ids, offset_s, forced = u[:, order], ids[:, order], offset_s[order], forced[order]
    tix = block % n_trunks
    inbound = (u[_IN] < lay.inbound_share[tix]) & ~forced
    result = tm.results_from(u[_RESULT], inbound)
    z = _normals(u[_NORMALS:])
    ring, conv = tm.times_from(u[_TIMES : _TIMES + 3], z[:3], inbound, result)
    sip, cause = tm.codes_from(u[_CODE], result)
    domestic = u[_DOMESTIC] < np.where(inbound, 0.85, 0.70)
    pick = np.searchsorted(lay.foreign_cum, u[_FOREIGN], side="right")
    country = np.where(domestic, lay.home[tix], lay.foreign[np.minimum(pick, len(FOREIGN_MIX) - 1)])
    create_ms = np.array(hours, dtype=np.int64)[block // n_trunks] + offset_s * 1000
    fields = {
        "trunk": tix,
        "create_ms": create_ms,
        "end_ms": create_ms + (ring + conv) * 1000,
        "cps_ok": cps_admitted(block * 3600 + offset_s, lay.cps[tix]),
        "inbound": inbound,
        "result": result,
        "ring": ring,
        "conv": conv,
        "sip": sip,
        "cause": cause,
        "mos": tm.mos_from(z[3], u[_MOS_TAIL], u[_MOS]),
        "odd": (u[_ODD] < odd_rate) & (result == tm.COMPLETED),
        "rate": np.where(inbound, len(lay.countries) + tix, country),
        "other": lay.offset[country] + (u[_NUMBER] * lay.size[country]).astype(np.int64),
        "did": lay.did_base[tix] + (u[_DID] * lay.did_count[tix]).astype(np.int64),
        "hi": ids[0],
        "lo": ids[1],
        "variant": np.where(u[_VARIANT] < variant_rate, (u[_KIND] * 7).astype(np.int64), -1),
    }
    edges = np.concatenate([[0], np.cumsum(counts)]).tolist()
    out = []
    for i in range(len(hours)):
        first, last = edges[i * n_trunks], edges[(i + 1) * n_trunks]
        bounds = tuple(e - first for e in edges[i * n_trunks : (i + 1) * n_trunks + 1])
        out.append(HourDraw(bounds=bounds, **{k: v[first:last] for k, v in fields.items()}))
    return out


def concat(draws: list[HourDraw]) -> HourDraw:
    """Several hours' draws as one (``bounds`` then index the trunks of every hour in turn)."""
    if len(draws) == 1:
        return draws[0]
    edges = [0]
    for d in draws:
        edges += [edges[-1] + b for b in d.bounds[1:]]
    arrays = {
        name: np.concatenate([getattr(d, name) for d in draws])
        for name in HourDraw.__dataclass_fields__
        if name != "bounds"
    }
    return HourDraw(bounds=tuple(edges), **arrays)
