"""Local alert receivers on loopback: a Slack-style webhook (http.server) and SMTP (aiosmtpd).

Both bind 127.0.0.1 on an ephemeral port and are ready when their context manager yields:
the HTTP server is listening once constructed; aiosmtpd's ``Controller.start`` connects to the
server and reads its banner before returning.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

#: The webhook's path, as Slack's: the last parts are the secret token.
WEBHOOK_PATH = "/services/T0ALERTS/B0TEST/s3cr3t-w3bh00k-t0k3n"


class WebhookReceiver:
    """Records each JSON body POSTed to :data:`WEBHOOK_PATH`; answers 500 ``fail_first`` times."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict] = []
        self.failed = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    fail = receiver.failed < receiver.fail_first
                    if fail:
                        receiver.failed += 1
                    elif self.path == WEBHOOK_PATH:
                        receiver.bodies.append(json.loads(body))
                status = 500 if fail else 200 if self.path == WEBHOOK_PATH else 404
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{WEBHOOK_PATH}"

    def texts(self) -> list[str]:
        with self._lock:
            return [body["text"] for body in self.bodies]


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class _EphemeralController(Controller):
    """aiosmtpd's controller on port 0: learns the port before its readiness probe."""

    def _trigger_server(self) -> None:
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, list[Message]]]:
    """An SMTP server on 127.0.0.1; yields its port and the list of messages received."""
    inbox = _Inbox()
    controller = _EphemeralController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller.port, inbox.messages
    finally:
        controller.stop()
