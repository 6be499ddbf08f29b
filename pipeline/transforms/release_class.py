"""Release class of a call from its export details: what ended it, for the true NER (E.425).

Every call with a ``raw.call_details`` row gets one class (a String):

================  ============================================================================
class             meaning (counted in the NER numerator?)
================  ============================================================================
``answered``      ``call_result`` COMPLETED, or a 2xx final response (yes)
``user``          ended by the users: busy, no answer, caller cancel, callee decline (yes)
``invalid``       the number dialled does not exist or is incomplete (no)
``cps_refused``   SIP 603 on a FAILED call: Sinch refused it over the trunk's callsPerSecond (no)
``network``       any other failure: 3xx not followed, 4xx not above, 5xx, 6xx not above (no)
``unclassified``  no SIP code, no Q.850 cause, and a result that says nothing (no)
================  ============================================================================

Precedence: COMPLETED first (so the true NER's answers are ASR's answers), then the final SIP
response (what the trunk saw, RFC 3261 §21), then the Q.850 cause when no SIP code was
exported, then ``call_result`` (BUSY, NO_ANSWER and CANCEL are user behaviour; FAILED without
a code is ``unclassified``: it mixes network faults and invalid numbers). The table with its
sources is ``docs/kpi-definitions.md`` "True NER: release classes".

Choices (documented there):

* **603 Decline** is a terminal rejection by the callee (RFC 3261 §21.6.2; RFC 3398 maps it
  from Q.850 21 "call rejected"), a user class — except on a FAILED call: Sinch answers 603 to
  calls over the trunk's ``callsPerSecond`` (docs/api-reference.md §5/§6), a capacity failure,
  counted apart as ``cps_refused``;
* **408 Request Timeout** is ring-no-answer when the result is NO_ANSWER (the callee's timer;
  RFC 3398 §7.2.4.1 maps Q.850 18 "no user responding" to 408), a network timeout otherwise
  (RFC 3398 §8.2.6.1 maps 408 to Q.850 102 "recovery on timer expiry");
* **404/410/484/485/604** and Q.850 **1/22/28** (unallocated, number changed, invalid format)
  are ``invalid``: E.425's effective outcomes are answer, user busy, ring-no-answer and
  terminal reject, so dialling errors are *not* in the numerator; they are counted apart so a
  reader can see them;
* **401/403/407** (authorisation, policy) are ``network``: refused by a network element, not by
  the callee;
* **503** is ``network`` like every 5xx (no busy-everywhere exception: that is 600).
"""

from __future__ import annotations

import polars as pl

ANSWERED = "answered"
USER = "user"
INVALID = "invalid"
CPS_REFUSED = "cps_refused"
NETWORK = "network"
UNCLASSIFIED = "unclassified"
#: every class, in display order
CLASSES = (ANSWERED, USER, INVALID, CPS_REFUSED, NETWORK, UNCLASSIFIED)
#: classes in the E.425 NER numerator (effective seizures)
EFFECTIVE = (ANSWERED, USER)

#: SIP final responses ended by the users (RFC 3261 §21; 408 and 603 have conditions above)
SIP_USER = (408, 480, 486, 487, 600, 603)
#: SIP responses for a number that does not exist or is incomplete
SIP_INVALID = (404, 410, 484, 485, 604)
#: Q.850 causes ended by the users: normal clearing (16, without answer), user busy (17), no
#: user responding (18), no answer (19), subscriber absent (20), call rejected (21), normal
#: unspecified (31)
Q850_USER = (16, 17, 18, 19, 20, 21, 31)
#: Q.850 causes of an invalid number: unallocated (1), number changed (22), invalid format (28)
Q850_INVALID = (1, 22, 28)
#: ``call_result`` values that are user behaviour when no code was exported
RESULT_USER = ("BUSY", "NO_ANSWER", "CANCEL")


def release_class(sip: str, cause: str, result: str) -> pl.Expr:
    """The release class (module docstring) of each row, as a String expression.

    Args:
        sip: column of the final SIP response code (Int, NULL when not exported).
        cause: column of the Q.850 cause code (Int, NULL when not exported).
        result: column of ``call_result`` (upper-cased String).

    Returns:
        An expression (not aliased) giving one of :data:`CLASSES`; never NULL.
    """
    s, c, r = pl.col(sip), pl.col(cause), pl.col(result)
    failed = r == "FAILED"
    return (
        pl.when(r == "COMPLETED")
        .then(pl.lit(ANSWERED))
        .when(s.is_between(200, 299))
        .then(pl.lit(ANSWERED))
        .when((s == 603) & failed)
        .then(pl.lit(CPS_REFUSED))
        .when((s == 408) & (r != "NO_ANSWER").fill_null(True))
        .then(pl.lit(NETWORK))
        .when(s.is_in(SIP_USER))
        .then(pl.lit(USER))
        .when(s.is_in(SIP_INVALID))
        .then(pl.lit(INVALID))
        .when(s.is_not_null())
        .then(pl.lit(NETWORK))
        .when(c.is_in(Q850_USER))
        .then(pl.lit(USER))
        .when(c.is_in(Q850_INVALID))
        .then(pl.lit(INVALID))
        .when(c.is_not_null())
        .then(pl.lit(NETWORK))
        .when(r.is_in(RESULT_USER))
        .then(pl.lit(USER))
        .otherwise(pl.lit(UNCLASSIFIED))
    )


def sip_class(sip: str) -> pl.Expr:
    """``'1xx'`` … ``'6xx'`` of a SIP code column (RFC 3261 §7.2), ``'none'`` when NULL."""
    s = pl.col(sip)
    return (
        pl.when(s.is_null())
        .then(pl.lit("none"))
        .otherwise((s // 100).cast(pl.String) + pl.lit("xx"))
    )
