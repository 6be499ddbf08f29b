"""One HTTP exchange with the EST API: retries, rate limit, an overall deadline, a body cap.

:class:`Transport` sends a GET and returns the body of a 2xx answer, or raises the
:mod:`~pipeline.sinch.errors` class its status maps to. Nothing here knows about pages, windows
or calls (that is :mod:`~pipeline.sinch.paging` and :mod:`~pipeline.sinch.sweep`).

Guards, each against an answer the network may give:

* **Deadline** (``request_deadline_s``): one exchange — connect, the token request the auth flow
  inserts, status line, headers and the whole body — must finish in time. httpx timeouts are
  per socket operation, so a server that drips its headers or body a byte at a time would never
  trip them; the socket reads themselves are bounded by the time left (:mod:`.bounds`)
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
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pipeline.sinch.bounds import (
    deadline_passed,
    deadline_transport,
    identity,
    inflater,
    set_deadline,
)
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
from pipeline.sinch.limits import Limiter, RateLimiter, RetryPolicy, parse_retry_after

__all__ = ["Limiter", "RateLimiter", "Reply", "RetryPolicy", "Transport", "parse_retry_after"]

logger = logging.getLogger("pipeline.sinch")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
USER_AGENT = "sinch-call-analytics/0.1 (+httpx)"


# -- one exchange with retries ------------------------------------------------------------------

_RETRYABLE = (RateLimitedError, ServerError, RequestTimeoutError, TransportError, DeadlineExceeded)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RETRYABLE) and not isinstance(exc, RetryAfterTooLong)


@dataclass(frozen=True, slots=True)
class Reply:
    """The body of a 2xx answer, how many attempts it took, the URL asked and its headers.

    ``headers``: the response headers (e.g. ``Content-Disposition`` of the CSV export); never
    logged, since they are the server's.
    """

    body: bytes
    attempts: int
    url: str
    headers: httpx.Headers | None = None


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
        rate_limiter: Limiter | None = None,
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
        self.rate_limiter: Limiter | None = rate_limiter or (
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

    def get(
        self,
        path: str,
        params: list[tuple[str, str]],
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """GET ``path`` with retries and return the 2xx body.

        ``headers`` replace the client's defaults for this request (the export sends
        ``Accept: text/plain``).

        Raises:
            AuthError, RateLimitedError, RetryAfterTooLong, ServerError, RequestTimeoutError,
            ClientError, TransportError, DeadlineExceeded, ResponseTooLarge: see
            :mod:`pipeline.sinch.errors`.
        """
        attempts = 0
        request = self.http.build_request("GET", path, params=tuple(params), headers=headers)
        received: list[httpx.Headers] = []

        def attempt() -> bytes:
            nonlocal attempts
            attempts += 1
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            return self._exchange(request, received)

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self.sleep,
            before_sleep=lambda state: self._log_retry(state, request),
            reraise=True,
        )
        body = retrying(attempt)
        return Reply(body, attempts, str(request.url), received[-1] if received else None)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.retry.wait_s(state.attempt_number, getattr(exc, "retry_after", None))

    def _log_retry(self, state: RetryCallState, request: httpx.Request) -> None:
        """One short warning (status, window, attempt); the (redacted) body at DEBUG only."""
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        status = type(exc).__name__
        if isinstance(exc, SinchApiError) and exc.status is not None:
            status = f"HTTP {exc.status}"
        logger.warning(
            "%s on %s, attempt %d/%d: retrying in %.1f s",
            status,
            _request_label(request),
            state.attempt_number,
            self.retry.max_attempts,
            delay,
        )
        if isinstance(exc, SinchApiError) and exc.body:
            # The error's body is already redacted (pipeline.sinch.redact) and truncated.
            logger.debug("%s body: %s", status, exc.body)

    def _exchange(self, request: httpx.Request, received: list[httpx.Headers]) -> bytes:
        """Send one request and read its whole body within ``request_deadline_s``.

        The headers of a 2xx answer are appended to ``received``.
        """
        method, url = request.method, str(request.url)
        deadline = self.clock() + self.request_deadline_s
        set_deadline(self.request_deadline_s)
        try:
            try:
                response = self.http.send(request, stream=True)
            except httpx.TransportError as exc:  # includes TimeoutException
                if deadline_passed():
                    raise self._deadline_error(method, url, None, 0) from None
                raise TransportError(
                    f"{type(exc).__name__}: {exc}", method=method, url=url
                ) from None
            try:
                body = self._read_body(response, method, url, deadline)
            finally:
                response.close()
        finally:
            set_deadline(None)
        if 200 <= response.status_code < 300:
            received.append(response.headers)
            return body
        self._raise_for_status(response, body, method, url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_body(self, response: httpx.Response, method: str, url: str, deadline: float) -> bytes:
        """The whole (decompressed) body, within the cap and the deadline.

        Raises:
            ResponseTooLarge, DeadlineExceeded, TransportError.
        """
        status = response.status_code
        size = 0
        chunks: list[bytes] = []
        chunk = raw = b""
        try:
            self._check_length(response, method, url)
            source: Iterator[bytes]
            inflate: Callable[[bytes, int], bytes]
            if response.is_stream_consumed:  # read already (httpx.MockTransport)
                source, inflate = iter((response.content,)), identity
            else:
                source, inflate = response.iter_raw(), inflater(response, method, url)
            if self.clock() > deadline:
                raise self._deadline_error(method, url, status, 0)
            for raw in source:
                # At most cap + 1 bytes out of each chunk: a gzip bomb never inflates further
                # than the cap (httpx's own decoder inflates a chunk whole).
                chunk = inflate(raw, self.max_body_bytes - size + 1)
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise self._too_large(method, url, status, f"over {size} bytes")
                if self.clock() > deadline:
                    raise self._deadline_error(method, url, status, size)
        except BaseException as exc:
            # The error's traceback keeps this frame alive until a full garbage collection;
            # without this, each failed window held up to max_body_bytes (a tester saw a
            # gzip-bombed backfill grow by 64 MiB a window, 3.7 GB after 120).
            chunks.clear()
            chunk = raw = b""  # and the last chunk too (up to the cap)
            if isinstance(exc, httpx.TransportError):
                if deadline_passed():
                    raise self._deadline_error(method, url, status, size) from None
                raise TransportError(
                    f"{type(exc).__name__} while reading the body: {exc}",
                    method=method,
                    url=url,
                    status=status,
                ) from None
            if isinstance(exc, zlib.error):
                raise TransportError(
                    f"the body could not be decompressed: {exc}",
                    method=method,
                    url=url,
                    status=status,
                ) from None
            raise
        return b"".join(chunks)

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


def _request_label(request: httpx.Request) -> str:
    """How a retry line names a request: its window, or its path.

    ``window 2026-11-18T10:00Z`` for a calls request (its ``createTime>`` bound + 1 s),
    ``export window 2026-11-18T10:00Z`` for the same window of ``/calls/export``. Other
    requests are named by their path (``/v1/projects/…/trunks``).
    """
    lower = request.url.params.get("createTime>")
    if lower:
        what = "export window" if request.url.path.endswith("/export") else "window"
        try:
            start = datetime.fromisoformat(lower) + timedelta(seconds=1)
        except ValueError:
            return f"{what} from {lower}"
        return f"{what} {start:%Y-%m-%dT%H:%M}Z"
    return request.url.path
