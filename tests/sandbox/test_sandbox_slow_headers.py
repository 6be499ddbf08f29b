"""The header drip: status line and headers one byte at a time, body unchanged."""

from __future__ import annotations

import base64
import socket
import time
from urllib.parse import urlsplit

import httpx
from conftest import client_for

from pipeline.sandbox.slow_headers import drip_headers_server

DELAY = 0.01


def raw_get(base: str, target: str, auth: tuple[str, str]) -> tuple[list[bytes], bytes, float]:
    """GET over a plain socket: (the chunks received until the end of the head, the rest,
    seconds from the first byte to the end of the head)."""
    u = urlsplit(base)
    token = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: {token}\r\n\r\n"
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(request.encode())
        chunks: list[bytes] = []
        first = None
        while b"\r\n\r\n" not in b"".join(chunks):
            chunks.append(s.recv(65536))
            first = first or time.perf_counter()
            assert chunks[-1], "connection closed before the end of the head"
        head_done = time.perf_counter()
        rest = []
        while data := s.recv(65536):
            rest.append(data)
    return chunks, b"".join(rest), head_done - (first or head_done)


def test_calls_and_token_heads_drip(make_sandbox, clock):
    with make_sandbox(now=clock, header_drip_s=DELAY) as sb:
        assert sb.base_url != sb.direct_url and sb.token_url.startswith(sb.base_url)
        target = f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-28T10&size=3"
        chunks, rest, seconds = raw_get(sb.base_url, target, (sb.key_id, sb.key_secret))
        head = b"".join(chunks)
        head_len = head.index(b"\r\n\r\n") + 4
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in head
        assert len(chunks) >= head_len * 0.8  # one byte per segment (a few may coalesce)
        assert seconds >= (head_len - 1) * DELAY * 0.9
        with client_for(sb) as direct:
            expected = direct.get(f"{sb.direct_url}{target}").content
        assert head[head_len:] + rest == expected  # the body is unchanged
        t = time.perf_counter()
        form = {"grant_type": "client_credentials"}
        r = httpx.post(sb.token_url, data=form, auth=(sb.key_id, sb.key_secret))
        assert r.status_code == 200 and r.json()["token_type"] == "bearer"
        dripped = time.perf_counter() - t
        assert dripped >= 100 * DELAY  # a head is well over 100 bytes
        # other routes pass at full speed: their head comes in one go (the drip is one byte a
        # segment), and the request is quicker than a dripped one under the same load (a fixed
        # bound in seconds failed on a busy machine)
        trunks = f"/v1/projects/{sb.project_id}/trunks"
        chunks, _, _ = raw_get(sb.base_url, trunks, (sb.key_id, sb.key_secret))
        assert len(chunks) <= 2
        t = time.perf_counter()
        with client_for(sb) as c:
            assert c.get(trunks).json()["totalItems"] == 5
        assert time.perf_counter() - t < dripped / 2


def test_drip_headers_server_alone(make_sandbox, clock):
    with (
        make_sandbox(now=clock) as sb,
        drip_headers_server(sb.base_url, DELAY, drip_paths=("/trunks",)) as url,
    ):
        target = f"/v1/projects/{sb.project_id}/trunks"
        chunks, body, seconds = raw_get(url, target, (sb.key_id, sb.key_secret))
        head = b"".join(chunks)
        assert b'"totalItems":5' in head + body
        assert len(chunks) > 50 and seconds > 50 * DELAY
        assert (
            httpx.get(f"{url}{target}", auth=(sb.key_id, sb.key_secret)).json()["totalItems"] == 5
        )
        calls = f"/v1/projects/{sb.project_id}/calls?createTime=2026-10-28T10&size=1"
        chunks, _, _ = raw_get(url, calls, (sb.key_id, sb.key_secret))
        assert len(chunks) <= 2 and head.startswith(b"HTTP/1.1 200 OK")
