"""Read one window of ``GET /v1/projects/{projectId}/calls/export`` (CSV), page by page.

The export carries what the call list does not (SIP response and Q.850 cause codes, MOS,
region, countries, call grouping: docs/api-reference.md §4). It takes the list's filters and
window (the same ``createTime>``/``createTime<`` bounds, one second early, cut client-side to
``start <= Timestamp < end``: :mod:`~pipeline.sinch.windows`) plus ``page`` (1-based) and
``size``. Every request goes through the calls client's
:class:`~pipeline.sinch.transport.Transport`: the same auth (OAuth2 or Basic), rate limit
(a shared Redis limit too), retries, deadline and body cap, with ``Accept: text/plain``.

Stop rules (:class:`ExportRun`): the CSV has no ``totalItems``, so paging ends at a page with
fewer records than ``size`` (an empty page included; an empty body after page 1 too). Guards:
a page whose records equal the previous page's (a server ignoring ``page``) and more than
``max_pages`` pages raise :class:`~pipeline.sinch.errors.PaginationError` instead of looping;
``max_pages`` follows the calls the window is known to hold (:func:`export_page_limit`).

403 or 404 from the export (not enabled for the key or the account): :func:`unavailable_reason`
names it, so the ingestion records the window as ``unavailable`` instead of failing the calls.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote, unquote

import orjson
import pyarrow as pa

from pipeline.sinch.client import CallsClient
from pipeline.sinch.csv_rows import ParsedExport, parse_export
from pipeline.sinch.errors import PaginationError, SinchApiError
from pipeline.sinch.models import RejectedRecord, Window
from pipeline.sinch.paging import page_params
from pipeline.sinch.windows import CallFilters, window_params

#: The export's path under the API root.
EXPORT_RESOURCE = "calls/export"
#: Statuses that mean "this project cannot use the export" rather than a failure.
UNAVAILABLE_STATUSES = frozenset({403, 404})
#: Most pages one window may take, whatever its calls (1000 records a page: 2 million an hour).
DEFAULT_MAX_PAGES = 2000
#: Export rows allowed per call the window is known to hold (:func:`export_page_limit`).
EXPORT_ROWS_PER_KNOWN_CALL = 4
#: Fewest pages a window with known calls may take (0 known calls included).
MIN_EXPORT_PAGES = 10

_FILENAME = re.compile(
    r"""filename\*\s*=\s*(?:[\w!#$%&+^`{}~-]+)?'[^']*'([^;\s]+)"""  # RFC 6266 filename*=
    r"""|filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))""",
    re.IGNORECASE,
)


def content_disposition_name(header: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` header, quoted or not, or None.

    ``attachment; filename="EST_call_records.csv"``, ``attachment; filename=a.csv`` and
    ``filename*=UTF-8''a%20b.csv`` all give the name; ``filename*`` wins over ``filename``.
    """
    if not header:
        return None
    extended = plain = None
    for match in _FILENAME.finditer(header):
        if match.group(1) is not None:
            extended = unquote(match.group(1))
        elif plain is None:
            quoted, bare = match.group(2), match.group(3)
            plain = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare.strip()
    return extended or plain or None


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the export is unavailable when ``exc`` is a 403/404 from it, else None.

    The reason names the status and what the (redacted) body says: a JSON error's
    ``message`` (and ``error`` code) when it has one, else the start of the body; never a
    header. E.g. ``the export answered HTTP 403: the call records export is not enabled for
    this key (FORBIDDEN)``.
    """
    if not isinstance(exc, SinchApiError) or exc.status not in UNAVAILABLE_STATUSES:
        return None
    said = _error_message(exc.body or "") or " ".join((exc.body or "").split())
    said = said[:160]
    return f"the export answered HTTP {exc.status}" + (f": {said}" if said else "")


def _error_message(body: str) -> str | None:
    """``message (error)`` of a JSON error body, or None when it has no string ``message``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return None
    message = " ".join(payload["message"].split())
    code = payload.get("error")
    return f"{message} ({code})" if isinstance(code, str) and code else message


def export_page_limit(known_calls: int | None, size: int, ceiling: int = DEFAULT_MAX_PAGES) -> int:
    """Most pages the export of a window may take, from the calls it is known to hold.

    The export has a row per call (api-reference §4), so a window whose ``/calls`` list
    counted ``known_calls`` (landed + rejected, or ``totalItems``: what ``raw.ingest_ledger``
    says) needs ``known_calls // size + 1`` pages. The limit allows
    :data:`EXPORT_ROWS_PER_KNOWN_CALL` (4) rows a call, plus a page: room for what the real
    export legitimately has beyond the list (call legs as rows of their own: ``Group Id``,
    ``Relationship Type``; calls the list has not shown yet; records the list rejected) while
    an export that never ends stops after a few times the window's pages, not 2,000. At least
    :data:`MIN_EXPORT_PAGES` (10; a window with 0 known calls too: the export may know calls
    the list does not), at most ``ceiling``.

    Args:
        known_calls: calls known in the window (>= 0), or None: unknown (never listed, or
            listed while the window was still open): ``ceiling``.
        size: records a page (the client's page size, >= 1).
        ceiling: the fixed maximum (:data:`DEFAULT_MAX_PAGES`).

    Returns:
        Pages (>= 1): ``min(ceiling, max(10, ceil(4 × known_calls / size) + 1))``.
    """
    if known_calls is None:
        return ceiling
    derived = -(-EXPORT_ROWS_PER_KNOWN_CALL * max(known_calls, 0) // size) + 1
    return max(1, min(ceiling, max(MIN_EXPORT_PAGES, derived)))


@dataclass(frozen=True, slots=True)
class ExportPage:
    """One parsed export page of a window.

    Attributes:
        number: the ``page`` asked (1-based).
        details: rows inside the window (:data:`~pipeline.sinch.csv_rows.DETAILS_ARROW_SCHEMA`).
        rejected: records that could not be read, with their reason.
        file_name: the ``Content-Disposition`` file name, or None.
    """

    number: int
    details: pa.Table
    rejected: list[RejectedRecord]
    file_name: str | None


@dataclass(slots=True)
class ExportStats:
    """What reading a window took (valid once iteration has finished).

    Attributes:
        pages / attempts: pages received and HTTP requests sent (retries included).
        rows: data records received; ``landed``: rows inside the window (duplicates across
            pages included); ``rejected``; ``outside_window``.
        seconds: wall time (s). file_name: of the last page. new_columns / missing_columns:
            header names unknown to the parser / known names the header lacked.
    """

    pages: int = 0
    attempts: int = 0
    rows: int = 0
    landed: int = 0
    rejected: int = 0
    outside_window: int = 0
    seconds: float = 0.0
    file_name: str | None = None
    new_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()


class ExportRun:
    """Iterable of :class:`ExportPage` for one window; :attr:`stats` fills as it goes.

    Args:
        client: the calls client whose transport (auth, limits, retries, guards) is used.
        window: the half-open UTC window.
        filters: the list filters (trunk, direction, ...); None: every call.
        max_pages: paging safety valve (:class:`PaginationError` beyond it); with
            ``known_calls``, the ceiling of :func:`export_page_limit`.
        known_calls: calls the window is known to hold (None: unknown, ``max_pages`` as is).
        clock: monotonic seconds.

    Raises (from iteration):
        SinchApiError: any subclass the transport raises (403/404: see
            :func:`unavailable_reason`); :class:`ResponseFormatError` for a body without a
            CSV header or a header without ``Timestamp``/``Call Id``; :class:`PaginationError`.
    """

    def __init__(
        self,
        client: CallsClient,
        window: Window,
        filters: CallFilters | None = None,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
        known_calls: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_pages < 1:
            msg = "max_pages must be positive"
            raise ValueError(msg)
        self._known = known_calls
        self._client = client
        self._window = window
        self._params = window_params(window, filters)
        self._path = f"/v1/projects/{quote(client.project_id, safe='')}/{EXPORT_RESOURCE}"
        self._size = client.page_size
        self._max_pages = export_page_limit(known_calls, self._size, max_pages)
        self._clock = clock
        self.stats = ExportStats()
        #: The last page yielded was short: iteration ends without another request.
        self.ended = False

    def __iter__(self) -> Iterator[ExportPage]:
        """Request pages 1..n until a short or empty page, yielding each parsed page."""
        started = self._clock()
        previous: list[str] | None = None
        number = 1
        try:
            while True:
                if number > self._max_pages:
                    raise self._too_many_pages()
                reply = self._client.transport.get(
                    self._path,
                    page_params(self._params, number, self._size),
                    headers={"Accept": "text/plain"},
                )
                self.stats.attempts += reply.attempts
                self.stats.pages += 1
                if number > 1 and not reply.body.strip():
                    return  # nothing after the last page: the end, as an empty page
                name = content_disposition_name(
                    reply.headers.get("content-disposition") if reply.headers else None
                )
                parsed = parse_export(reply.body, self._window.start, self._window.end, reply.url)
                if parsed.rows and parsed.keys == previous:
                    raise PaginationError(
                        f"export page {number} repeats page {number - 1} (the server may "
                        f"ignore `page`); stopping rather than looping ({self.stats.rows} "
                        "records received)",
                        method="GET", url=reply.url,
                    )  # fmt: skip
                self._count(parsed, name)
                self.ended = parsed.rows < self._size
                yield ExportPage(number, parsed.details, parsed.rejected, name)
                if self.ended:
                    return
                previous = parsed.keys
                number += 1
        finally:
            self.stats.seconds = self._clock() - started

    def _too_many_pages(self) -> PaginationError:
        known = "" if self._known is None else f", the limit for {self._known:,} known calls"
        return PaginationError(
            f"the export of {self._window.start.astimezone(UTC):%Y-%m-%dT%H:%MZ} sent more than "
            f"max_pages={self._max_pages} full pages ({self.stats.rows:,} records{known}); "
            "stopping rather than paging forever",
            method="GET", url=self._path,
        )  # fmt: skip

    def _count(self, parsed: ParsedExport, name: str | None) -> None:
        s = self.stats
        s.rows += parsed.rows
        s.landed += parsed.details.num_rows
        s.rejected += len(parsed.rejected)
        s.outside_window += parsed.outside_window
        s.file_name = name or s.file_name
        s.new_columns = tuple(dict.fromkeys((*s.new_columns, *parsed.new_columns)))
        s.missing_columns = tuple(dict.fromkeys((*s.missing_columns, *parsed.missing_columns)))


def export_window(
    client: CallsClient,
    window: Window,
    filters: CallFilters | None = None,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    known_calls: int | None = None,
) -> ExportRun:
    """A lazy :class:`ExportRun` over ``window`` (nothing is sent until iteration)."""
    return ExportRun(client, window, filters, max_pages=max_pages, known_calls=known_calls)
