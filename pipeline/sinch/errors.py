"""Exceptions raised by the Sinch calls API client.

Every error carries what a caller needs to decide and to report: the HTTP status (or None for
transport-level failures), the request method and URL, and the API's response body truncated to
``BODY_LIMIT`` characters. Headers are never copied into an error, and the message and body pass
through :func:`~pipeline.sinch.redact.redact`, so an ``Authorization`` value (Bearer token or
Basic credentials) or the key secret cannot leak through ``str(exc)`` or ``repr(exc)`` even when
the server echoes them in its body.

Hierarchy::

    SinchApiError
    ├── AuthError              401/403 from the API, or the token endpoint refused the key
    ├── RateLimitedError       429 (``retry_after`` seconds when the server sent Retry-After)
    │   └── RetryAfterTooLong  Retry-After above the client's cap: fail fast, never sleep it out
    ├── ServerError            5xx
    ├── RequestTimeoutError    408
    ├── ClientError            any other 4xx (not retried)
    ├── TransportError         connect/read/timeout errors after the last attempt
    ├── DeadlineExceeded       one HTTP exchange took longer than ``request_deadline_s``
    ├── ResponseFormatError    a 2xx body that is not the documented JSON envelope
    │   └── ResponseTooLarge   a body larger than the client's cap (decompressed)
    └── PaginationError        a paging guard tripped (max pages, repeated page)

The error body shape of the EST API is undocumented (``docs/api-reference.md`` pitfall 20), so
errors keep the raw body text and never depend on a schema.
"""

from __future__ import annotations

from pipeline.sinch.redact import redact

BODY_LIMIT = 500


def _truncate(body: str | None, limit: int = BODY_LIMIT) -> str | None:
    if body is None:
        return None
    return body if len(body) <= limit else body[:limit] + f"... [{len(body) - limit} more chars]"


class SinchApiError(Exception):
    """Base class of every error the client raises.

    Attributes:
        status: HTTP status code, or None when no response was received.
        method: HTTP method of the failing request (e.g. ``"GET"``), or None.
        url: full request URL (query included; it never carries credentials), or None.
        body: the response body as text, truncated to ``BODY_LIMIT`` characters, or None.
        retry_after: seconds the server asked to wait (``Retry-After``), or None.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.status = status
        self.method = method
        self.url = url
        self.body = _truncate(redact(body))
        parts = [redact(message) or ""]
        if method or url:
            parts.append(f"request: {method or '?'} {url or '?'}")
        if status is not None:
            parts.append(f"status: {status}")
        if self.body:
            parts.append(f"body: {self.body}")
        super().__init__(" | ".join(parts))


class AuthError(SinchApiError):
    """The API or the token endpoint rejected the credentials (401/403, or no token issued)."""


class RateLimitedError(SinchApiError):
    """HTTP 429 after the last attempt (``retry_after`` set when the server sent one)."""


class RetryAfterTooLong(RateLimitedError):
    """The server's ``Retry-After`` exceeds the client's ``max_retry_after_s``: fail fast."""


class ServerError(SinchApiError):
    """HTTP 5xx after the last attempt."""


class RequestTimeoutError(SinchApiError):
    """HTTP 408 after the last attempt."""


class ClientError(SinchApiError):
    """Any other HTTP 4xx: a request the server will not accept however often it is sent."""


class TransportError(SinchApiError):
    """A network-level failure (connect, read, timeout) after the last attempt."""


class DeadlineExceeded(SinchApiError):
    """One HTTP exchange (headers and whole body) exceeded the client's overall deadline.

    httpx timeouts apply per network operation, so a server dripping a byte at a time never
    trips them (``docs/stack-hazards.md`` §0.8); the client checks a monotonic deadline while
    reading.
    """


class ResponseFormatError(SinchApiError):
    """A 2xx response whose body is not JSON or lacks the paging envelope."""


class ResponseTooLarge(ResponseFormatError):
    """A 2xx body that grew beyond ``max_body_bytes`` once decompressed (e.g. a gzip bomb)."""


class PaginationError(SinchApiError):
    """A paging guard tripped: more pages than ``max_pages``, or a page repeating the previous."""
