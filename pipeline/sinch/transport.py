"""One HTTP exchange with the EST API: retries, rate limit, an overall deadline, a body cap.

:class:`Transport` sends a GET and returns the body of a 2xx answer, or raises the
:mod:`~pipeline.sinch.errors` class its status maps to. Nothing here knows about pages, windows
or calls (that is :mod:`~pipeline.sinch.paging` and :mod:`~pipeline.sinch.sweep`).

Guards, each against an answer the network may give:

* **Deadline** (``request_deadline_s``): one exchange — connect, the token request the auth flow
  inserts, status line, headers and the whole body — must finish in time. httpx timeouts are
  per socket operation, so a server that drips its headers or body a byte at a time would never
  trip them; the socket reads themselves are bounded by the time left (:class:`_DeadlineBackend`)
  and the body loop checks the clock.
* **Body cap** (``max_body_bytes``, 64 MiB): counted after decompression, so a gzip bomb stops
  at the cap (peak memory ≈ the cap plus one decoded chunk) with :class:`ResponseTooLarge`.
* **Retries** (:class:`RetryPolicy`): 408, 429, 5xx, transport errors and deadline overruns,
  with full-jitter exponential backoff or the server's ``Retry-After`` (capped; above the cap
  :class:`RetryAfterTooLong` at once, never a long sleep).
* **Rate limit** (:class:`RateLimiter`): request starts per second, shared by threads.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipeline.sinch.errors import (
    AuthError,
    ClientError,
    DeadlineExceeded,
    RateLimitedError,
    RequestTimeoutError,
    ResponseTooLarge,
    RetryAfterTooLong,
    ServerError,
    SinchApiError,
    TransportError,
)

logger = logging.getLogger("pipeline.sinch")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
USER_AGENT = "sinch-call-analytics/0.1 (+httpx)"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry one request.

    Attributes:
        max_attempts: HTTP attempts per request, the first included (>= 1).
        backoff_base_s: first backoff ceiling, seconds; doubles per attempt (full jitter:
            sleep ``uniform(0, min(backoff_max_s, backoff_base_s * 2**(attempt-1)))``).
        backoff_max_s: largest backoff ceiling, seconds.
        max_retry_after_s: largest ``Retry-After`` honoured, seconds; a 429 asking for more
            raises :class:`RetryAfterTooLong` at once.

    Raises:
        ValueError: ``max_attempts < 1`` or a negative time.
    """

    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            msg = "max_attempts must be >= 1"
            raise ValueError(msg)
        if min(self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s) < 0:
            msg = "backoff and Retry-After limits must be >= 0"
            raise ValueError(msg)

    def wait_s(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(float(retry_after), self.max_retry_after_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # jitter, not crypto


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds or an HTTP-date (RFC 9110 §10.2.3).

    Args:
        value: the header value, or None.
        now: the current UTC time for HTTP-dates (default: ``datetime.now(UTC)``).

    Returns:
        Seconds to wait (>= 0), or None when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class RateLimiter:
    """Thread-safe request spacing: at most ``rate_per_s`` request starts per second.

    A GCRA / token bucket of capacity 1: each caller reserves the next free slot under a lock
    and sleeps outside it, so threads sharing one client share the budget. Basic auth is
    "heavily rate limited" (Sinch docs); the 429 policy of the API is not published.

    Raises:
        ValueError: ``rate_per_s <= 0``.
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            msg = "rate_per_s must be > 0"
            raise ValueError(msg)
        self.interval = 1.0 / rate_per_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = float("-inf")

    def acquire(self) -> float:
        """Block until the caller may start a request; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait


# -- the deadline below httpx: every socket read and write gets at most the time left ---------

_deadline = threading.local()  # .at: time.monotonic() deadline of this thread's exchange


def _time_left(timeout: float | None) -> float | None:
    at = getattr(_deadline, "at", None)
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


# -- one exchange with retries ------------------------------------------------------------------

_RETRYABLE = (RateLimitedError, ServerError, RequestTimeoutError, TransportError, DeadlineExceeded)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RETRYABLE) and not isinstance(exc, RetryAfterTooLong)


@dataclass(frozen=True, slots=True)
class Reply:
    """The body of a 2xx answer, how many attempts it took and the URL asked."""

    body: bytes
    attempts: int
    url: str


class Transport:
    """GET requests against one API root, each a bounded exchange with retries.

    Args:
        base_url: API root.
        auth: an ``httpx.Auth`` or None.
        timeout: httpx per-operation timeouts.
        request_deadline_s: budget of one exchange (token request, headers, whole body).
        max_body_bytes: largest decompressed body accepted.
        retry: the :class:`RetryPolicy`.
        rate_limit_per_s: request starts per second across threads; None = no limit.
        transport: an httpx transport (tests pass ``httpx.MockTransport``); None = the real
            network with socket reads bounded by the deadline.
        sleep / clock: injectable for tests (seconds).
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth | None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        request_deadline_s: float = 60.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retry: RetryPolicy | None = None,
        rate_limit_per_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if request_deadline_s <= 0 or max_body_bytes < 1:
            msg = "request_deadline_s and max_body_bytes must be positive"
            raise ValueError(msg)
        self.request_deadline_s = float(request_deadline_s)
        self.max_body_bytes = max_body_bytes
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.rate_limiter = (
            RateLimiter(rate_limit_per_s, clock=clock, sleep=sleep) if rate_limit_per_s else None
        )
        self.http = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=timeout,
            transport=transport or deadline_transport(),
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",  # what _inflater can bound
                "User-Agent": USER_AGENT,
            },
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def get(self, path: str, params: list[tuple[str, str]]) -> Reply:
        """GET ``path`` with retries and return the 2xx body.

        Raises:
            AuthError, RateLimitedError, RetryAfterTooLong, ServerError, RequestTimeoutError,
            ClientError, TransportError, DeadlineExceeded, ResponseTooLarge: see
            :mod:`pipeline.sinch.errors`.
        """
        attempts = 0
        request = self.http.build_request("GET", path, params=params)

        def attempt() -> bytes:
            nonlocal attempts
            attempts += 1
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            return self._exchange(request)

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        body = retrying(attempt)
        return Reply(body, attempts, str(request.url))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.retry.wait_s(state.attempt_number, getattr(exc, "retry_after", None))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        what = type(exc).__name__
        if isinstance(exc, SinchApiError) and exc.status is not None:
            what = f"{what} {exc.status}"
        # One short line: the URL and the body are in the final error if it comes to that.
        logger.warning(
            "retrying after %s (attempt %d/%d, sleeping %.2f s)",
            what,
            state.attempt_number,
            self.retry.max_attempts,
            delay,
        )

    def _exchange(self, request: httpx.Request) -> bytes:
        """Send one request and read its whole body within ``request_deadline_s``."""
        method, url = request.method, str(request.url)
        deadline = self.clock() + self.request_deadline_s
        _deadline.at = time.monotonic() + self.request_deadline_s
        size = 0
        try:
            try:
                response = self.http.send(request, stream=True)
            except httpx.TransportError as exc:  # includes TimeoutException
                if _deadline_passed():
                    raise self._deadline_error(method, url, None, 0) from None
                raise TransportError(
                    f"{type(exc).__name__}: {exc}", method=method, url=url
                ) from None
            status = response.status_code
            try:
                self._check_length(response, method, url)
                if response.is_stream_consumed:  # read already (httpx.MockTransport)
                    source, inflate = iter((response.content,)), _identity
                else:
                    source, inflate = response.iter_raw(), _inflater(response, method, url)
                chunks: list[bytes] = []
                if self.clock() > deadline:
                    raise self._deadline_error(method, url, status, 0)
                for raw in source:
                    # At most cap + 1 bytes out of each chunk: a gzip bomb never inflates
                    # further than the cap (httpx's own decoder inflates a chunk whole).
                    chunk = inflate(raw, self.max_body_bytes - size + 1)
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise self._too_large(method, url, status, f"over {size} bytes")
                    if self.clock() > deadline:
                        raise self._deadline_error(method, url, status, size)
            except httpx.TransportError as exc:
                if _deadline_passed():
                    raise self._deadline_error(method, url, status, size) from None
                raise TransportError(
                    f"{type(exc).__name__} while reading the body: {exc}",
                    method=method,
                    url=url,
                    status=status,
                ) from None
            except zlib.error as exc:
                raise TransportError(
                    f"the body could not be decompressed: {exc}",
                    method=method,
                    url=url,
                    status=status,
                ) from None
            finally:
                response.close()
        finally:
            _deadline.at = None
        body = b"".join(chunks)
        if 200 <= status < 300:
            return body
        self._raise_for_status(response, body, method, url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_length(self, response: httpx.Response, method: str, url: str) -> None:
        declared = response.headers.get("content-length", "")
        encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
        if declared.isdigit() and not encoded and int(declared) > self.max_body_bytes:
            raise self._too_large(method, url, response.status_code, f"{declared} bytes declared")

    def _too_large(self, method: str, url: str, status: int, what: str) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"response body too large ({what}; the cap is {self.max_body_bytes} bytes "
            "decompressed)",
            method=method,
            url=url,
            status=status,
        )

    def _deadline_error(
        self, method: str, url: str, status: int | None, size: int
    ) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no complete response within {self.request_deadline_s:g} s "
            f"({size} body bytes received)",
            method=method,
            url=url,
            status=status,
        )

    def _raise_for_status(
        self, response: httpx.Response, body: bytes, method: str, url: str
    ) -> None:
        status = response.status_code
        text = body[:2000].decode("utf-8", "replace")
        kw: dict[str, Any] = {"status": status, "method": method, "url": url, "body": text}
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        cap = self.retry.max_retry_after_s
        if status in (401, 403):
            expired = "expired" in response.headers.get("www-authenticate", "").lower()
            hint = " (token expired and the refresh did not help)" if expired else ""
            raise AuthError(f"the API rejected the credentials{hint}", **kw)
        if status == 429:
            if retry_after is not None and retry_after > cap:
                raise RetryAfterTooLong(
                    f"rate limited; Retry-After {retry_after:g} s exceeds the cap of {cap:g} s",
                    retry_after=retry_after,
                    **kw,
                )
            raise RateLimitedError("rate limited", retry_after=retry_after, **kw)
        if status == 408:
            raise RequestTimeoutError("request timeout", **kw)
        if status >= 500:
            if retry_after is not None and retry_after > cap:
                retry_after = None  # fall back to our own backoff rather than a huge sleep
            raise ServerError("server error", retry_after=retry_after, **kw)
        raise (ClientError if 400 <= status < 500 else SinchApiError)("request rejected", **kw)


def _identity(raw: bytes, _limit: int) -> bytes:
    return raw


def _inflater(response: httpx.Response, method: str, url: str) -> Callable[[bytes, int], bytes]:
    """A function ``(raw chunk, max bytes out) -> bytes`` for the response's Content-Encoding.

    gzip and deflate (zlib or raw) are decoded with an output limit; identity passes through.
    The client asks for ``gzip, deflate`` only, so any other coding is a TransportError.
    """
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return _identity
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


def _deadline_passed() -> bool:
    at = getattr(_deadline, "at", None)
    return at is not None and time.monotonic() >= at
