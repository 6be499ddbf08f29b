"""Retry policy and deadlines: what is retried, how long it waits, when it gives up.

Retried: 408, 429, 5xx, transport errors, a blown per-exchange deadline; full-jitter
exponential backoff or the server's Retry-After (seconds or HTTP-date), capped — above the
cap the client fails fast. Anything else 4xx fails at once with status, body and request.
(docs/client.md "Retries, deadlines and errors"; docs/stack-hazards.md §0.8 and §4;
docs/api-reference.md pitfalls 19-20.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from client_fakes import DripStream, FakeCallsApi, FakeClock, call, make_client

from pipeline.sinch.client import RateLimiter, parse_retry_after
from pipeline.sinch.errors import (
    ClientError,
    DeadlineExceeded,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    RetryAfterTooLong,
    ServerError,
    TransportError,
)
from pipeline.sinch.models import Window

WIN = Window(datetime(2025, 4, 1, 10, tzinfo=UTC), datetime(2025, 4, 1, 11, tzinfo=UTC))


def failing_then_ok(*failures: httpx.Response | Exception) -> tuple[FakeCallsApi, list]:
    api = FakeCallsApi([call("a", "2025-04-01T10:00:00Z")])
    queue = list(failures)

    def hook(request: httpx.Request, n: int) -> httpx.Response | None:
        if queue:
            item = queue.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        return None

    api.hook = hook
    return api, queue


def run(api: FakeCallsApi, clock: FakeClock, **kw: object) -> list[str]:
    with make_client(api.handler, clock, **kw) as client:
        sweep = client.sweep_window(WIN)
        got = [r.call_id for p in sweep for r in p.records]
    run.stats = sweep.stats  # type: ignore[attr-defined]
    return got


def test_429_without_retry_after_uses_full_jitter_backoff(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(httpx.Response(429), httpx.Response(429))
    with caplog.at_level(logging.WARNING, logger="pipeline.sinch"):
        assert run(api, clock, backoff_base_s=0.5) == ["a"]
    assert len(api.requests) == 3 and run.stats.attempts == 3  # type: ignore[attr-defined]
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0
    retry_logs = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retry_logs) == 2
    assert (
        retry_logs[0].getMessage().startswith("HTTP 429 on window 2025-04-01T10:00Z, attempt 1/5")
    )


def test_a_retry_is_one_short_warning_and_its_body_only_at_debug_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pipeline.sinch.redact import register_secret

    secret = "retry-body-secret-4711"
    register_secret(secret)
    body = f'{{"error": "slow down", "echo": "{secret}", "pad": "{"x" * 400}"}}'
    api, _ = failing_then_ok(httpx.Response(503, text=body))
    with caplog.at_level(logging.DEBUG, logger="pipeline.sinch"):
        assert run(api, FakeClock()) == ["a"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "HTTP 503 on window 2025-04-01T10:00Z, attempt 1/5: retrying in "
        + warnings[0].getMessage().rsplit("retrying in ", 1)[1]
    ]
    assert len(warnings[0].getMessage()) < 80 and "slow down" not in warnings[0].getMessage()
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    bodies = [m for m in debug if "slow down" in m]
    assert len(bodies) == 1 and "***" in bodies[0]
    assert secret not in caplog.text


def test_429_retry_after_seconds_is_honoured() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(httpx.Response(429, headers={"Retry-After": "7"}))
    assert run(api, clock) == ["a"]
    assert clock.sleeps == [7.0]
    # the retried request is identical (same page, same bounds)
    assert api.requests[0].url == api.requests[1].url


def test_429_retry_after_http_date_is_honoured() -> None:
    clock = FakeClock()
    when = datetime.now(UTC) + timedelta(seconds=30)
    api, _ = failing_then_ok(
        httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    )
    assert run(api, clock) == ["a"]
    assert 27 <= clock.sleeps[0] <= 30


def test_retry_after_above_cap_fails_fast() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RetryAfterTooLong) as exc:
        run(api, clock, max_retry_after_s=120)
    assert exc.value.retry_after == 3600 and exc.value.status == 429
    assert clock.sleeps == [] and len(api.requests) == 1


def test_429_forever_gives_up_after_max_attempts() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(*[httpx.Response(429, headers={"Retry-After": "1"})] * 10)
    with pytest.raises(RateLimitedError) as exc:
        run(api, clock, max_attempts=3)
    assert len(api.requests) == 3 and clock.sleeps == [1.0, 1.0]
    assert exc.value.retry_after == 1.0


def test_5xx_then_success() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(
        httpx.Response(500, text="boom"), httpx.Response(502), httpx.Response(503)
    )
    assert run(api, clock) == ["a"]
    assert len(api.requests) == 4 and len(clock.sleeps) == 3


def test_5xx_forever_raises_server_error_with_body_and_request() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(*[httpx.Response(500, json={"error": "db down"})] * 10)
    with pytest.raises(ServerError) as exc:
        run(api, clock, max_attempts=2)
    assert exc.value.status == 500 and "db down" in str(exc.value)
    assert exc.value.method == "GET" and "/v1/projects/proj-1/calls?" in str(exc.value.url)


def test_408_and_transport_errors_are_retried() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(
        httpx.Response(408),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    )
    assert run(api, clock) == ["a"]
    assert len(api.requests) == 4


def test_transport_error_forever_raises_transport_error() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(*[httpx.ConnectError("refused")] * 5)
    with pytest.raises(TransportError, match="ConnectError"):
        run(api, clock, max_attempts=2)


def test_408_forever_raises_request_timeout() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(*[httpx.Response(408)] * 5)
    with pytest.raises(RequestTimeoutError):
        run(api, clock, max_attempts=2)


def test_other_4xx_fails_at_once_with_status_body_and_request() -> None:
    clock = FakeClock()
    body = {
        "error": {
            "code": 400,
            "status": "VALIDATION_FAILED",
            "message": "Failed to read HTTP message",
        }
    }
    api, _ = failing_then_ok(httpx.Response(400, json=body))
    with pytest.raises(ClientError) as exc:
        run(api, clock)
    err = exc.value
    assert err.status == 400 and "VALIDATION_FAILED" in err.body
    assert err.method == "GET" and "createTime%3E=2025-04-01T09%3A59%3A59Z" in err.url
    assert len(api.requests) == 1 and clock.sleeps == []
    assert "authorization" not in str(err).lower()


def test_long_error_body_is_truncated() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(httpx.Response(404, text="x" * 5000))
    with pytest.raises(ClientError) as exc:
        run(api, clock)
    assert len(exc.value.body) < 600 and "more chars" in exc.value.body


def test_slow_drip_response_hits_the_deadline() -> None:
    clock = FakeClock()
    streams: list[DripStream] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stream = DripStream(clock, delay=0.5)
        streams.append(stream)
        return httpx.Response(200, stream=stream)

    with (
        make_client(handler, clock, request_deadline_s=5, max_attempts=2) as client,
        pytest.raises(DeadlineExceeded, match="within 5 s"),
    ):
        list(client.sweep_window(WIN))
    assert len(streams) == 2  # retried once, then gave up
    assert all(s.sent <= 11 for s in streams)  # stopped reading at the deadline


def test_non_json_body_is_response_format_error() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(ResponseFormatError, match="not JSON") as exc:
        run(api, clock)
    assert "maintenance" in exc.value.body


def test_calls_not_a_list_is_response_format_error() -> None:
    clock = FakeClock()
    api, _ = failing_then_ok(httpx.Response(200, json={"calls": {"a": 1}, "totalItems": 1}))
    with pytest.raises(ResponseFormatError, match="`calls` is dict, not a list"):
        run(api, clock)


def test_client_side_rate_limit_spaces_requests() -> None:
    clock = FakeClock()
    api = FakeCallsApi([call(f"c{i}", f"2025-04-01T10:0{i}:00Z") for i in range(4)])
    # 4 full pages and the empty 5th that ends the sweep: each start 0.5 s after the last
    assert len(run(api, clock, page_size=1, rate_limit_per_s=2.0)) == 4
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]


def test_rate_limiter_is_shared_and_spaces_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=lambda s: None)  # callers do not advance time
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.25, 0.5]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 01 Apr 2025 10:00:30 GMT", 30.0),
        ("Wed, 01 Apr 2025 09:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2025, 4, 1, 10, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected
