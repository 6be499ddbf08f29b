"""A trunk's capacity, enforced on a generated (hour, trunk) block: CPS limit and channels.

Each trunk has a ``callsPerSecond`` limit (served by ``GET /trunks``) and a number of channels
(simultaneous calls).  Channels are sized with Erlang B for the trunk's offered weekday
busy-hour load at 1 % grade of service, rounded up (``traffic_model.erlang_b_channels``; ITU-T
E.520/E.540 size circuit groups for 1 % loss in the busy hour).  The generator computes that
load from its own settings, so a larger ``calls_per_hour`` gets more channels.

Enforcement, in the order calls are listed (createTime, then callId):

1. **CPS**: in each UTC second, the first ``callsPerSecond`` calls are admitted; any further
   call of that second is refused: ``FAILED``, SIP 603 / Q.850 21 in the export, no
   answerTime, endTime = createTime, 0 s, billed 0 (Sinch answers calls over a trunk's CPS
   limit with 603 Decline).  Every admitted call counts, whatever its later outcome.
2. **Channels**: an admitted call that arrives while all channels are busy is refused:
   ``BUSY``, SIP 503 / Q.850 34 ("no circuit/channel available"), endTime = createTime.
   A channel is held by every admitted call over ``[createTime, endTime)``.

So in the generated data no (trunk, UTC second) has more non-FAILED calls than
``callsPerSecond``, and no instant has more calls up than channels.  Bursts (dialler
campaigns) still happen and now show as 603s and 503s.

**Across hour boundaries.** Every call ends within an hour of its createTime
(``traffic_model.CONVERSATION_MAX_S``), so only the previous block's calls can still be up when
a block starts.  To keep each block a function of (seed, trunk, hour) alone, a block is checked
against the previous block *as drawn* (regenerated from its seed), with that block's CPS
refusals applied (they need no history) but not its channel refusals (those would need the
block before, and so on).  Refusals only shorten calls, so the calls actually up are a subset
of the ones counted: concurrency never exceeds the channels; the cost is a few extra 503s in a
block's first minutes after a saturated hour.  The CPS invariant needs no history (seconds do
not cross hours).
"""

from __future__ import annotations

import heapq

import numpy as np


def cps_admitted(seconds: np.ndarray, cps: int | np.ndarray) -> np.ndarray:
    """Which calls the CPS limit admits: the first ``cps`` of each second.

    Args:
        seconds: each call's createTime in whole seconds, in listing order (non-decreasing).
        cps: the trunk's callsPerSecond (≥ 1), or one per call.

    Returns:
        A bool array, True = admitted.
    """
    first = np.searchsorted(seconds, seconds, side="left")  # first index of each second
    return (np.arange(seconds.size) - first) < cps


def channel_admitted(
    create_ms: list[int],
    end_ms: list[int],
    admitted: list[bool],
    carried_end_ms: list[int],
    channels: int,
) -> list[bool]:
    """Which CPS-admitted calls get a channel (module doc).

    Args:
        create_ms: each call's createTime (epoch ms), in listing order.
        end_ms: each call's endTime as drawn (a refused call's is ignored).
        admitted: the CPS decision per call (a refused call takes no channel).
        carried_end_ms: endTimes of calls from before the block still up at its first call
            (each holds a channel until its end).
        channels: the trunk's channels.

    Returns:
        True per call that is admitted and got a channel.
    """
    up = sorted(carried_end_ms)  # a sorted list is a valid heap
    out: list[bool] = []
    for create, end, ok in zip(create_ms, end_ms, admitted, strict=True):
        while up and up[0] <= create:
            heapq.heappop(up)
        if not ok or len(up) >= channels:
            out.append(False)
            continue
        out.append(True)
        if end > create:
            heapq.heappush(up, end)
    return out
