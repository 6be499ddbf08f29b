"""Bounds below httpx: one deadline for a whole exchange, a cap on decompressed bodies.

httpx timeouts apply per socket operation, so a server dripping its headers (or the token
endpoint dripping its answer) a byte at a time never trips them. :func:`deadline_transport`
wraps httpcore's network backend so that every socket read and write gets at most the time left
of the exchange started with :func:`set_deadline`. :func:`inflater` decodes gzip/deflate with
an output limit, so a gzip bomb stops at the cap instead of inflating a chunk whole.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import httpcore
import httpx

from pipeline.sinch.errors import TransportError

logger = logging.getLogger("pipeline.sinch")


_deadline = threading.local()  # .at: time.monotonic() deadline of this thread's exchange


def _time_left(timeout: float | None) -> float | None:
    at: float | None = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the exchange's overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport() -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` whose socket reads and writes honour the exchange deadline."""
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:  # pragma: no cover - an httpx/httpcore layout we do not know
        logger.warning("cannot bound socket reads by the deadline; only the body is bounded")
    else:
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return transport


def set_deadline(seconds: float | None) -> None:
    """Give this thread's next socket operations ``seconds`` in all (None: no deadline)."""
    _deadline.at = None if seconds is None else time.monotonic() + seconds


def identity(raw: bytes, _limit: int) -> bytes:
    """The chunk as it is (a body without Content-Encoding)."""
    return raw


def inflater(response: httpx.Response, method: str, url: str) -> Callable[[bytes, int], bytes]:
    """A function ``(raw chunk, max bytes out) -> bytes`` for the response's Content-Encoding.

    gzip and deflate (zlib or raw) are decoded with an output limit; identity passes through.
    The client asks for ``gzip, deflate`` only, so any other coding is a TransportError.
    """
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return identity
    if coding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, auto
    elif coding == "deflate":
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)
    else:
        raise TransportError(
            f"unsupported Content-Encoding {coding!r}", method=method, url=url,
            status=response.status_code,
        )  # fmt: skip

    def inflate(raw: bytes, limit: int) -> bytes:
        return decoder.decompress(raw, max(1, limit))

    return inflate


def deadline_passed() -> bool:
    """Whether this thread's exchange deadline has passed."""
    at = getattr(_deadline, "at", None)
    return at is not None and time.monotonic() >= at
