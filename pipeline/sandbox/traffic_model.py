"""The fitted traffic model of a trunk: its distributions, their parameters and sources.

Pure functions over numpy arrays (one call per (hour, trunk) block); ``traffic.py`` draws a
block with them, ``capacity.py`` enforces the trunk's limits on it.  Parameters and sources:

* **Arrivals** — a non-homogeneous Poisson process, piecewise constant per local hour:
  ``λ(hour) = day_calls × HOUR_SHARE[local hour] × DAY_FACTOR[local weekday]``.

  - ``HOUR_SHARE``: share of a day's calls by local hour of day.  The peak (8.8 % at 10:00)
    and the empty night (0 % at 03:00–05:59) are the measured values of the Israeli bank call
    centre of Brown, Gans, Mandelbaum, Sakov, Shen, Zeltyn & Zhao, "Statistical analysis of a
    telephone call center: a queueing-science perspective", JASA 100 (2005) 36–50, whose data
    are Mandelbaum's "Call centers data" (Technion SEE lab, Service Enterprise Engineering,
    ie.technion.ac.il/serveng).  The other hours follow the shape of their intraday arrival
    figure (morning ramp from 07:00, late-morning peak, lunch dip, afternoon plateau, evening
    tail to midnight) and are normalised to sum to 1: read to shape, not measured hour by hour.
  - ``DAY_FACTOR``: the same data have ~1,700 calls per working day (Sun–Thu in Israel) and
    183 on Saturday: weekend factor ``183 / 1700 ≈ 0.108``.  Israel's weekend is Fri–Sat; the
    sandbox's trunks are in Europe and the Americas, so the factor applies to *Saturday and
    Sunday* in each trunk's own time zone (DST included), Monday–Friday are working days.
    Weekend days keep the weekday hour shape (a simplification).
  - ``day_calls`` is sized per trunk from its offered busy-hour load: a trunk with
    ``busy_hour_erlangs`` A has ``A × 3600 / mean_holding_s`` calls in its weekday 10:00 hour
    (Erlang's definition: erlangs = arrival rate × mean holding time), so
    ``day_calls = that / 0.088``.  Copenhagen's 6 E gives ~1,650 calls a working day, the size
    of the Israeli centre.
* **Conversation** (answerTime → endTime) of answered calls: lognormal, μ = 4.81, σ = 0.92
  (median e^4.81 ≈ 123 s, mean e^(μ+σ²/2) ≈ 187 s; Brown et al. 2005 §5 fit service times of
  answered calls ≥ 10 s, mean 184 s).  Below 10 s the fit is kept (P ≈ 0.3 %).  Capped at
  ``CONVERSATION_MAX_S`` = 3,480 s (P(longer) ≈ 1.6·10⁻⁴) so that every call ends within an
  hour of its createTime: ``capacity.py`` relies on it across hour boundaries.
* **Ring time** (createTime → answerTime) of answered calls: lognormal, median 6 s inbound /
  8 s outbound, σ 0.5, clipped to [1, 60] s (choice: a few rings; the calls API has no PDD).
* **Abandonment and outcome mix** (``OUTCOME_MIX``, choice, tuned to data): the Copenhagen
  export in ``tests/data/copenhagen-calls`` (real calls, Sapiezynski et al., Scientific Data 6,
  315, 2019) has 73.7 % connected calls (2,654 / 3,600); a Copenhagen-like trunk (60 %
  inbound) draws 0.6 × 0.77 + 0.4 × 0.71 = 74.6 % COMPLETED, of which about 1 point is
  refused by the channel limit in busy hours (1 % grade of service), leaving ≈ 73.7 %.
  Unanswered calls are ≈ 25 % (inbound: 15 % callers hanging up before an answer = CANCEL,
  4 % not answered), the ~25 % abandonment of call-centre data (Brown et al. 2005 §3; the
  Technion data's abandonment varies by service and hour).  NO_ANSWER rings 25–60 s
  (uniform, a no-answer timer); CANCEL (abandonment) lognormal median 10 s σ 0.6, in [1, 60];
  BUSY 1–4 s; FAILED 0–3 s.
* **SIP / Q.850 codes** (``SIP_CODES``; export columns): 200/16 answered; 486/17 busy;
  480/19 or 408/18 no answer; 487 with cause 16 or 31 cancelled; FAILED 404/1, 484/28 or
  500/41.  The cause ↔ SIP pairs follow the ISUP → SIP mapping of RFC 3398 §7.2.4.1 where it
  has one (1→404, 17→486, 18→408, 19→480, 28→484, 34→503).  Capacity refusals
  (``capacity.py``): 603/21 (Sinch refuses calls over a trunk's CPS limit with 603 Decline;
  RFC 3398 maps 603 → 21 "call rejected") and 503/34 (no circuit/channel available).
* **Oddity** (public data): at ``ODD_COMPLETED_RATE`` (0.2 %), an answered call is served
  the way Sinch's own test fixture shows one — ``COMPLETED`` with SIP 404, no answerTime,
  0 s billed ([N-E2E] [N-UT] in ``docs/api-reference.md``, pitfall 17).
* **MOS** (answered calls; 0.0 otherwise): 96 % from a normal N(4.30, 0.08) clipped to
  [3.5, 4.5], 4 % uniform in [2.5, 3.5), rounded to 2 decimals.  ITU-T G.107 (E-model): an
  unimpaired G.711 call has R = 93.2, MOS ≈ 4.4; R < 70 (MOS < 3.6) is "many users
  dissatisfied" — the low tail stands for calls with loss or jitter.  The shares are our choice.
"""

from __future__ import annotations

import math

import numpy as np

HOUR_SHARE: tuple[float, ...] = tuple(p / 100 for p in (
    0.5, 0.2, 0.1, 0.0, 0.0, 0.0, 0.3, 2.6, 6.2, 8.3, 8.8, 8.6,
    7.5, 7.3, 7.9, 7.8, 7.2, 6.2, 5.0, 4.3, 3.7, 3.2, 2.6, 1.7,
))  # fmt: skip
PEAK_HOUR_SHARE = max(HOUR_SHARE)  # 0.088 at 10:00
WEEKEND_FACTOR = 183 / 1700
DAY_FACTOR: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, WEEKEND_FACTOR, WEEKEND_FACTOR)
BURST_MIN_HOUR_SHARE = 0.02  # dialler campaigns run in business hours only

CONVERSATION_MU = 4.81
CONVERSATION_SIGMA = 0.92
CONVERSATION_MAX_S = 3480
RING_MEDIAN_S = {"INBOUND": 6.0, "OUTBOUND": 8.0}
RING_SIGMA = 0.5
CANCEL_MEDIAN_S = 10.0
CANCEL_SIGMA = 0.6
NO_ANSWER_S = (25, 60)
BUSY_S = (1, 4)
FAILED_S = (0, 3)
MAX_CALL_MS = (CONVERSATION_MAX_S + 60) * 1000  # longest createTime → endTime (< 1 h)

RESULTS: tuple[str, ...] = ("COMPLETED", "NO_ANSWER", "CANCEL", "BUSY", "FAILED")
COMPLETED, NO_ANSWER, CANCEL, BUSY, FAILED = range(5)
# Probability of each of RESULTS, per direction; each row sums to 1.
OUTCOME_MIX: dict[str, tuple[float, ...]] = {
    "INBOUND": (0.77, 0.04, 0.15, 0.02, 0.02),
    "OUTBOUND": (0.71, 0.15, 0.07, 0.04, 0.03),
}
# (SIP response, Q.850 cause, probability) per result.
SIP_CODES: dict[str, tuple[tuple[int, int, float], ...]] = {
    "COMPLETED": ((200, 16, 1.0),),
    "NO_ANSWER": ((480, 19, 0.7), (408, 18, 0.3)),
    "CANCEL": ((487, 16, 0.8), (487, 31, 0.2)),
    "BUSY": ((486, 17, 1.0),),
    "FAILED": ((404, 1, 0.5), (484, 28, 0.15), (500, 41, 0.35)),
}
CPS_REFUSED = (603, 21)
CHANNELS_FULL = (503, 34)
ODD_COMPLETED = (404, 1)
ODD_COMPLETED_RATE = 0.002

MOS_MEAN, MOS_SD, MOS_RANGE = 4.30, 0.08, (3.5, 4.5)
MOS_TAIL_SHARE, MOS_TAIL_RANGE = 0.04, (2.5, 3.5)

GRADE_OF_SERVICE = 0.01  # Erlang B blocking at which a trunk's channels are sized


def erlang_b_channels(erlangs: float, gos: float = GRADE_OF_SERVICE) -> int:
    """Fewest channels whose Erlang B blocking for ``erlangs`` offered is ≤ ``gos`` (≥ 1).

    Erlang B by the recursion ``B(A, 0) = 1``, ``B(A, k) = A·B / (k + A·B)`` (the same formula
    as ``pipeline.transforms.erlang``, kept here so the sandbox imports no analytics code).
    """
    b, m = 1.0, 0
    while b > gos or m == 0:
        m += 1
        b = erlangs * b / (m + erlangs * b)
    return m


def mean_holding_s(inbound_share: float) -> float:
    """Mean createTime → endTime of a call (channel holding time) under the model, seconds."""
    conv = math.exp(CONVERSATION_MU + CONVERSATION_SIGMA**2 / 2)
    lognormal_mean = math.exp(RING_SIGMA**2 / 2)
    per_result = {
        "NO_ANSWER": sum(NO_ANSWER_S) / 2,
        "CANCEL": CANCEL_MEDIAN_S * math.exp(CANCEL_SIGMA**2 / 2),
        "BUSY": sum(BUSY_S) / 2,
        "FAILED": sum(FAILED_S) / 2,
    }
    total = 0.0
    for direction, share in (("INBOUND", inbound_share), ("OUTBOUND", 1 - inbound_share)):
        mix = OUTCOME_MIX[direction]
        answered = RING_MEDIAN_S[direction] * lognormal_mean + conv
        hold = mix[COMPLETED] * answered
        hold += sum(mix[RESULTS.index(r)] * s for r, s in per_result.items())
        total += share * hold
    return total


def results_from(u: np.ndarray, inbound: np.ndarray) -> np.ndarray:
    """Result index (into RESULTS) per call from uniforms ``u``, by direction (``inbound``)."""
    res_in = np.searchsorted(_CUM_MIX["INBOUND"], u, side="right")
    res_out = np.searchsorted(_CUM_MIX["OUTBOUND"], u, side="right")
    return np.minimum(np.where(inbound, res_in, res_out), len(RESULTS) - 1)


def _uniform_int(u: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    """Integers uniform in ``[bounds[0], bounds[1]]`` from uniforms in [0, 1)."""
    return bounds[0] + (u * (bounds[1] - bounds[0] + 1)).astype(np.int64)


def times_from(
    u: np.ndarray, z: np.ndarray, inbound: np.ndarray, result: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(ring seconds, conversation seconds) per call; conversation 0 when unanswered.

    ``u``: 3 rows of uniforms (no-answer, busy, failed times); ``z``: 3 rows of standard
    normals (ring, conversation, cancel).  For an unanswered call ``ring`` is its whole
    createTime → endTime.
    """
    ring_med = np.where(inbound, RING_MEDIAN_S["INBOUND"], RING_MEDIAN_S["OUTBOUND"])
    answered_ring = np.minimum(np.maximum(np.rint(ring_med * np.exp(RING_SIGMA * z[0])), 1), 60)
    conv = np.rint(np.exp(CONVERSATION_MU + CONVERSATION_SIGMA * z[1]))
    conv = np.minimum(np.maximum(conv, 1), CONVERSATION_MAX_S)
    cancel = np.rint(CANCEL_MEDIAN_S * np.exp(CANCEL_SIGMA * z[2]))
    cancel = np.minimum(np.maximum(cancel, 1), 60)
    ring = np.where(result == FAILED, _uniform_int(u[2], FAILED_S), 0)
    ring = np.where(result == BUSY, _uniform_int(u[1], BUSY_S), ring)
    ring = np.where(result == CANCEL, cancel, ring)
    ring = np.where(result == NO_ANSWER, _uniform_int(u[0], NO_ANSWER_S), ring)
    ring = np.where(result == COMPLETED, answered_ring, ring).astype(np.int64)
    return ring, np.where(result == COMPLETED, conv, 0).astype(np.int64)


def codes_from(u: np.ndarray, result: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SIP response, Q.850 cause) per call from uniforms ``u``, by result (``SIP_CODES``)."""
    sip = _FIRST_SIP[result]
    cause = _FIRST_CAUSE[result]
    for index, cum, sips, causes in _ALTERNATIVES:
        pick = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
        mine = result == index
        sip = np.where(mine, sips[pick], sip)
        cause = np.where(mine, causes[pick], cause)
    return sip, cause


def mos_from(z: np.ndarray, u_tail: np.ndarray, u_value: np.ndarray) -> np.ndarray:
    """MOS per call (module doc), 2 decimals, from a standard normal and two uniforms."""
    body = np.minimum(np.maximum(MOS_MEAN + MOS_SD * z, MOS_RANGE[0]), MOS_RANGE[1])
    tail = MOS_TAIL_RANGE[0] + (MOS_TAIL_RANGE[1] - MOS_TAIL_RANGE[0]) * u_value
    return np.round(np.where(u_tail < MOS_TAIL_SHARE, tail, body), 2)


_CUM_MIX = {d: np.cumsum(p) for d, p in OUTCOME_MIX.items()}
_FIRST_SIP = np.array([SIP_CODES[r][0][0] for r in RESULTS])
_FIRST_CAUSE = np.array([SIP_CODES[r][0][1] for r in RESULTS])
_ALTERNATIVES = [
    (RESULTS.index(r), np.cumsum([p for *_, p in rows]), np.array([s for s, *_ in rows]),
     np.array([c for _, c, _ in rows]))
    for r, rows in SIP_CODES.items()
    if len(rows) > 1
]  # fmt: skip
