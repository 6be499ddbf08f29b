"""``CallsClient``: fetch every call of a time window from the Sinch EST calls API.

Data flow: :mod:`windows` (window → query params) → :meth:`CallsClient._get_json` (one GET with
retries, rate limit and an overall deadline) → :meth:`CallsClient._iter_pages` (the paging loop
and its guards) → :mod:`parsing` (JSON → :class:`CallRecord` / :class:`RejectedRecord`) →
:class:`WindowSweep` (pages of one window, re-swept while ``totalItems`` drifts, with stats).

Endpoint facts (reference §1-2, §6): ``GET /v1/projects/{projectId}/calls`` and ``/trunks``;
envelope ``{calls|trunks: [...], totalItems, pageNumber, pageSize}``; pages are 1-based
(``page``), page size key ``size`` (was ``pageSize`` before SDK 1.5, pitfall 7), max 1000.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pyarrow as pa
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

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
from pipeline.sinch.pages import ParsedPage, parse_page, table_to_records
from pipeline.sinch.parsing import dump_raw, parse_int
from pipeline.sinch.windows import CallFilters, check_page_size, window_params

logger = logging.getLogger("pipeline.sinch")

DEFAULT_BASE_URL = "https://elastic-trunking.api.sinch.com"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "sinch-call-analytics/0.1 (+httpx)"


# ---------------------------------------------------------------------------------------------
# Retry-After and rate limiting
# ---------------------------------------------------------------------------------------------


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
    "heavily rate limited" (DOCS-EST); the EST 429 policy is undocumented (pitfall 19).
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


# ---------------------------------------------------------------------------------------------
# Result shapes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawPage:
    """One decoded page of any EST list endpoint.

    Attributes:
        number: the ``page`` requested (1-based).
        items: the list under the data key (``calls``/``trunks``), as decoded JSON.
        total_items: ``totalItems`` coerced to int, or None when absent.
        reported_page_number: ``pageNumber`` coerced to int, or None.
        attempts: HTTP requests it took (1 + retries).
        body: the response body as received (a worker process can decode it again).
    """

    number: int
    items: list[Any]
    total_items: int | None
    reported_page_number: int | None
    attempts: int
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a window sweep, already parsed and cut to the window.

    Attributes:
        sweep: 1-based sweep number (a window is re-swept while ``totalItems`` drifts).
        number: the ``page`` requested (1-based).
        total_items: the page's ``totalItems``, or None.
        received: how many call objects the page carried.
        calls: parsed calls with ``window.start <= create_time < window.end``, as an Arrow
            table with the columns of ``raw.calls``
            (:data:`~pipeline.sinch.pages.CALLS_ARROW_SCHEMA`).
        rejected: records that could not be parsed (kept whatever their time).
        outside_window: parsed calls dropped because ``create_time`` is outside the window
            (the server's inclusive upper bound, or fractions of a second; pitfall 3).
        unknown_fields: call keys not in ``CALL_FIELDS`` seen on this page.
        attempts: HTTP requests it took (1 + retries).
    """

    sweep: int
    number: int
    total_items: int | None
    received: int
    calls: pa.Table
    rejected: list[RejectedRecord]
    outside_window: int
    unknown_fields: frozenset[str]
    attempts: int

    @property
    def records(self) -> list[CallRecord]:
        """``calls`` as :class:`CallRecord` tuples (converted on each access)."""
        return table_to_records(self.calls)


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """A sign that the window's result set moved while it was being read.

    Attributes:
        sweep: the sweep it happened in.
        page: the page at which it was seen.
        previous: the ``totalItems`` before (or the records seen, for ``kind="short"``).
        current: the ``totalItems`` now.
        kind: ``"page"`` (totalItems changed between pages of one sweep), ``"sweep"`` (two
            sweeps ended with different totals) or ``"short"`` (an empty page arrived before
            ``totalItems`` records were seen).
    """

    sweep: int
    page: int
    previous: int | None
    current: int | None
    kind: str


@dataclass(slots=True)
class SweepStats:
    """What one :class:`WindowSweep` did; complete once iteration has finished.

    Attributes:
        sweeps: full passes over the window's pages.
        pages: pages received over all sweeps.
        attempts: HTTP requests sent, retries included.
        total_items: the API's ``totalItems`` at the end of the last sweep.
        sweep_totals: ``totalItems`` at the end of each sweep.
        drift: every :class:`DriftEvent` seen.
        settled: True when the last sweep saw no drift and (after a re-sweep) agreed with the
            sweep before it; False when ``max_sweeps`` ran out first.
        records: in-window calls yielded over all sweeps (duplicates across sweeps included).
        distinct_records: distinct ``call_id`` values among them.
        rejected: rejected records yielded (all sweeps).
        outside_window: parsed calls cut by the half-open window rule.
        seconds: elapsed ``clock`` seconds from first request to the end.
        unknown_fields: call keys not in ``CALL_FIELDS`` seen anywhere.
    """

    sweeps: int = 0
    pages: int = 0
    attempts: int = 0
    total_items: int | None = None
    sweep_totals: list[int | None] = field(default_factory=list)
    drift: list[DriftEvent] = field(default_factory=list)
    settled: bool = False
    records: int = 0
    distinct_records: int = 0
    rejected: int = 0
    outside_window: int = 0
    seconds: float = 0.0
    unknown_fields: set[str] = field(default_factory=set)


class WindowSweep:
    """Iterable of :class:`Page` objects covering one window; ``.stats`` after iteration.

    Semantics (reference pitfalls 3, 9, 10, 22):

    * pages are requested from 1 and yielded one at a time (memory: one page, plus the set of
      call ids for ``distinct_records``);
    * a sweep stops at an empty page or once ``totalItems`` records were received — never on a
      short page alone;
    * if ``totalItems`` changes between pages, or a sweep ends on an empty page before
      ``totalItems`` records, the whole window is swept again, until a drift-free sweep reports
      the same ``totalItems`` as the sweep before it, at most ``max_sweeps`` times. If the
      sweeps never agree, iteration still ends normally with ``stats.settled = False`` and a
      warning is logged: the data is as complete as the API allowed, and the caller decides.
    * **a re-sweep re-delivers calls already yielded: de-duplicate by ``call_id``** (the raw
      layer keeps one row per call id; keep the last version seen).
    * a page identical to the previous page (the server ignoring ``page``) raises
      :class:`PaginationError`, as does exceeding ``max_pages``.

    Iterate once; a second iteration raises ``RuntimeError``.
    """

    def __init__(
        self,
        client: CallsClient,
        window: Window,
        filters: CallFilters | None,
        page_parser: PageParser | None = None,
    ) -> None:
        self.window = window
        self._page_parser = page_parser
        self.filters = filters or CallFilters()
        self.stats = SweepStats()
        self._client = client
        self._started = False

    def __iter__(self) -> Iterator[Page]:
        if self._started:
            msg = "a WindowSweep can be iterated only once; call sweep_window() again"
            raise RuntimeError(msg)
        self._started = True
        return self._run()

    def _run(self) -> Iterator[Page]:
        client = self._client
        stats = self.stats
        clock = client.clock
        started = clock()
        seen_ids: set[str] = set()
        params = window_params(self.window, self.filters)
        pages: Generator[RawPage, None, None] | None = None
        try:
            for sweep in range(1, client.max_sweeps + 1):
                stats.sweeps = sweep
                drifted = False
                total: int | None = None
                received = 0
                last_page = 0
                pages = client._iter_pages(client._path("calls"), "calls", params, key=_call_id_key)
                for raw in pages:
                    last_page = raw.number
                    stats.pages += 1
                    stats.attempts += raw.attempts
                    if raw.total_items is not None:
                        if total is not None and raw.total_items != total:
                            drifted = True
                            stats.drift.append(
                                DriftEvent(sweep, raw.number, total, raw.total_items, "page")
                            )
                            logger.warning(
                                "totalItems changed from %s to %s at page %d of sweep %d (%s)",
                                total,
                                raw.total_items,
                                raw.number,
                                sweep,
                                _window_label(self.window),
                            )
                        total = raw.total_items
                    received += len(raw.items)
                    page = self._parse_page(sweep, raw)
                    stats.records += page.calls.num_rows
                    stats.rejected += len(page.rejected)
                    stats.outside_window += page.outside_window
                    stats.unknown_fields |= page.unknown_fields
                    seen_ids.update(page.calls.column("call_id").to_pylist())
                    stats.distinct_records = len(seen_ids)
                    yield page
                if total is not None and received < total:
                    drifted = True
                    stats.drift.append(DriftEvent(sweep, last_page, received, total, "short"))
                    logger.warning(
                        "sweep %d ended on an empty page after %d of %d records (%s)",
                        sweep,
                        received,
                        total,
                        _window_label(self.window),
                    )
                previous = stats.sweep_totals[-1] if stats.sweep_totals else None
                stats.sweep_totals.append(total)
                stats.total_items = total
                if sweep > 1 and previous != total:
                    stats.drift.append(DriftEvent(sweep, last_page, previous, total, "sweep"))
                if not drifted and (sweep == 1 or previous == total):
                    stats.settled = True
                    return
                if sweep < client.max_sweeps:
                    logger.info("re-sweeping %s (sweep %d)", _window_label(self.window), sweep + 1)
            logger.warning(
                "%s did not settle after %d sweeps; totals per sweep: %s",
                _window_label(self.window),
                stats.sweeps,
                stats.sweep_totals,
            )
        finally:
            if pages is not None:
                pages.close()  # the caller stopped early: stop the prefetch thread now
            stats.seconds = clock() - started

    def _parse_page(self, sweep: int, raw: RawPage) -> Page:
        start, end = self.window.start, self.window.end
        if self._page_parser is None:
            parsed = parse_page(raw.items, start, end)
        else:
            parsed = self._page_parser(raw.body, "calls", start, end)
        return Page(
            sweep=sweep,
            number=raw.number,
            total_items=raw.total_items,
            received=len(raw.items),
            calls=parsed.calls,
            rejected=parsed.rejected,
            outside_window=parsed.outside_window,
            unknown_fields=parsed.unknown_fields,
            attempts=raw.attempts,
        )


#: ``(body, data_key, start, end) -> ParsedPage``: for example
#: :func:`~pipeline.sinch.pages.parse_page_body` run in a worker process.
PageParser = Callable[[bytes, str, datetime, datetime], ParsedPage]


def _call_id_key(item: Any) -> str | None:
    """A call object's ``callId`` when it is a string (the paging loop's distinct count)."""
    if type(item) is dict:
        value = item.get("callId")
        if type(value) is str:
            return value
    return None


def _window_label(window: Window) -> str:
    return f"window [{window.start.isoformat()}, {window.end.isoformat()})"


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------

_RETRYABLE = (RateLimitedError, ServerError, RequestTimeoutError, TransportError, DeadlineExceeded)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RETRYABLE) and not isinstance(exc, RetryAfterTooLong)


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
        page_size: ``size`` per page, 1..1000 (default 1000, the documented maximum).
        timeout: httpx per-operation timeouts (default 10 s, connect 5 s).
        request_deadline_s: overall budget in seconds for one HTTP exchange, headers and whole
            body; checked while the body streams (stack-notes §0.8).
        max_attempts: HTTP attempts per request, first included.
        backoff_base_s / backoff_max_s: full-jitter exponential backoff, sleep
            ``uniform(0, min(backoff_max_s, backoff_base_s * 2**(attempt-1)))``.
        max_retry_after_s: largest ``Retry-After`` honoured; above it the client raises
            :class:`RetryAfterTooLong` at once instead of sleeping (style guide item 4).
        rate_limit_per_s: optional client-side cap on request starts per second (shared by
            threads); None disables it.
        max_pages: paging safety valve per sweep (:class:`PaginationError` beyond it).
        max_sweeps: most passes over one window while ``totalItems`` drifts.
        prefetch: download page n+1 in a helper thread while page n is being consumed (one
            page in flight; requests stay strictly sequential per sweep).
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
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        rate_limit_per_s: float | None = None,
        max_pages: int = 10_000,
        max_sweeps: int = 3,
        prefetch: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not project_id:
            msg = "project_id is required"
            raise ValueError(msg)
        if max_attempts < 1 or max_pages < 1 or max_sweeps < 1 or request_deadline_s <= 0:
            msg = "max_attempts, max_pages, max_sweeps and request_deadline_s must be positive"
            raise ValueError(msg)
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        self.page_size = check_page_size(page_size)
        self.request_deadline_s = float(request_deadline_s)
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self.max_pages = max_pages
        self.max_sweeps = max_sweeps
        self.prefetch = prefetch
        self.sleep = sleep
        self.clock = clock
        self.rate_limiter = (
            RateLimiter(rate_limit_per_s, clock=clock, sleep=sleep) if rate_limit_per_s else None
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (
            f"CallsClient(base_url={self.base_url!r}, project_id={self.project_id!r}, "
            f"auth={self._http.auth!r}, page_size={self.page_size})"
        )

    def __enter__(self) -> CallsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

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
            page_parser: parses a page from its body, e.g. in a worker process (called as
                ``page_parser(body, "calls", start, end)``, returns a
                :class:`~pipeline.sinch.pages.ParsedPage`); None parses in this thread with
                :func:`~pipeline.sinch.pages.parse_page`.
        """
        return WindowSweep(self, window, filters, page_parser)

    def iter_calls(
        self, window: Window, filters: CallFilters | None = None
    ) -> Iterator[CallRecord | RejectedRecord]:
        """Yield one window's calls, de-duplicated by ``call_id``, plus rejected records.

        The first delivery of a call is kept; copies re-delivered by a re-sweep are skipped.
        Rejected records are yielded from the first sweep only. Keeps a set of call ids, so
        prefer :meth:`sweep_window` for very large windows.
        """
        seen: set[str] = set()
        for page in self.sweep_window(window, filters):
            for record in page.records:
                if record.call_id not in seen:
                    seen.add(record.call_id)
                    yield record
            if page.sweep == 1:
                yield from page.rejected

    def list_trunks(self) -> list[Trunk]:
        """Return every SIP trunk of the project (``GET /v1/projects/{projectId}/trunks``).

        Returns:
            Trunks in API order; a trunk object without a string ``id`` is skipped with a
            warning (only ``id`` and ``name`` are reliable, pitfall 21).

        Raises:
            SinchApiError: any subclass, as for calls.
        """
        trunks: list[Trunk] = []
        for raw in self._iter_pages(self._path("trunks"), "trunks", []):
            for item in raw.items:
                trunk = _parse_trunk(item)
                if trunk is None:
                    logger.warning("skipping trunk without an id: %s", dump_raw(item)[:200])
                else:
                    trunks.append(trunk)
        return trunks

    # -- paging -------------------------------------------------------------------------------

    def _path(self, resource: str) -> str:
        return f"/v1/projects/{quote(self.project_id, safe='')}/{resource}"

    def _iter_pages(
        self,
        path: str,
        data_key: str,
        params: list[tuple[str, str]],
        key: Callable[[Any], str | None] | None = None,
    ) -> Generator[RawPage, None, None]:
        """The one paging loop: pages 1..n until an empty page or ``totalItems`` received.

        Never stops on a short page alone (pitfall 10); ``pageNumber``/``totalItems`` sent as
        strings are coerced to int (pitfall 9). The caller's ``params`` are not mutated.

        With ``key`` (an item's id, or None when it has none), only *distinct* items count
        towards ``totalItems``: a record the server repeats on a later page must not make the
        loop stop before the last page (it did, losing the tail of the window).

        Raises:
            PaginationError: beyond ``max_pages``, or a non-empty page equal to the previous.
        """
        received = 0
        distinct = 0
        seen: set[str] = set()
        previous: list[Any] | None = None
        number = 1
        executor = ThreadPoolExecutor(max_workers=1) if self.prefetch else None
        pending: Future[tuple[Any, bytes, int, str]] | None = None
        warned = False
        try:
            while True:
                if pending is not None:
                    payload, body, attempts, url = pending.result()
                    pending = None
                else:
                    payload, body, attempts, url = self._get_json(
                        path, self._page_params(params, number)
                    )
                items, total, reported = _envelope(payload, data_key, url)
                if reported is not None and reported != number and not warned:
                    # Pitfall 9: a 0-based or stuck pageNumber. We page by our own counter
                    # (and the repeated-page guard), so this is only reported.
                    warned = True
                    logger.warning(
                        "requested page %d but the API reported pageNumber %d (%s)",
                        number,
                        reported,
                        url,
                    )
                if items and items == previous:
                    raise PaginationError(
                        f"page {number} repeats page {number - 1} (the server may ignore "
                        f"`page`); stopping rather than looping ({received} records received)",
                        method="GET",
                        url=url,
                    )
                received += len(items)
                if key is None:
                    distinct += len(items)
                else:
                    for item in items:
                        item_key = key(item)
                        if item_key is None:
                            distinct += 1
                        elif item_key not in seen:
                            seen.add(item_key)
                            distinct += 1
                more = bool(items) and (total is None or distinct < total)
                if more and number + 1 > self.max_pages:
                    raise PaginationError(
                        f"more than max_pages={self.max_pages} pages; raise max_pages or use a "
                        f"smaller window ({received} records received)",
                        method="GET",
                        url=url,
                    )
                if more and executor is not None:
                    # Download page n+1 while the caller parses page n (network and server time
                    # overlap client CPU); at most one page in flight, so memory stays ~2 pages.
                    pending = executor.submit(
                        self._get_json, path, self._page_params(params, number + 1)
                    )
                yield RawPage(number, items, total, reported, attempts, body)
                if not more:
                    return
                previous = items
                number += 1
        finally:
            if executor is not None:
                if pending is not None:
                    pending.cancel()
                executor.shutdown(wait=True, cancel_futures=True)

    def _page_params(self, params: list[tuple[str, str]], number: int) -> list[tuple[str, str]]:
        return [*params, ("page", str(number)), ("size", str(self.page_size))]

    # -- one request --------------------------------------------------------------------------

    def _get_json(self, path: str, params: list[tuple[str, str]]) -> tuple[Any, bytes, int, str]:
        """GET ``path`` with retries; return ``(decoded JSON, body, attempts, url)``.

        Retries 408, 429, 5xx, transport errors and :class:`DeadlineExceeded` up to
        ``max_attempts`` with full-jitter exponential backoff, or the server's ``Retry-After``
        when given (capped: above ``max_retry_after_s`` → :class:`RetryAfterTooLong`).
        """
        attempts = 0
        request = self._http.build_request("GET", path, params=params)
        url = str(request.url)

        def attempt() -> bytes:
            nonlocal attempts
            attempts += 1
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            return self._exchange(request)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        body = retrying(attempt)
        try:
            return orjson.loads(body), body, attempts, url
        except orjson.JSONDecodeError:
            raise ResponseFormatError(
                "response body is not JSON",
                status=200,
                method="GET",
                url=url,
                body=body[:1000].decode("utf-8", "replace"),
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.max_retry_after_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)  # jitter, not crypto

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "retrying after %s (attempt %d/%d, sleeping %.2f s): %s",
            type(exc).__name__,
            state.attempt_number,
            self.max_attempts,
            delay,
            exc,
        )

    def _exchange(self, request: httpx.Request) -> bytes:
        """Send one request and read its whole body within ``request_deadline_s``.

        Returns:
            The body bytes of a 2xx response.

        Raises:
            DeadlineExceeded, TransportError, AuthError, RateLimitedError, RetryAfterTooLong,
            ServerError, RequestTimeoutError, ClientError.
        """
        method, url = request.method, str(request.url)
        deadline = self.clock() + self.request_deadline_s
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:  # includes TimeoutException
            raise TransportError(f"{type(exc).__name__}: {exc}", method=method, url=url) from None
        try:
            chunks: list[bytes] = []
            if self.clock() > deadline:
                raise self._deadline_error(method, url, response.status_code, 0)
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if self.clock() > deadline:
                    raise self._deadline_error(method, url, response.status_code, size)
        except httpx.TransportError as exc:
            raise TransportError(
                f"{type(exc).__name__} while reading the body: {exc}",
                method=method,
                url=url,
                status=response.status_code,
            ) from None
        finally:
            response.close()
        body = b"".join(chunks)
        status = response.status_code
        if 200 <= status < 300:
            return body
        self._raise_for_status(response, body, method, url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _deadline_error(self, method: str, url: str, status: int, size: int) -> DeadlineExceeded:
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
        if status in (401, 403):
            expired = "expired" in response.headers.get("www-authenticate", "").lower()
            hint = " (token expired and the refresh did not help)" if expired else ""
            raise AuthError(f"the API rejected the credentials{hint}", **kw)
        if status == 429:
            if retry_after is not None and retry_after > self.max_retry_after_s:
                raise RetryAfterTooLong(
                    f"rate limited; Retry-After {retry_after:g} s exceeds the cap of "
                    f"{self.max_retry_after_s:g} s",
                    retry_after=retry_after,
                    **kw,
                )
            raise RateLimitedError("rate limited", retry_after=retry_after, **kw)
        if status == 408:
            raise RequestTimeoutError("request timeout", **kw)
        if status >= 500:
            if retry_after is not None and retry_after > self.max_retry_after_s:
                retry_after = None  # fall back to our own backoff rather than a huge sleep
            raise ServerError("server error", retry_after=retry_after, **kw)
        raise (ClientError if 400 <= status < 500 else SinchApiError)("request rejected", **kw)


def _envelope(payload: Any, data_key: str, url: str) -> tuple[list[Any], int | None, int | None]:
    """Read ``{data_key: [...], totalItems, pageNumber}``; a missing/null list is empty."""
    if not isinstance(payload, dict):
        raise ResponseFormatError(
            "response is not a JSON object", method="GET", url=url, body=dump_raw(payload)
        )
    items = payload.get(data_key)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ResponseFormatError(
            f"`{data_key}` is not a list", method="GET", url=url, body=dump_raw(payload)
        )
    try:
        total = parse_int(payload.get("totalItems"), "totalItems")
        reported = parse_int(payload.get("pageNumber"), "pageNumber")
    except ValueError as exc:
        raise ResponseFormatError(str(exc), method="GET", url=url) from None
    return items, total, reported


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
