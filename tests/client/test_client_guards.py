"""Resource bounds and secrets: deadlines that cover headers and the token endpoint, a cap on
decompressed bodies, credentials redacted even when a server echoes them, token reuse.

The drip tests run a real socket server on 127.0.0.1 (httpx's MockTransport never reaches the
socket layer where a header drip happens).
"""

from __future__ import annotations

import gc
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

import httpx
import pytest
from client_fakes import PROJECT, FakeCallsApi, FakeClock, call, make_client

from pipeline.sinch.auth import BasicAuth, OAuth2ClientCredentials
from pipeline.sinch.client import CallsClient
from pipeline.sinch.errors import ClientError, DeadlineExceeded, ResponseTooLarge, ServerError
from pipeline.sinch.models import Window
from tests.conftest import wait_for

WIN = Window(datetime(2025, 4, 1, 10, tzinfo=UTC), datetime(2025, 4, 1, 11, tzinfo=UTC))
SLOW_HEAD = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n\r\n"


@contextmanager
def dripping_server(payload: bytes, delay_s: float = 0.05) -> Iterator[dict]:
    """Answer every connection with ``payload`` one byte every ``delay_s`` (headers first)."""
    srv = socket.create_server(("127.0.0.1", 0))
    state = {"url": f"http://127.0.0.1:{srv.getsockname()[1]}", "sent": [], "stop": False}

    def serve(conn: socket.socket) -> None:
        sent = 0
        try:
            conn.recv(65536)
            for byte in payload:
                if state["stop"]:
                    break
                conn.sendall(bytes([byte]))
                sent += 1
                time.sleep(delay_s)
        except OSError:
            pass  # the client hung up: what we want
        finally:
            state["sent"].append(sent)
            conn.close()

    def accept() -> None:
        while not state["stop"]:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue  # look at "stop" again (closing the socket does not wake accept())
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    srv.settimeout(0.1)  # accepted connections still block (CPython resets them)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state["stop"] = True
        thread.join(timeout=60)  # within 0.1 s; a hang guard
        srv.close()


def test_deadline_covers_dripped_response_headers() -> None:
    # The deadline was checked only while the body streamed: a server dripping its status line
    # and headers held the request for as long as it liked (60 s against a 5 s deadline).
    with dripping_server(SLOW_HEAD) as srv:
        client = CallsClient(srv["url"], PROJECT, None, request_deadline_s=0.5, max_attempts=1)
        with client, pytest.raises(DeadlineExceeded, match=r"within 0\.5 s"):
            list(client.sweep_window(WIN))
        wait_for(lambda: srv["sent"], "the server to see the hang-up")
    assert srv["sent"][0] < len(SLOW_HEAD)  # cut off mid-headers, not after them


def test_deadline_covers_a_dripping_token_endpoint() -> None:
    with dripping_server(SLOW_HEAD) as srv:
        auth = OAuth2ClientCredentials("key", "token-secret-1", auth_url=srv["url"], max_attempts=1)
        client = CallsClient(srv["url"], PROJECT, auth, request_deadline_s=0.5, max_attempts=1)
        with client, pytest.raises(DeadlineExceeded):
            list(client.sweep_window(WIN))
        wait_for(lambda: srv["sent"], "the server to see the hang-up")
    assert srv["sent"][0] < len(SLOW_HEAD)


def gzip_bomb(inflated_mb: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * 2**20
    return b"".join(packer.compress(block) for _ in range(inflated_mb)) + packer.flush()


def test_gzip_bomb_stops_at_the_body_cap_with_bounded_memory() -> None:
    # A 1 MB gzip body inflating to 1 GB cost 3.3 GB of memory, then an empty MemoryError.
    bomb = gzip_bomb(256)
    assert len(bomb) < 2**20

    class Chunks(httpx.SyncByteStream):  # streamed as a socket delivers it, 64 KiB a read
        def __iter__(self) -> Iterator[bytes]:
            for i in range(0, len(bomb), 65536):
                yield bomb[i : i + 65536]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunks(), headers={"Content-Encoding": "gzip"})

    tracemalloc.start()
    try:
        with (
            make_client(handler, max_body_bytes=8 * 2**20) as client,
            pytest.raises(ResponseTooLarge, match="cap is 8388608 bytes decompressed"),
        ):
            list(client.sweep_window(WIN))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_declared_oversized_body_is_refused_before_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2048)

    with make_client(handler, max_body_bytes=1024) as client, pytest.raises(ResponseTooLarge):
        list(client.sweep_window(WIN))


def test_echoed_basic_credentials_never_reach_errors_or_logs(caplog) -> None:
    # A server echoing the Authorization header got the Basic credential printed on stderr and
    # stored in the Dagster run database.
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = {"echo": {"Authorization": request.headers["authorization"]}}
        status = 503 if "page=1" in str(request.url) else 400
        return httpx.Response(status, json=echoed)

    auth = BasicAuth("key-id", "basic-secret-XYZ")
    with (
        make_client(handler, auth=auth, max_attempts=2) as client,
        pytest.raises(ServerError) as exc,
    ):
        list(client.sweep_window(WIN))
    text = f"{exc.value} {exc.value.body} {exc.value!r} {caplog.text}"
    encoded = auth._header.removeprefix("Basic ")
    assert "basic-secret-XYZ" not in text and encoded not in text
    assert "Basic ***" in str(exc.value)  # the echo is still visible, the secret is not


def test_echoed_bearer_token_and_form_secret_are_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return httpx.Response(200, json={"access_token": "tok-ABCDEF-123", "expires_in": 3600})
        return httpx.Response(400, text=f"bad request, you sent {request.headers['authorization']}")

    auth = OAuth2ClientCredentials("key-id", "oauth-secret-XYZ", auth_url="https://auth.test")
    with make_client(handler, auth=auth) as client, pytest.raises(ClientError) as exc:
        list(client.sweep_window(WIN))
    assert "tok-ABCDEF-123" not in str(exc.value) and "Bearer ***" in str(exc.value)

    def token_refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="client_secret=oauth-secret-XYZ2 rejected")

    auth = OAuth2ClientCredentials("key-id", "oauth-secret-XYZ2", auth_url="https://auth.test")
    with make_client(token_refused, auth=auth) as client, pytest.raises(Exception) as exc:
        list(client.sweep_window(WIN))
    assert "oauth-secret-XYZ2" not in str(exc.value)


@pytest.mark.parametrize("lifetime", [30, 60, 90])
def test_short_lived_token_is_reused_for_its_lifetime(lifetime: int) -> None:
    # With expires_in <= 60 the 60 s refresh margin made every request fetch a new token.
    clock = FakeClock()
    api = FakeCallsApi([call(f"c{i}", f"2025-04-01T10:{i:02d}:00Z") for i in range(8)])
    tokens = []

    def handler(request: httpx.Request) -> httpx.Response:
        clock.now += 1.0  # each exchange takes a second
        if request.url.path == "/oauth2/token":
            tokens.append(request)
            return httpx.Response(
                200, json={"access_token": f"t{len(tokens)}xxxxx", "expires_in": lifetime}
            )
        return api.handler(request)

    auth = OAuth2ClientCredentials(
        "key", "lifetime-secret", auth_url="https://auth.test", clock=clock
    )
    with make_client(handler, clock, auth=auth, page_size=1) as client:
        list(client.sweep_window(WIN))
    assert len(api.requests) == 9  # 8 full pages and the empty one, ~18 clock seconds
    assert len(tokens) == 1


def test_a_failed_body_is_freed_without_waiting_for_the_garbage_collector() -> None:
    # Each gzip-bombed window kept up to max_body_bytes alive through the error's traceback
    # until a full collection: a tester's backfill grew by 64 MiB a window (3.7 GB after 120).
    bomb = gzip_bomb(64)

    class Chunks(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for i in range(0, len(bomb), 65536):
                yield bomb[i : i + 65536]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunks(), headers={"Content-Encoding": "gzip"})

    gc.disable()
    tracemalloc.start()
    try:
        with make_client(handler, max_body_bytes=4 * 2**20) as client:
            for _ in range(6):
                with suppress(ResponseTooLarge):
                    list(client.sweep_window(WIN))
            held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert held < 8 * 2**20, f"{held / 2**20:.0f} MiB still held after 6 failed bodies"
