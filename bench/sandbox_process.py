"""Shared by the benchmarks: the sandbox in its own process, so it gets its own core."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sandbox_subprocess(*serve_args: str) -> Iterator[str]:
    """Run ``python -m pipeline.sandbox serve --port N *serve_args``; yield its base URL.

    Waits (up to ~10 s) until ``/health`` answers; stops the server on exit.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "pipeline.sandbox", "serve", "--port", str(port), *serve_args]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if server.poll() is not None:
                sys.exit(f"the sandbox exited with {server.returncode}: {' '.join(cmd)}")
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
