"""A calls endpoint behind MockTransport that plays the API's undocumented behaviours.

Each knob stands for something Sinch's public material leaves open (docs/client.md, "Guards"):
a result window capped like a search engine's, a strict lower bound, an unstable order of
calls created in the same second, an under-reported ``totalItems``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from client_fakes import call, page_json, qdict


def _iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def calls_in_hour(
    n: int, start: datetime, per_second: int = 1, spacing_s: int = 1
) -> list[dict[str, Any]]:
    """``n`` calls from ``start``: ``per_second`` created in each used second (ties), one used
    second every ``spacing_s`` seconds."""
    out = []
    for i in range(n):
        offset = timedelta(seconds=(i // per_second) * spacing_s)
        at = start + offset + timedelta(microseconds=(i % per_second) * 10)
        out.append(call(f"c{i:06d}", at.isoformat().replace("+00:00", "Z")))
    return out


@dataclass
class HostileCallsApi:
    """Inclusive second-granular bounds and 1-based pages, plus the hostile knobs.

    Attributes:
        max_result_window: items at offsets >= this are never served (None = no cap).
        window_mode: ``"empty"`` (cut the page at the cap) or ``"error"`` (400 when
            ``(page-1)*size + size`` exceeds the cap, as Elasticsearch does).
        strict_lower: apply ``createTime>`` as strict ``>`` (on whole seconds).
        unstable: shuffle calls created in the same second on every request.
        total_cap: report ``min(total, total_cap)`` as totalItems.
    """

    calls: list[dict[str, Any]]
    max_result_window: int | None = None
    window_mode: str = "empty"
    strict_lower: bool = False
    unstable: bool = False
    total_cap: int | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    seed: int = 3

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        q = qdict(request)
        page, size = int(q.get("page", "1")), int(q.get("size", "100"))
        lo, hi = _iso(q["createTime>"]), _iso(q["createTime<"])

        def second(c: dict[str, Any]) -> datetime:
            return _iso(c["createTime"]).replace(microsecond=0)

        matching = [
            c
            for c in self.calls
            if (lo < second(c) if self.strict_lower else lo <= second(c)) and second(c) <= hi
        ]
        matching.sort(key=second)
        if self.unstable:
            rng = random.Random(self.seed * 1_000_003 + len(self.requests))
            keyed = [(second(c), rng.random(), i) for i, c in enumerate(matching)]
            matching = [matching[i] for _, _, i in sorted(keyed)]
        start = (page - 1) * size
        cap = self.max_result_window
        if cap is not None and self.window_mode == "error" and start + size > cap:
            return httpx.Response(
                400, json={"error": {"message": f"Result window is too large, must be <= {cap}"}}
            )
        stop = start + size if cap is None else min(start + size, cap)
        chunk = matching[start:stop] if start < stop else []
        total = len(matching) if self.total_cap is None else min(len(matching), self.total_cap)
        return page_json(chunk, total, page, size)

    def api_requests(self) -> int:
        return sum("/calls" in r.url.path for r in self.requests)
