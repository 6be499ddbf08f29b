"""Fakes shared by the client tests: a fake clock, a fake calls API behind MockTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson

from pipeline.sinch.client import CallsClient

BASE = "https://est.test"
PROJECT = "proj-1"


@dataclass
class FakeClock:
    """Monotonic clock + sleep that only advance when told (no real sleeping)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def query(request: httpx.Request) -> list[tuple[str, str]]:
    """Decoded query pairs, in order (what a standard server parser sees)."""
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def qdict(request: httpx.Request) -> dict[str, str]:
    return dict(query(request))


def call(call_id: str, create_time: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "callId": call_id,
        "to": "+15551239898",
        "from": "+14408341325",
        "direction": "INBOUND",
        "answerTime": None,
        "endTime": None,
        "durationSeconds": 0,
        "callResult": "COMPLETED",
        "pricePerMinute": {"currencyCode": "USD", "amount": 0.004},
        "billingDurationSeconds": 0,
        "price": {"currencyCode": "USD", "amount": 0},
        "createTime": create_time,
        "projectId": PROJECT,
        "trunkId": "01JEB7N6VVT8GWX0GZ8M8G1B1D",
    }
    obj.update(extra)
    return obj


def page_json(
    calls: list[Any], total: Any, page: Any, size: int = 1000, key: str = "calls"
) -> httpx.Response:
    return httpx.Response(
        200,
        content=orjson.dumps(
            {key: calls, "totalItems": total, "pageNumber": page, "pageSize": size}
        ),
        headers={"Content-Type": "application/json"},
    )


def _iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class FakeCallsApi:
    """A tiny calls endpoint: inclusive createTime bounds at second granularity, 1-based pages.

    ``calls`` may be replaced between requests (to simulate live data); ``hook`` can return a
    response to override the normal one for a given request.
    """

    calls: list[dict[str, Any]]
    requests: list[httpx.Request] = field(default_factory=list)
    hook: Callable[[httpx.Request, int], httpx.Response | None] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.hook is not None:
            override = self.hook(request, len(self.requests))
            if override is not None:
                return override
        q = qdict(request)
        page, size = int(q.get("page", "1")), int(q.get("size", "100"))
        lo, hi = _iso(q["createTime>"]), _iso(q["createTime<"])
        matching = [
            c for c in self.calls if lo <= _iso(c["createTime"]).replace(microsecond=0) <= hi
        ]
        chunk = matching[(page - 1) * size : page * size]
        return page_json(chunk, len(matching), page, size)

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/calls" in r.url.path]


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: FakeClock | None = None,
    **kw: Any,
) -> CallsClient:
    clock = clock or FakeClock()
    kw.setdefault("page_size", 2)
    return CallsClient(
        BASE,
        PROJECT,
        kw.pop("auth", None),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        **kw,
    )


class DripStream(httpx.SyncByteStream):
    """A body that never finishes quickly: one byte per chunk, each 'taking' 0.5 s of clock."""

    def __init__(self, clock: FakeClock, chunks: int = 10_000, delay: float = 0.5) -> None:
        self.clock, self.chunks, self.delay = clock, chunks, delay
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.clock.now += self.delay
            self.sent += 1
            yield b" "
