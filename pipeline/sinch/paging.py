"""Paging through one list query of the EST API: the envelope and the stop rules.

Envelope (``GET /calls`` and ``/trunks``): ``{<data_key>: [...], totalItems, pageNumber,
pageSize}``; pages are 1-based (``page``); the page size key is ``size`` in today's API and
was ``pageSize`` before SDK 1.5, so both are sent; at most 1000 a page.

Stop rules (:class:`PageRun`), chosen so that no single lying field can end a sweep early:

* an **empty page** ends the run;
* a **full page** (as many items as asked) never ends it, whatever ``totalItems`` says (an
  under-reported count must not cut the tail);
* a **short page** ends it once ``totalItems`` distinct items were seen (or no count was sent);
  otherwise the next page is asked for (a server may serve fewer than asked per page);
* **depth**: the run never asks for items beyond ``max_depth`` (the API's result window): it
  ends as ``truncated`` instead, and so does a 400/416/422 on a page after the first (a
  server that refuses deep pages). The sweep then splits the window (:mod:`~pipeline.sinch.sweep`).
* guards: a page repeating the previous one (a server ignoring ``page``) and more than
  ``max_pages`` pages raise :class:`PaginationError`. A page repeats the previous one when it
  lists the same keys (call ids) in the same order, even if a record changed in between (a
  server ignoring ``page`` while calls are in progress); items without a key are compared
  whole.

A page is decoded by a :data:`PageDecoder`: :func:`decode_list` in the fetching thread by
default; the calls' sweep may decode (and parse) pages in a worker process instead, which sends
back only what these rules need (:class:`DecodedPage`: the count, the keys, the envelope).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import orjson

from pipeline.sinch.errors import ClientError, PaginationError, ResponseFormatError
from pipeline.sinch.parsing import dump_raw, parse_int
from pipeline.sinch.transport import Reply, Transport

logger = logging.getLogger("pipeline.sinch")

#: Statuses with which a server refuses a page that lies too deep (Elasticsearch answers 400
#: "Result window is too large"); on a page after the first they end the run as truncated.
#: Any other 4xx (404, 403...) is an error of its own and propagates.
DEEP_PAGE_REFUSALS = frozenset({400, 416, 422})

#: An item's identity for the distinct count (None when it has none).
ItemKey = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class DecodedPage:
    """What the stop rules need of one list answer, and what its decoder made of it.

    Attributes:
        items: the list under the data key as decoded JSON, or None when it was decoded in
            another process (which sent back the rest).
        keys: each item's key (:data:`ItemKey`; None for an item without one), in page order.
        total_items / reported_page_number: ``totalItems`` / ``pageNumber`` as ints, or None.
        sameness: equal for two pages exactly when the second repeats the first (the keys
            when every item has one, else the items, or their JSON with sorted keys): the
            repeated-page guard.
        parsed: what the decoder made of the items besides (a worker's parsed calls), or None.
    """

    items: list[Any] | None
    keys: list[str | None]
    total_items: int | None
    reported_page_number: int | None
    sameness: object
    parsed: Any = None


#: ``(body, url, unused_above) -> DecodedPage``, raising ResponseFormatError for a body that is
#: not a list answer. ``unused_above``: when not None, a page whose ``totalItems`` is above it
#: will not be used (page 1 of a slice too deep to page), so it need not be parsed.
PageDecoder = Callable[[bytes, str, int | None], DecodedPage]


def decode_list(body: bytes, url: str, data_key: str, key: ItemKey | None) -> DecodedPage:
    """:func:`read_envelope`, with each item's ``key`` (all None without ``key``).

    Raises:
        ResponseFormatError: as :func:`read_envelope`.
    """
    items, total, reported = read_envelope(body, data_key, url)
    keys: list[str | None] = [key(i) for i in items] if key is not None else [None] * len(items)
    sameness = keys if key is not None and None not in keys else items
    return DecodedPage(items, keys, total, reported, sameness)


@dataclass(frozen=True, slots=True)
class RawPage:
    """One decoded page of any EST list endpoint.

    Attributes:
        number: the ``page`` requested (1-based).
        items: the list under the data key (``calls``/``trunks``), as decoded JSON; empty
            when the page was decoded in another process (``parsed`` holds what it made).
        total_items: ``totalItems`` coerced to int, or None when absent.
        reported_page_number: ``pageNumber`` coerced to int, or None.
        attempts: HTTP requests it took (1 + retries).
        body: the response body as received.
        keys: each item's key (see :class:`DecodedPage`); ``len(keys)`` items were received.
        parsed: what the run's decoder made of the items besides, or None.
    """

    number: int
    items: list[Any]
    total_items: int | None
    reported_page_number: int | None
    attempts: int
    body: bytes = b""
    keys: list[str | None] | None = None
    parsed: Any = None

    @property
    def received(self) -> int:
        """Items on the page."""
        return len(self.keys) if self.keys is not None else len(self.items)


def read_envelope(body: bytes, data_key: str, url: str) -> tuple[list[Any], int | None, int | None]:
    """Decode a list answer into ``(items, totalItems, pageNumber)``.

    Raises:
        ResponseFormatError: the body is not JSON, not an object, has no ``data_key`` list (a
            missing key, ``null`` or any non-list is an error, never an empty page: an empty
            page would end the sweep and replace a window with nothing), or carries a
            ``totalItems``/``pageNumber`` that is not an integer. The decoder's reason and the
            start of the body are kept in the error.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"response body is not JSON ({exc})", status=200, method="GET", url=url,
            body=body[:1000].decode("utf-8", "replace"),
        ) from None  # fmt: skip
    if not isinstance(payload, dict):
        raise ResponseFormatError(
            "response is not a JSON object", status=200, method="GET", url=url,
            body=dump_raw(payload),
        )  # fmt: skip
    items = payload.get(data_key)
    if not isinstance(items, list):
        what = "missing" if data_key not in payload else f"{type(items).__name__}, not a list"
        raise ResponseFormatError(
            f"`{data_key}` is {what}; refusing to read it as an empty page",
            status=200, method="GET", url=url, body=dump_raw(payload),
        )  # fmt: skip
    try:
        total = parse_int(payload.get("totalItems"), "totalItems")
        reported = parse_int(payload.get("pageNumber"), "pageNumber")
    except ValueError as exc:
        raise ResponseFormatError(str(exc), status=200, method="GET", url=url) from None
    if total is not None and total < 0:
        raise ResponseFormatError(f"totalItems is negative: {total}", status=200, url=url)
    return items, total, reported


def add_keys(keys: list[str | None], seen: set[str]) -> tuple[int, int]:
    """Add a page's keys to ``seen`` (the set grows in C, not in a Python loop per key).

    Returns:
        The items without a key (None), and the keys ``seen`` did not hold before.
    """
    nameless = keys.count(None)
    before = len(seen)
    seen.update(cast("list[str]", keys) if not nameless else [k for k in keys if k is not None])
    return nameless, len(seen) - before


def page_params(params: list[tuple[str, str]], number: int, size: int) -> list[tuple[str, str]]:
    """``params`` plus ``page`` and the page size under both keys (``size`` and ``pageSize``)."""
    return [*params, ("page", str(number)), ("size", str(size)), ("pageSize", str(size))]


class PageRun:
    """Iterable of :class:`RawPage` for one query, pages 1..n; how it ended is set afterwards.

    Attributes (valid once iteration has finished):
        end: ``"empty"`` (an empty page), ``"complete"`` (a short page after ``totalItems``
            distinct items), ``"truncated"`` (the next page would lie beyond ``max_depth``, or a
            deep page was refused with a 4xx), ``"too_deep"`` (page 1 already counted more than
            ``max_depth`` items and ``stop_if_too_deep`` was set; page 1 is not yielded).
        total: the last ``totalItems`` seen (None if never sent).
        received: items received; ``distinct``: distinct keys among them (items without a key
            count one each).
        refusal: the 4xx error that ended a ``truncated`` run, or None.
        pages / attempts: pages received (a page 1 not yielded included) and HTTP requests
            sent for them (retries and a refused deep page included).
        ran_dry: the run ended on an empty page after only full pages (with the count not
            reached, the sign of a result window the server cuts short).
    """

    def __init__(
        self,
        transport: Transport,
        path: str,
        data_key: str,
        params: list[tuple[str, str]],
        *,
        page_size: int,
        max_pages: int,
        max_depth: int | None = None,
        stop_if_too_deep: bool = False,
        key: ItemKey | None = None,
        prefetch: bool = True,
        decode: PageDecoder | None = None,
    ) -> None:
        self._transport = transport
        self._path = path
        self._data_key = data_key
        self._params = params
        self._size = page_size
        self._max_pages = max_pages
        self._max_depth = max_depth
        self._stop_if_too_deep = stop_if_too_deep
        self._key = key
        self._prefetch = prefetch
        self._decode = decode
        self.end = ""
        self.total: int | None = None
        self.received = 0
        self.distinct = 0
        self.refusal: ClientError | None = None
        self.ran_dry = False
        self.pages = 0
        self.attempts = 0
        self._warned = False

    def _fetch(self, number: int) -> Reply:
        return self._transport.get(self._path, page_params(self._params, number, self._size))

    def _decode_page(self, reply: Reply, number: int) -> DecodedPage:
        if self._decode is None:
            return decode_list(reply.body, reply.url, self._data_key, self._key)
        return self._decode(reply.body, reply.url, self._unused_above(number))

    def _unused_above(self, number: int) -> int | None:
        """The count above which page ``number`` ends the run as ``too_deep`` (or None)."""
        if number != 1 or not self._stop_if_too_deep or self._max_depth is None:
            return None
        return max(self._max_depth, self._size)  # one page gets all, else

    def _beyond_depth(self, number: int) -> bool:
        return self._max_depth is not None and number * self._size > self._max_depth

    def __iter__(self) -> Iterator[RawPage]:
        """Request pages 1..n, yielding each; set ``end`` and the counts as it goes."""
        seen: set[str] = set()
        previous: object = None
        number = 1
        executor = ThreadPoolExecutor(max_workers=1) if self._prefetch else None
        pending: Future[Reply] | None = None
        try:
            while True:
                reply = self._receive(number, pending)
                pending = None
                if reply is None:
                    return  # a deep page refused: truncated
                page = self._decode_page(reply, number)
                total, count = page.total_items, len(page.keys)
                if self._first_page_too_deep(number, total):
                    return
                self._check_page(number, page, previous, reply.url)
                self._count(page.keys, seen)
                more = self._next_page_wanted(number, count, total, reply.url)
                if more and executor is not None:
                    # Download page n+1 while the caller works on page n (at most one in
                    # flight). A decoder that also parses (a worker process) has parsed page n
                    # already: the download then overlaps only the caller's own work.
                    pending = executor.submit(self._fetch, number + 1)
                items = page.items if page.items is not None else []
                yield RawPage(
                    number, items, total, page.reported_page_number, reply.attempts,
                    reply.body, page.keys, page.parsed,
                )  # fmt: skip
                if not more:
                    self._finish(number, count)
                    return
                previous = page.sameness
                number += 1
        finally:
            if executor is not None:
                if pending is not None:
                    pending.cancel()
                executor.shutdown(wait=True, cancel_futures=True)

    def _receive(self, number: int, pending: Future[Reply] | None) -> Reply | None:
        """Page ``number``'s reply (prefetched or not); None when a deep page is refused."""
        try:
            reply = pending.result() if pending is not None else self._fetch(number)
        except ClientError as exc:
            if number == 1 or exc.status not in DEEP_PAGE_REFUSALS:
                raise
            self.attempts += 1
            self.end, self.refusal = "truncated", exc  # a server refusing deep pages
            return None
        self.pages += 1
        self.attempts += reply.attempts
        return reply

    def _first_page_too_deep(self, number: int, total: int | None) -> bool:
        """Record ``total``; True (end ``too_deep``) when page 1 counts more than can be paged."""
        if total is not None:
            self.total = total
        limit = self._unused_above(number)
        too_deep = limit is not None and total is not None and total > limit
        if too_deep:
            self.end = "too_deep"
        return too_deep

    def _check_page(self, number: int, page: DecodedPage, previous: object, url: str) -> None:
        """Warn once about a ``pageNumber`` that is not ours; refuse a repeated page.

        Raises:
            PaginationError: the page equals the previous one (the server ignores ``page``).
        """
        reported = page.reported_page_number
        if reported is not None and reported != number and not self._warned:
            self._warned = True  # a 0-based or stuck pageNumber: we page by our own counter
            logger.warning(
                "requested page %d but the API reported pageNumber %d (%s)", number, reported, url
            )
        if page.keys and page.sameness == previous:
            raise PaginationError(
                f"page {number} repeats page {number - 1} (the server may ignore `page`); "
                f"stopping rather than looping ({self.received} records received)",
                method="GET",
                url=url,
            )

    def _next_page_wanted(self, number: int, count: int, total: int | None, url: str) -> bool:
        """Whether to ask for page ``number + 1`` (ends ``truncated`` at the depth).

        Raises:
            PaginationError: beyond ``max_pages``.
        """
        more = self._wants_more(count, total)
        if more and self._beyond_depth(number + 1):
            self.end = "truncated"
            return False
        if more and number + 1 > self._max_pages:
            raise PaginationError(
                f"more than max_pages={self._max_pages} pages; raise max_pages or use a "
                f"smaller window ({self.received} records received)",
                method="GET",
                url=url,
            )
        return more

    def _finish(self, number: int, count: int) -> None:
        """Set ``end`` (unless truncated) and ``ran_dry`` after the last page."""
        if self.end:
            return
        self.end = "empty" if not count else "complete"
        full_before = self.received == (number - 1) * self._size
        self.ran_dry = not count and number > 1 and full_before

    def _count(self, keys: list[str | None], seen: set[str]) -> None:
        """Add a page's keys: each new key, and each item without one, is one more distinct."""
        self.received += len(keys)
        nameless, new = add_keys(keys, seen)
        self.distinct += nameless + new

    def _wants_more(self, count: int, total: int | None) -> bool:
        if not count:
            return False
        if count >= self._size:
            return True  # a full page: there may be more, whatever totalItems says
        return total is not None and self.distinct < total
