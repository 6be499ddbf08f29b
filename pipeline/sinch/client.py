"""``CallsClient``: fetch every call of a time window from the Sinch EST calls API.

A thin facade over four layers, each its own module:

* :mod:`.transport` — one GET with an overall deadline, a body cap, retries
  (:class:`~pipeline.sinch.transport.RetryPolicy`) and a rate limit;
* :mod:`.paging` — the envelope and the paging loop (:class:`~pipeline.sinch.paging.PageRun`);
* :mod:`.sweep` — a window read slice by slice until it reconciles
  (:class:`~pipeline.sinch.sweep.WindowSweep`);
* :mod:`.pages` / :mod:`.parsing` — JSON → Arrow rows / :class:`RejectedRecord`.

Endpoint facts (docs/client.md): ``GET /v1/projects/{projectId}/calls`` and ``/trunks``;
envelope ``{calls|trunks: [...], totalItems, pageNumber, pageSize}``; pages are 1-based
(``page``), page size ``size`` (``pageSize`` before SDK 1.5; both are sent), max 1000.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from pipeline.sinch.models import CallRecord, RejectedRecord, Trunk, Window
from pipeline.sinch.pages import call_id_key
from pipeline.sinch.paging import PageDecoder, PageRun
from pipeline.sinch.parsing import dump_raw, parse_int
from pipeline.sinch.results import DriftEvent, Page, PageParser, Shortfall, SweepStats
from pipeline.sinch.sweep import WindowSweep
from pipeline.sinch.transport import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT,
    Limiter,
    RateLimiter,
    RetryPolicy,
    Transport,
    parse_retry_after,
)
from pipeline.sinch.windows import CallFilters, check_page_size

logger = logging.getLogger("pipeline.sinch")

DEFAULT_BASE_URL = "https://elastic-trunking.api.sinch.com"
#: Items an offset-paged list serves at most, whatever ``totalItems`` says: the usual cap of a
#: search-engine-backed list (Elasticsearch ``index.max_result_window``); Sinch's samples show
#: ``totalItems: 10000`` and point to the export for larger pulls.
DEFAULT_MAX_RESULT_WINDOW = 10_000

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESULT_WINDOW",
    "CallsClient",
    "DriftEvent",
    "Page",
    "PageParser",
    "RateLimiter",
    "RetryPolicy",
    "Shortfall",
    "SweepStats",
    "WindowSweep",
    "parse_retry_after",
]


class CallsClient:
    """Client of the Sinch Elastic SIP Trunking calls and trunks endpoints.

    One ``httpx.Client`` inside (connection pooling); use as a context manager or call
    :meth:`close`. Safe to share across threads: each :meth:`sweep_window` keeps its own state,
    the token cache and the rate limiter are locked.

    Args:
        base_url: API root, default ``https://elastic-trunking.api.sinch.com``.
        project_id: the Sinch project id (required; opaque, URL-quoted into the path).
        auth: an ``httpx.Auth`` (:class:`~pipeline.sinch.auth.OAuth2ClientCredentials` or
            :class:`~pipeline.sinch.auth.BasicAuth`), or None for an unauthenticated sandbox.
        page_size: calls per page, 1..1000 (default 1000, the documented maximum).
        timeout: httpx per-operation timeouts (default 10 s, connect 5 s).
        request_deadline_s: overall budget in seconds of one HTTP exchange: the token request,
            headers and whole body (socket reads get at most the time left).
        max_body_bytes: largest body accepted, decompressed (default 64 MiB).
        retry: the :class:`RetryPolicy`; when None, built from ``max_attempts``,
            ``backoff_base_s``, ``backoff_max_s`` and ``max_retry_after_s``.
        rate_limit_per_s: optional client-side cap on request starts per second (shared by
            threads); None disables it.
        rate_limiter: a limiter to wait for instead, e.g. a
            :class:`~pipeline.sinch.shared_limit.SharedRateLimiter` shared by every worker of
            the project; ``rate_limit_per_s`` is then ignored.
        max_pages: paging safety valve per sweep (:class:`PaginationError` beyond it).
        max_sweeps: most passes over one slice while it is short or its count moves.
        max_result_window: deepest offset the API serves (``page × size``); a slice counting
            more is split (default 10,000; ``SINCH_MAX_RESULT_WINDOW``).
        max_slices: most slices one window is split into.
        min_hidden_window: the smallest result window a server is suspected of hiding: a list
            that runs dry right after full pages this deep is split to verify it (2000).
        prefetch: download page n+1 in a helper thread while page n is being consumed.
        transport: optional httpx transport (tests pass ``httpx.MockTransport``).
        sleep: sleep function in seconds (inject a fake in tests).
        clock: monotonic seconds (inject a fake in tests).

    Raises:
        ValueError: for a bad ``page_size``, empty ``project_id`` or non-positive limits.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        project_id: str = "",
        auth: httpx.Auth | None = None,
        *,
        page_size: int = 1000,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        request_deadline_s: float = 60.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retry: RetryPolicy | None = None,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        rate_limit_per_s: float | None = None,
        rate_limiter: Limiter | None = None,
        max_pages: int = 10_000,
        max_sweeps: int = 3,
        max_result_window: int = DEFAULT_MAX_RESULT_WINDOW,
        max_slices: int = 1024,
        min_hidden_window: int = 2000,
        prefetch: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not project_id:
            msg = "project_id is required"
            raise ValueError(msg)
        if min(max_pages, max_sweeps, max_slices, max_result_window) < 1:
            msg = "max_pages, max_sweeps, max_slices and max_result_window must be positive"
            raise ValueError(msg)
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        self.page_size = check_page_size(page_size)
        self.max_pages = max_pages
        self.max_sweeps = max_sweeps
        self.max_result_window = max_result_window
        self.max_slices = max_slices
        self.min_hidden_window = min_hidden_window
        self.prefetch = prefetch
        self.clock = clock
        self.retry = retry or RetryPolicy(
            max_attempts, backoff_base_s, backoff_max_s, max_retry_after_s
        )
        self.transport = Transport(
            self.base_url,
            auth,
            timeout=timeout,
            request_deadline_s=request_deadline_s,
            max_body_bytes=max_body_bytes,
            retry=self.retry,
            rate_limit_per_s=rate_limit_per_s,
            rate_limiter=rate_limiter,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    @property
    def rate_limiter(self) -> Limiter | None:
        """The limiter every request waits for (a :class:`RateLimiter` or a shared one)."""
        return self.transport.rate_limiter

    def __repr__(self) -> str:
        return (
            f"CallsClient(base_url={self.base_url!r}, project_id={self.project_id!r}, "
            f"auth={self.transport.http.auth!r}, page_size={self.page_size})"
        )

    def __enter__(self) -> CallsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self.transport.close()

    # -- public API ---------------------------------------------------------------------------

    def sweep_window(
        self,
        window: Window,
        filters: CallFilters | None = None,
        *,
        page_parser: PageParser | None = None,
    ) -> WindowSweep:
        """Return a lazy :class:`WindowSweep` over every call with ``start <= createTime < end``.

        No request is sent until iteration starts. Errors (:class:`SinchApiError` subclasses)
        are raised from the iteration.

        Args:
            window: the half-open UTC window.
            filters: API filters; None fetches every call.
            page_parser: decodes and parses a page from its body, e.g. in a worker process
                (:data:`~pipeline.sinch.results.PageParser`, such as
                :func:`~pipeline.sinch.pages.decode_calls_page`); None decodes and parses in
                the fetching thread.
        """
        return WindowSweep(self, window, filters, page_parser)

    def iter_calls(
        self, window: Window, filters: CallFilters | None = None
    ) -> Iterator[CallRecord | RejectedRecord]:
        """Yield one window's calls, de-duplicated by ``call_id``, plus rejected records.

        The first delivery of a call is kept; copies re-delivered by a re-sweep or a split are
        skipped, and so are rejected records already yielded (same callId, or same text when
        they have none). Keeps a set of keys, so prefer :meth:`sweep_window` for big windows.
        """
        seen: set[str] = set()
        for page in self.sweep_window(window, filters):
            for record in page.records:
                if record.call_id not in seen:
                    seen.add(record.call_id)
                    yield record
            for bad in page.rejected:
                key = "rejected:" + (bad.call_id or bad.raw)
                if key not in seen:
                    seen.add(key)
                    yield bad

    def list_trunks(self) -> list[Trunk]:
        """Return every SIP trunk of the project (``GET /v1/projects/{projectId}/trunks``).

        Returns:
            Trunks in API order; a trunk object without a string ``id`` is skipped with a
            warning (only ``id`` and ``name`` are reliable).

        Raises:
            SinchApiError: any subclass, as for calls; a body without a ``trunks`` list is a
                :class:`ResponseFormatError` (never an empty list of trunks).
        """
        trunks: list[Trunk] = []
        run = PageRun(
            self.transport, self._path("trunks"), "trunks", [],
            page_size=self.page_size, max_pages=self.max_pages, prefetch=False,
        )  # fmt: skip
        for raw in run:
            for item in raw.items:
                trunk = _parse_trunk(item)
                if trunk is None:
                    logger.warning("skipping trunk without an id: %s", dump_raw(item)[:200])
                else:
                    trunks.append(trunk)
        return trunks

    def page_run(
        self,
        params: list[tuple[str, str]],
        *,
        splittable: bool = False,
        decode: PageDecoder | None = None,
    ) -> PageRun:
        """A :class:`PageRun` over ``/calls`` with ``params`` (window and filters).

        ``splittable``: stop after page 1 when ``totalItems`` exceeds ``max_result_window``
        (the caller will split the window instead of paging it). ``decode``: how pages are
        decoded (None: :func:`~pipeline.sinch.paging.decode_list` in the fetching thread).
        """
        return PageRun(
            self.transport,
            self._path("calls"),
            "calls",
            params,
            page_size=self.page_size,
            max_pages=self.max_pages,
            max_depth=self.max_result_window,
            stop_if_too_deep=splittable,
            key=call_id_key,
            prefetch=self.prefetch,
            decode=decode,
        )

    def _path(self, resource: str) -> str:
        return f"/v1/projects/{quote(self.project_id, safe='')}/{resource}"


def _parse_trunk(item: Any) -> Trunk | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        return None
    name = item.get("name")
    try:
        cps = parse_int(item.get("callsPerSecond"), "callsPerSecond")
    except ValueError:
        cps = None
    return Trunk(
        trunk_id=item["id"],
        name=name if isinstance(name, str) else None,
        calls_per_second=cps,
        raw=dump_raw(item),
    )
