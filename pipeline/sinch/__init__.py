"""Sinch Elastic SIP Trunking calls API: models, auth, windows, parsing and the client.

Data flow: :mod:`.windows` (window → query) → :mod:`.client` (paged, retried GETs) →
:mod:`.parsing` (JSON → :class:`CallRecord` / :class:`RejectedRecord`). See ``docs/client.md``.
"""

from pipeline.sinch.auth import BasicAuth, OAuth2ClientCredentials
from pipeline.sinch.client import (
    DEFAULT_BASE_URL,
    CallsClient,
    DriftEvent,
    Page,
    SweepStats,
    WindowSweep,
)
from pipeline.sinch.errors import (
    AuthError,
    ClientError,
    DeadlineExceeded,
    PaginationError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    RetryAfterTooLong,
    ServerError,
    SinchApiError,
    TransportError,
)
from pipeline.sinch.models import CallRecord, RejectedRecord, Trunk, Window
from pipeline.sinch.parsing import parse_call
from pipeline.sinch.windows import CallFilters, window_params

__all__ = [
    "DEFAULT_BASE_URL",
    "AuthError",
    "BasicAuth",
    "CallFilters",
    "CallRecord",
    "CallsClient",
    "ClientError",
    "DeadlineExceeded",
    "DriftEvent",
    "OAuth2ClientCredentials",
    "Page",
    "PaginationError",
    "RateLimitedError",
    "RejectedRecord",
    "RequestTimeoutError",
    "ResponseFormatError",
    "RetryAfterTooLong",
    "ServerError",
    "SinchApiError",
    "SweepStats",
    "TransportError",
    "Trunk",
    "Window",
    "WindowSweep",
    "parse_call",
    "window_params",
]
