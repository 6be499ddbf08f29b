"""Auth flows: OAuth2 client credentials (cache, proactive expiry, one reactive refresh,
shared refresh across threads, token-endpoint backoff) and Basic; the secret never leaks.

Pins docs/api-reference.md §5 and pitfall 19 (Node ``oauth2-api.ts`` / ``api-fetch-client.ts``).
"""

from __future__ import annotations

import base64
import logging
import threading
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest
from client_fakes import FakeCallsApi, FakeClock, call, make_client

from pipeline.sinch.auth import BasicAuth, OAuth2ClientCredentials
from pipeline.sinch.errors import AuthError
from pipeline.sinch.models import Window

KEY_ID = "key-id-123"
SECRET = "s3cr3t-Value-XYZ"
WIN = Window(datetime(2025, 4, 1, 10, tzinfo=UTC), datetime(2025, 4, 1, 11, tzinfo=UTC))
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()


class TokenServer:
    """Issues tok-1, tok-2, ...; the API accepts only the latest token."""

    def __init__(self, api: FakeCallsApi, expires_in: int = 3600) -> None:
        self.api = api
        self.expires_in = expires_in
        self.issued = 0
        self.token_requests: list[httpx.Request] = []
        self.token_failures: list[httpx.Response] = []
        self.expired_header = 'Bearer error="expired"'
        self.valid: set[str] = set()
        self.lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            with self.lock:
                self.token_requests.append(request)
                if self.token_failures:
                    return self.token_failures.pop(0)
                self.issued += 1
                token = f"tok-{self.issued}"
                self.valid = {token}
            body = {
                "access_token": token,
                "expires_in": self.expires_in,
                "scope": "",
                "token_type": "bearer",
            }
            return httpx.Response(200, json=body)
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid:
            return httpx.Response(
                401,
                headers={"WWW-Authenticate": self.expired_header},
                json={"error": "unauthorized"},
            )
        return self.api.handler(request)


def oauth(clock: FakeClock) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        KEY_ID, SECRET, "https://auth.test", clock=clock, sleep=clock.sleep
    )


def test_token_request_shape_and_bearer_on_api_calls() -> None:
    clock = FakeClock()
    api = FakeCallsApi([call("a", "2025-04-01T10:00:00Z")])
    server = TokenServer(api)
    auth = oauth(clock)
    with make_client(server.handler, clock, auth=auth) as client:
        list(client.sweep_window(WIN))
        list(client.sweep_window(WIN))
    (tok_req,) = server.token_requests  # cached: one token for both sweeps
    assert tok_req.method == "POST" and str(tok_req.url) == "https://auth.test/oauth2/token"
    assert tok_req.headers["authorization"] == BASIC
    assert tok_req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(tok_req.content.decode()) == [("grant_type", "client_credentials")]
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer tok-1"] * 2
    assert auth.refreshes == 1


def test_token_refreshed_60s_before_expiry() -> None:
    clock = FakeClock()
    api = FakeCallsApi([])
    server = TokenServer(api, expires_in=3600)
    with make_client(server.handler, clock, auth=oauth(clock)) as client:
        list(client.sweep_window(WIN))
        clock.now += 3600 - 61
        list(client.sweep_window(WIN))
        assert server.issued == 1
        clock.now += 2  # now inside the 60 s margin
        list(client.sweep_window(WIN))
    assert server.issued == 2
    assert api.requests[-1].headers["authorization"] == "Bearer tok-2"


def test_401_expired_refreshes_exactly_once_and_retries() -> None:
    clock = FakeClock()
    api = FakeCallsApi([call("a", "2025-04-01T10:00:00Z")])
    server = TokenServer(api)
    auth = oauth(clock)
    with make_client(server.handler, clock, auth=auth) as client:
        list(client.sweep_window(WIN))
        server.valid = set()  # server-side revocation: tok-1 now "expired"
        sweep = client.sweep_window(WIN)
        assert [r.call_id for p in sweep for r in p.records] == ["a"]
    assert len(server.token_requests) == 2 and auth.refreshes == 2
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer tok-1", "Bearer tok-2"]
    assert sweep.stats.attempts == 1  # the refresh retry is inside one attempt


def test_other_401_is_auth_error_without_refresh() -> None:
    clock = FakeClock()
    server = TokenServer(FakeCallsApi([]))
    server.expired_header = 'Bearer error="invalid_token"'
    with make_client(server.handler, clock, auth=oauth(clock)) as client:
        list(client.sweep_window(WIN))
        server.valid = set()
        with pytest.raises(AuthError) as exc:
            list(client.sweep_window(WIN))
    assert exc.value.status == 401 and "rejected the credentials" in str(exc.value)
    assert "/v1/projects/proj-1/calls" in str(exc.value)
    assert len(server.token_requests) == 1  # no refresh, no retry
    assert SECRET not in str(exc.value) and "tok-1" not in str(exc.value)


def test_expired_again_after_refresh_is_auth_error_not_a_loop() -> None:
    clock = FakeClock()
    server = TokenServer(FakeCallsApi([]))

    def always_expired(request: httpx.Request) -> httpx.Response:
        response = server.handler(request)
        if request.url.path == "/oauth2/token":
            server.valid = set()  # every new token is already "expired" at the API
        return response

    with (
        make_client(always_expired, clock, auth=oauth(clock)) as client,
        pytest.raises(AuthError, match="refresh did not help"),
    ):
        list(client.sweep_window(WIN))
    assert len(server.token_requests) == 2  # initial + exactly one refresh, no loop


def test_token_endpoint_429_and_5xx_are_retried_with_backoff() -> None:
    clock = FakeClock()
    server = TokenServer(FakeCallsApi([]))
    server.token_failures = [httpx.Response(429), httpx.Response(503, headers={"Retry-After": "2"})]
    with make_client(server.handler, clock, auth=oauth(clock)) as client:
        list(client.sweep_window(WIN))
    assert len(server.token_requests) == 3
    assert 0 <= clock.sleeps[0] <= 1.0  # full jitter, ceiling 1 s on the first retry
    assert clock.sleeps[1] == 2.0  # Retry-After honoured


def test_token_endpoint_rejecting_the_key_is_auth_error_without_secret() -> None:
    clock = FakeClock()
    server = TokenServer(FakeCallsApi([]))
    server.token_failures = [
        httpx.Response(401, json={"error": "invalid_client", "error_description": "bad key"})
    ]
    with (
        make_client(server.handler, clock, auth=oauth(clock)) as client,
        pytest.raises(AuthError) as exc,
    ):
        list(client.sweep_window(WIN))
    msg = str(exc.value)
    assert "refused the key" in msg and "bad key" in msg and "key-id-123" in msg
    assert (
        SECRET not in msg
        and BASIC not in msg
        and base64.b64encode(SECRET.encode()).decode() not in msg
    )
    assert len(server.token_requests) == 1


def test_concurrent_threads_share_one_refresh() -> None:
    clock = FakeClock()
    api = FakeCallsApi([call("a", "2025-04-01T10:00:00Z")])
    server = TokenServer(api)
    auth = oauth(clock)
    errors: list[BaseException] = []
    with make_client(server.handler, clock, auth=auth) as client:
        barrier = threading.Barrier(8)

        def work() -> None:
            try:
                barrier.wait()
                list(client.sweep_window(WIN))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(server.token_requests) == 1
    assert len(api.requests) == 8


def test_basic_auth_header() -> None:
    api = FakeCallsApi([])
    with make_client(api.handler, auth=BasicAuth(KEY_ID, SECRET)) as client:
        list(client.sweep_window(WIN))
    assert api.requests[0].headers["authorization"] == BASIC


def test_secret_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    server = TokenServer(FakeCallsApi([]))
    server.token_failures = [httpx.Response(500)]
    auth = oauth(clock)
    basic = BasicAuth(KEY_ID, SECRET)
    with make_client(server.handler, clock, auth=auth) as client:
        list(client.sweep_window(WIN))
        server.valid = set()
        list(client.sweep_window(WIN))
        texts = [repr(auth), repr(basic), repr(client), str(vars(client))]
    texts += [r.getMessage() for r in caplog.records]
    assert any("token endpoint returned 500" in t for t in texts)
    encoded = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
    for text in texts:
        assert SECRET not in text and encoded not in text
    assert "key_secret='***'" in repr(auth) and "key_secret='***'" in repr(basic)


def test_token_request_transport_error_releases_the_lock_and_is_retried() -> None:
    clock = FakeClock()
    server = TokenServer(FakeCallsApi([call("a", "2025-04-01T10:00:00Z")]))
    failures = [httpx.ConnectError("auth host down")]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token" and failures:
            raise failures.pop()
        return server.handler(request)

    auth = oauth(clock)
    with make_client(handler, clock, auth=auth) as client:
        pages = list(client.sweep_window(WIN))  # would deadlock if the lock leaked
    assert [r.call_id for p in pages for r in p.records] == ["a"]
    assert auth.refreshes == 1 and not auth._lock.locked()
