"""Run the sandbox in a background thread on a free loopback port.

with run_sandbox(SandboxSettings(seed=1)) as sb:
    httpx.get(f"{sb.base_url}/v1/projects/{sb.project_id}/calls", auth=(sb.key_id, sb.key_secret))
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import uvicorn

from pipeline.sandbox.app import build_app
from pipeline.sandbox.settings import SandboxSettings
from pipeline.sandbox.slow_headers import drip_headers_server
from pipeline.sandbox.state import SandboxState


@dataclass(frozen=True, slots=True)
class SandboxHandle:
    """A running sandbox.

    Attributes:
        base_url: e.g. ``http://127.0.0.1:54321`` (API paths start with ``/v1/projects/...``).
        auth_url: the OAuth2 server base URL (same as ``base_url``), as the client takes it.
        token_url: the token endpoint, ``{base_url}/oauth2/token``.
        project_id, key_id, key_secret: the identity to use.
        settings: the settings it runs with.
        app_state: the :class:`SandboxState` (ground truth: ``calls_between``, ``calls_in``,
            ``expire_all_tokens``, ``move_call``, ``stats`` …).
        direct_url: the uvicorn server itself.  Equal to ``base_url`` unless
            ``settings.header_drip_s > 0``: then ``base_url`` (and ``auth_url``,
            ``token_url``) point at the header-drip front (``slow_headers.py``).
    """

    base_url: str
    auth_url: str
    token_url: str
    project_id: str
    key_id: str
    key_secret: str
    settings: SandboxSettings
    app_state: SandboxState
    direct_url: str = ""

    @property
    def calls_url(self) -> str:
        """``{base_url}/v1/projects/{project_id}/calls``."""
        return f"{self.base_url}/v1/projects/{self.project_id}/calls"


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


@contextmanager
def run_sandbox(
    settings: SandboxSettings | None = None, **overrides: object
) -> Iterator[SandboxHandle]:
    """Start a sandbox on 127.0.0.1 (``settings.port``, 0 = free port); stop it on exit."""
    s = settings or SandboxSettings()
    if overrides:
        s = s.with_(**overrides)
    state = SandboxState(s)
    app = build_app(state)
    sock = _bind(s.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            msg = "sandbox server did not start"
            raise RuntimeError(msg)
        time.sleep(0.005)
    direct = f"http://127.0.0.1:{port}"
    try:
        with ExitStack() as stack:
            base = direct
            if s.header_drip_s > 0:
                base = stack.enter_context(drip_headers_server(direct, s.header_drip_s))
            yield SandboxHandle(
                base_url=base,
                auth_url=base,
                token_url=f"{base}/oauth2/token",
                project_id=state.project_id,
                key_id=s.key_id,
                key_secret=s.key_secret,
                settings=s,
                app_state=state,
                direct_url=direct,
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
