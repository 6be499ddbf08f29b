"""Sinch Elastic SIP Trunking calls API: models, auth, windows, parsing and the client.

Data flow: :mod:`.windows` (window → query) → :mod:`.transport` (one bounded, retried GET) →
:mod:`.paging` (pages and stop rules) → :mod:`.sweep` (a window, split and re-swept until it
reconciles) → :mod:`.pages` / :mod:`.parsing` (JSON → Arrow rows / :class:`RejectedRecord`);
:mod:`.client` is the facade. The CSV export (``/calls/export``) is read by :mod:`.export`
through the same transport and parsed by :mod:`.csv_rows`. See ``docs/client.md``.
"""

from pipeline.sinch.auth import BasicAuth, OAuth2ClientCredentials
from pipeline.sinch.client import (
    DEFAULT_BASE_URL,
    CallsClient,
    DriftEvent,
    Page,
    RetryPolicy,
    Shortfall,
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
    ResponseTooLarge,
    RetryAfterTooLong,
    ServerError,
    SinchApiError,
    TransportError,
)
from pipeline.sinch.export import ExportPage, ExportRun, ExportStats, export_window
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
    "ExportPage",
    "ExportRun",
    "ExportStats",
    "OAuth2ClientCredentials",
    "Page",
    "PaginationError",
    "RateLimitedError",
    "RejectedRecord",
    "RequestTimeoutError",
    "ResponseFormatError",
    "ResponseTooLarge",
    "RetryAfterTooLong",
    "RetryPolicy",
    "ServerError",
    "Shortfall",
    "SinchApiError",
    "SweepStats",
    "TransportError",
    "Trunk",
    "Window",
    "WindowSweep",
    "export_window",
    "parse_call",
    "window_params",
]
