"""Every setting of the sandbox in one dataclass, with defaults, sources and our choices.

Facts come from ``docs/api-reference.md`` (tags like [N-REQ] refer to its source list). Where
the reference says NOT FOUND, the value here is *our choice*; it is marked ``CHOICE`` and is a
setting so tests and users can flip it. Faults are all off by default.
See ``docs/sandbox.md`` for the same table in prose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

ResultWindowMode = Literal["empty", "error"]
PageSizeKey = Literal["size", "pageSize", "both"]
EnvelopeFault = Literal[None, "no-calls", "calls-null", "calls-not-list", "status-ok"]
ExportFault = Literal[
    None, "forbidden", "not-found", "endless", "ignores-page", "short-rows", "renamed-header"
]

DEFAULT_PROJECT_ID = "7d1e4c52-5a0f-4b8e-9a53-0c6f2b9e4a11"
DEFAULT_KEY_ID = "sandbox-key-id"
DEFAULT_KEY_SECRET = "sandbox-key-secret"


def utc_now() -> datetime:
    """The real clock (UTC, aware)."""
    return datetime.now(UTC)


_CHOICES: dict[str, tuple[object, ...]] = {
    "result_window_mode": ("empty", "error"),
    "page_size_key": ("size", "pageSize", "both"),
    "envelope_fault": (None, "no-calls", "calls-null", "calls-not-list", "status-ok"),
    "export_fault": get_args(ExportFault),
}


def _check_degraded_hour(hour: datetime | None) -> None:
    if hour is not None and (hour.tzinfo is None or hour.timestamp() % 3600):
        msg = "degraded_hour must be a timezone-aware whole hour"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """All sandbox settings.  Construct with keywords; ``with_(**changes)`` copies.

    Server and identity
        host: bind address; only ``127.0.0.1`` is accepted (loopback only).
        port: TCP port; 0 picks a free one.
        project_id: the single project the sandbox serves; None = ``DEFAULT_PROJECT_ID``
            (or, when replaying, the Project Id of the file's first record).
        key_id / key_secret: the credentials for Basic auth and ``POST /oauth2/token``.

    Auth
        token_lifetime_s: OAuth token lifetime; 3600 s per [DOCS-OAUTH] "useable for one hour".
        token_max_requests: fault "token expiry mid-run": a token expires after this many API
            requests (None = off).

    Clock
        now: injectable clock returning an aware UTC datetime (tests pass a fake clock).

    Query semantics
        default_window_s: window when no ``createTime`` key at all is sent.  CHOICE: 24 h, the OAS
            text ("Defaults to 24 hours") over the SDK doc's "prior week" [N-REQ] (pitfall 1).
        exact_instant_mode: ``createTime=<full instant with seconds>``: ``"after"`` (>= instant,
            the OAS example "2021-02-01T14:00:00Z will return all calls after 14:00") or
            ``"second"`` (that second only).  CHOICE: ``"after"``.  Partial values (YYYY ...
            YYYY-MM-DDTHH:MM) always expand to their period (the leaked internal note).
        default_page_size / max_page_size: 100 / 1000 [N-REQ].
        oversize_page: what a size above the maximum does.  CHOICE (NOT FOUND, pitfall 8):
            ``"reject"`` = 400 with an error body; ``"clamp"`` = serve max_page_size.
        page_size_semantics: response ``pageSize``: ``"limit"`` (the requested/default size, as
            the mocks suggest) or ``"count"`` (items returned, as the interface doc says).
            CHOICE: ``"limit"`` (pitfall 10).
        string_page_number: send ``pageNumber`` as a string ("1"), as the docs sample does.
            Default False (the Node SDK needs numbers).

    Traffic (generator)
        seed: master seed; every (hour, trunk) block is derived from it.
        history_start: no generated calls before this instant (CHOICE: 2026-01-01T00:00Z).
        calls_per_hour: None (default) = each trunk's volume is sized from its offered
            busy-hour erlangs (``traffic_model``); a number = the mean calls of a weekday
            10:00 hour of a trunk of weight 1 (Copenhagen), the others scaled by their load.
            Each trunk's channels follow its load (Erlang B, 1 %; ``capacity.py``).
        burst_probability: chance that a business-hour (hour, trunk) block contains a burst
            (a dialler campaign; the CPS limit refuses its excess with 603).
        odd_completed_rate: share of answered calls served like Sinch's own fixture:
            ``COMPLETED`` with SIP 404 and no answerTime (``traffic_model``).
        variant_rate: share of calls served with a real-API format variant (lower-case
            direction, ``+0000`` offsets, fraction digits, SIP URIs / user@host:port, amounts as
            strings, bare digits).  Values are the same; only the spelling differs.
        block_cache_size: LRU size in (hour, trunk) blocks; whole hours are cached, so
            ``block_cache_size / 5`` hours (≈ 1 KB per call).

    Live data
        list_in_progress: CHOICE (NOT FOUND): False = a call is listed only once it has
            ended; True = listed from its createTime, without ``endTime`` / durations / price
            until it ends, then in its final form.
        visibility_delay_s: delay before a call (or its final form) becomes visible.

    Replay
        replay_path: serve calls from this file instead of the generator: an export CSV
            (26 columns) or ``.jsonl`` of call objects.
        replay_respect_clock: apply the clock/visibility rules to replayed calls too (default
            False: the whole file is visible).

    Faults (all off by default; decisions are deterministic in ``fault_seed`` + request)
        rate_429, retry_after_s: share of API requests answered 429; ``Retry-After`` seconds
            (None = no header, as Sinch's token endpoint does).
        rate_5xx: share answered 500/502/503.
        token_rate_429: share of ``POST /oauth2/token`` answered 429 (no Retry-After, like
            Sinch's token bucket).
        fault_max_consecutive: at most this many faults in a row for the same URL, so a client
            that retries always gets through.
        latency_s: added latency per API request.
        drip_rate, drip_chunk_bytes, drip_delay_s: share of responses sent slowly in chunks.
        malformed_rate: share of calls served malformed (missing createTime, garbage
            timestamp, missing callResult); the callId stays so nothing is lost.
        duplicate_rate: share of pages (after the first) that also repeat the previous page's
            last record (same callId), so totalItems is unchanged and nothing is lost.

    Hostile / undocumented behaviours (all off by default; ``faults.py``; these *can* make a
    naive client lose or double calls, which is their point)
        max_result_window: like Elasticsearch's ``index.max_result_window``: ``/calls`` items
            at offsets >= N are never served.  None = off.
        result_window_mode: ``"empty"``: a page is cut at offset N (a page wholly beyond it has
            ``"calls": []``) while ``totalItems`` counts every match; ``"error"``: 400
            ("Result window is too large …") whenever ``(page-1)*size + size > N``.
        unstable_order: calls created in the same second come back in a different order on
            every ``/calls`` request (seeded by ``fault_seed`` and the request count); the set
            and totalItems stay the same, so paging repeats some records and skips others.
        strict_lower_bound: ``createTime>=X`` (key ``createTime>``) is applied as strict
            ``>``: the lower bound starts at the *end* of X's period (an instant with seconds:
            X + 1 s; with a fraction: X + 1 ms; a date: the next day), so calls in X's own
            second are dropped.
        page_size_key: which query key sets the page size: ``"size"``, ``"pageSize"`` or
            ``"both"`` (``size`` wins when both are sent).  A key not honoured is ignored.
        float_money: money amounts (``price.amount``, ``pricePerMinute.amount``) served as JSON
            numbers one float step toward 0 (``0.0123`` → ``0.012299999999999998``); rounding to
            6 decimals gives the exact amount back.  0 stays ``0.0``.
        busy_hour_calls: every UTC hour has exactly this many generated calls (split over the
            trunks by weight, no hour/weekday profile, no bursts).  None = the model.
        envelope_fault: a 200 ``/calls`` answer with a broken envelope: ``"no-calls"`` (no
            ``calls`` key), ``"calls-null"``, ``"calls-not-list"`` (``{}`` or the string
            ``"[]"``), ``"status-ok"`` (the body is ``{"status":"ok"}``).  None = off.
        envelope_fault_rate: share of ``/calls`` answers that get it (not streak-bounded).
        trunks_envelope_fault: ``GET /trunks`` answers 200 ``{}``.
        total_items_cap: ``totalItems`` reported as ``min(true total, N)``; pages stay full.
        echo_authorization: every non-2xx answer echoes the request's Authorization header in
            its JSON body (``"request": {"headers": {"Authorization": …}}``); the token
            endpoint's 4xx also echoes the form's ``client_id`` / ``client_secret``.
        gzip_bomb, gzip_bomb_rate: share of ``/calls`` answers that are a ~1 MB gzip body
            (``Content-Encoding: gzip``) inflating to exactly 1 GiB (``{"calls":[`` + spaces).
        extreme_times: in every hour, the first call (by createTime, callId) is served with
            ``createTime`` ``9999-12-31T23:30:00-01:00`` and the second with ``endTime``
            ``9999-12-31T23:59:59Z``; both stay listed in their real hour.
        duplicate_across_windows_rate: share of calls (per callId) also listed in the next hour
            with every time + 1 h (same callId; the later one is the corrected version, and the
            one the ground-truth helpers return).
        export_fault: ``GET /calls/export`` misbehaves (``export_faults.py``): ``"forbidden"`` /
            ``"not-found"`` (403 / 404 in the error shape: the project or key cannot use the
            export), ``"endless"`` (a paged request always gets a full page: past the last
            row the calls start over with Call Ids suffixed ``-lap<n>``, so paging never
            ends), ``"ignores-page"`` (every page is page 1), ``"short-rows"`` (rows lose
            their last 1-24 fields: a wrong field count), ``"renamed-header"`` (the header
            says ``Timestamp (UTC)`` / ``Call ID``).  None = off.
        export_fault_rate: share of export requests refused (``"forbidden"``, ``"not-found"``;
            not streak-bounded) or of rows cut (``"short-rows"``, per callId); unused by the
            other kinds.
        header_drip_s: > 0 puts a raw-socket front (``slow_headers.py``) before the server that
            sends the status line and headers of ``/calls`` and ``/oauth2/token`` answers one
            byte every ``header_drip_s`` seconds; the handle's URLs point at the front.

    Degraded hour (a trunk that goes bad, for the alert rules; ``faults.degrade``)
        degraded_hour: a UTC hour (aware datetime, whole hour) whose generated calls degrade;
            None = off.
        degraded_trunk_id: the trunk that degrades in that hour; None = every trunk.
        degraded_failed_share: share of that hour's calls (chosen per callId) turned into
            ``FAILED`` (unanswered, 0-3 s, billed 0, price 0); the other calls are unchanged.
    """

    host: str = "127.0.0.1"
    port: int = 0
    project_id: str | None = None
    key_id: str = DEFAULT_KEY_ID
    key_secret: str = DEFAULT_KEY_SECRET

    token_lifetime_s: float = 3600.0
    token_max_requests: int | None = None

    now: Callable[[], datetime] = utc_now

    default_window_s: float = 24 * 3600.0
    exact_instant_mode: Literal["after", "second"] = "after"
    default_page_size: int = 100
    max_page_size: int = 1000
    oversize_page: Literal["reject", "clamp"] = "reject"
    page_size_semantics: Literal["limit", "count"] = "limit"
    string_page_number: bool = False

    seed: int = 20260101
    history_start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    calls_per_hour: float | None = None
    burst_probability: float = 0.01
    odd_completed_rate: float = 0.002
    variant_rate: float = 0.05
    block_cache_size: int = 20_000

    list_in_progress: bool = False
    visibility_delay_s: float = 0.0

    replay_path: Path | str | None = None
    replay_respect_clock: bool = False

    fault_seed: int = 7
    rate_429: float = 0.0
    retry_after_s: float | None = 1.0
    rate_5xx: float = 0.0
    token_rate_429: float = 0.0
    fault_max_consecutive: int = 3
    latency_s: float = 0.0
    drip_rate: float = 0.0
    drip_chunk_bytes: int = 4096
    drip_delay_s: float = 0.01
    malformed_rate: float = 0.0
    duplicate_rate: float = 0.0

    max_result_window: int | None = None
    result_window_mode: ResultWindowMode = "empty"
    unstable_order: bool = False
    strict_lower_bound: bool = False
    page_size_key: PageSizeKey = "both"
    float_money: bool = False
    busy_hour_calls: int | None = None
    envelope_fault: EnvelopeFault = None
    envelope_fault_rate: float = 1.0
    trunks_envelope_fault: bool = False
    total_items_cap: int | None = None
    echo_authorization: bool = False
    gzip_bomb: bool = False
    gzip_bomb_rate: float = 1.0
    extreme_times: bool = False
    duplicate_across_windows_rate: float = 0.0
    export_fault: ExportFault = None
    export_fault_rate: float = 1.0
    header_drip_s: float = 0.0

    degraded_hour: datetime | None = None
    degraded_trunk_id: str | None = None
    degraded_failed_share: float = 0.9

    def __post_init__(self) -> None:
        if self.host != "127.0.0.1":
            msg = "the sandbox binds to 127.0.0.1 only"
            raise ValueError(msg)
        if not 1 <= self.default_page_size <= self.max_page_size:
            msg = "need 1 <= default_page_size <= max_page_size"
            raise ValueError(msg)
        for name in (
            "rate_429",
            "rate_5xx",
            "token_rate_429",
            "drip_rate",
            "malformed_rate",
            "duplicate_rate",
            "envelope_fault_rate",
            "export_fault_rate",
            "gzip_bomb_rate",
            "duplicate_across_windows_rate",
            "degraded_failed_share",
            "odd_completed_rate",
            "burst_probability",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                msg = f"{name} must be in [0, 1]"
                raise ValueError(msg)
        if self.history_start.tzinfo is None:
            msg = "history_start must be timezone-aware"
            raise ValueError(msg)
        if self.token_lifetime_s <= 0:
            msg = "token_lifetime_s must be > 0"
            raise ValueError(msg)
        for name, low in (("max_result_window", 1), ("total_items_cap", 0),
                          ("busy_hour_calls", 0)):  # fmt: skip
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < low):
                msg = f"{name} must be None or an integer >= {low}"
                raise ValueError(msg)
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                msg = f"{name} must be one of {', '.join(map(repr, allowed))}"
                raise ValueError(msg)
        _check_degraded_hour(self.degraded_hour)
        if not 0.0 <= self.header_drip_s <= 10.0:
            msg = "header_drip_s must be in [0, 10] seconds"
            raise ValueError(msg)

    def with_(self, **changes: object) -> SandboxSettings:
        """Return a copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
