"""A raw-socket front that sends the status line and headers of some answers one byte at a time.

This is the "header drip": a server or proxy that accepts the connection, then takes minutes
to produce its headers, so a client with only a read/total timeout on the *body* hangs.

uvicorn always writes the head in one go, so the sandbox puts this tiny asyncio proxy (its own
thread and event loop, 127.0.0.1 only) in front of it::

    with drip_headers_server("http://127.0.0.1:8765", delay_s=0.05) as url:
        httpx.get(f"{url}/v1/projects/…/calls")  # head: one byte every 50 ms

Each client connection carries one request (the front answers ``Connection: close``).  The
request is forwarded unchanged apart from its ``Connection`` header; the upstream answer is read
whole, then its head is sent one byte every ``delay_s`` seconds (TCP_NODELAY, so each byte is
its own segment) when the path matches ``drip_paths`` (by default ``…/calls`` and
``/oauth2/token``), at once otherwise, followed by the body at full speed.  Request bodies must
come with ``Content-Length`` (what httpx sends for forms).  ``run_sandbox`` starts one when
``SandboxSettings.header_drip_s > 0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

DRIP_PATHS = ("/calls", "/oauth2/token")
_HOP_HEADERS = (b"connection", b"keep-alive")


def _without_hop_headers(lines: list[bytes]) -> list[bytes]:
    return [h for h in lines if h.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]


class _Front:
    def __init__(self, host: str, port: int, delay_s: float, drip_paths: tuple[str, ...]):
        self.host, self.port = host, port
        self.delay_s = delay_s
        self.drip_paths = drip_paths
        self.dripped = 0  # answers whose head was dripped

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            length = 0
            for h in lines[1:]:
                name, _, value = h.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length)
            target = lines[0].split(b" ")[1].decode("latin-1") if b" " in lines[0] else "/"
            request = b"\r\n".join(
                [lines[0], *_without_hop_headers(lines[1:]), b"Connection: close", b"", b""]
            )
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
            try:
                up_writer.write(request + body)
                await up_writer.drain()
                answer = await up_reader.read()
            finally:
                up_writer.close()
            split = answer.find(b"\r\n\r\n")
            if split < 0:
                return
            answer_lines = answer[:split].split(b"\r\n")
            out_head = b"\r\n".join(
                [*_without_hop_headers(answer_lines), b"connection: close", b"", b""]
            )
            path = target.split("?", 1)[0]
            if self.delay_s > 0 and path.endswith(self.drip_paths):
                self.dripped += 1
                for i in range(len(out_head)):
                    writer.write(out_head[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(self.delay_s)
            else:
                writer.write(out_head)
            writer.write(answer[split + 4 :])
            await writer.drain()
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            ValueError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextmanager
def drip_headers_server(
    upstream: str, delay_s: float, *, drip_paths: tuple[str, ...] = DRIP_PATHS, port: int = 0
) -> Iterator[str]:
    """Start the front on 127.0.0.1 forwarding to ``upstream``; yield its base URL.

    The front listens on ``port`` (0 = a free one) and forwards to ``upstream``
    (``http://127.0.0.1:N``); it is stopped (with its open connections) on exit.
    """
    parts = urlsplit(upstream)
    front = _Front(parts.hostname or "127.0.0.1", parts.port or 80, delay_s, drip_paths)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    bound: list[int] = []
    failure: list[BaseException] = []

    async def main() -> None:
        server = await asyncio.start_server(front.handle, "127.0.0.1", port, family=socket.AF_INET)
        bound.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stop.wait()
        server.close()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="sandbox-header-drip", daemon=True)
    thread.start()
    ready.wait(10)
    if not bound:
        msg = f"header-drip front did not start: {failure[0] if failure else 'timeout'}"
        raise RuntimeError(msg)
    try:
        yield f"http://127.0.0.1:{bound[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
