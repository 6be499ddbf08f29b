"""Every setting the product reads from the environment, in one place.

Secrets (``SINCH_KEY_SECRET``) are never read here at import time: the Dagster resources bind
them with ``dg.EnvVar`` and the CLI reads them only when it builds a client. This module only
answers *which* API to talk to and where files go; ``README.md`` has the same table.

| variable | default | meaning |
|---|---|---|
| ``SINCH_PROJECT_ID`` | (unset → sandbox) | Sinch project id |
| ``SINCH_KEY_ID`` | (unset → sandbox) | access key id |
| ``SINCH_KEY_SECRET`` | (unset → sandbox) | access key secret |
| ``SINCH_AUTH`` | ``oauth`` | ``oauth`` (client credentials) or ``basic`` |
| ``SINCH_API_URL`` | ``https://elastic-trunking.api.sinch.com`` | API base URL |
| ``SINCH_AUTH_URL`` | ``https://auth.sinch.com`` | OAuth2 token server |
| ``SINCH_RATE_LIMIT`` | ``20`` (oauth) / ``2`` (basic) | requests per second, client side |
| ``SINCH_RATE_LIMIT_STORE`` | (unset → per process) | ``redis://…``: rate limit shared by workers |
| ``SINCH_PAGE_SIZE`` | ``1000`` | calls per page (1-1000) |
| ``SINCH_MAX_RESULT_WINDOW`` | ``10000`` | deepest offset (page × size) the API serves |
| ``CALLS_DB_PATH`` | ``data/calls.duckdb`` | the DuckDB warehouse file |
| ``CALLS_PROJECTS_FILE`` | (unset → one project) | projects file (:mod:`pipeline.projects`) |
| ``CALLS_PARTITIONS_START`` | ``2026-01-01-00:00`` | first hourly partition (UTC) |
| ``CALLS_FETCH_CONCURRENCY`` | ``4`` | windows fetched at once |
| ``CALLS_LOOKBACK_HOURS`` | ``3`` | closed hours re-ingested by the hourly schedule |
| ``CALLS_EXPORT`` | ``on`` | ``off``: ``raw/call_details`` records ``unavailable``, no export |
| ``CALLS_DB_MEMORY_LIMIT`` | ``512MB`` | writer's DuckDB memory limit, >= 128MB or none |
| ``REPORT_TZ`` | ``UTC`` | time zone of daily tables and the busy hour |
| ``SANDBOX_SEED`` | ``7`` | seed of the embedded sandbox's traffic |
| ``PIPELINE_LOG_LEVEL`` | ``WARNING`` | the commands' ``pipeline.*`` log level (``DEBUG``: more) |
| ``CALLS_ALERTS_FILE`` | (unset → defaults) | alert thresholds (:mod:`pipeline.alerts.config`) |
| ``ALERT_*`` | (unset → no delivery) | alert channels (:mod:`pipeline.alerts.delivery`) |
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

DEFAULT_API_URL = "https://elastic-trunking.api.sinch.com"
DEFAULT_AUTH_URL = "https://auth.sinch.com"
DEFAULT_DB_PATH = "data/calls.duckdb"
DEFAULT_PARTITIONS_START = "2026-01-01-00:00"
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_RESULT_WINDOW = 10_000
DEFAULT_LOOKBACK_HOURS = 3
DEFAULT_REPORT_TZ = "UTC"
DEFAULT_SANDBOX_SEED = 7
#: DuckDB keeps written blocks cached up to its memory limit (80 % of RAM by default), so an
#: ingestion's RSS grew with the data; 512 MB keeps it under 1 GB for a few per cent of speed
#: (bench/README.md, "Changes made in the second session").
DEFAULT_DB_MEMORY_LIMIT = "512MB"
_MEMORY_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT](?:iB|B)?)", re.IGNORECASE)
#: Below this the writer ran out of memory on busy hours (32 MB failed on 13,000-call windows;
#: 64 MB passed), so smaller values are refused before anything is fetched.
MIN_DB_MEMORY_LIMIT_BYTES = 128 * 10**6
MAX_DB_MEMORY_LIMIT_BYTES = 2**50  # 1 PiB: DuckDB refuses sizes beyond its range
#: Requests per second when the user sets none. Basic auth is "heavily rate limited" (Sinch
#: docs); the OAuth limit is not published, so this stays conservative.
DEFAULT_RATE_LIMIT = {"oauth": 20.0, "basic": 2.0}

CREDENTIAL_VARS = ("SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET")
#: A store every worker reaches (``redis://…``), where each project's rate limit is shared.
RATE_LIMIT_STORE_VAR = "SINCH_RATE_LIMIT_STORE"


class SettingsError(ValueError):
    """A setting has a value the product cannot use; the message says which and why."""


def env(name: str, default: str) -> str:
    """The environment variable ``name``, or ``default`` when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or default


def uses_real_api() -> bool:
    """True when credentials are set: talk to Sinch. False: use the embedded sandbox.

    Raises:
        SettingsError: only some of the three credential variables are set.
    """
    present = [name for name in CREDENTIAL_VARS if os.environ.get(name, "").strip()]
    if present and len(present) != len(CREDENTIAL_VARS):
        missing = sorted(set(CREDENTIAL_VARS) - set(present))
        msg = f"incomplete Sinch credentials: set {', '.join(missing)} too (or unset all three)"
        raise SettingsError(msg)
    return bool(present)


def auth_mode() -> str:
    """``oauth`` or ``basic`` from ``SINCH_AUTH``.

    Raises:
        SettingsError: any other value.
    """
    mode = env("SINCH_AUTH", "oauth").lower()
    if mode not in DEFAULT_RATE_LIMIT:
        msg = f"SINCH_AUTH must be 'oauth' or 'basic', not {mode!r}"
        raise SettingsError(msg)
    return mode


def positive_number(
    name: str, default: float, *, low: float = 0.0, high: float = float("inf")
) -> float:
    """A finite number from the environment, above ``low`` and at most ``high``.

    Raises:
        SettingsError: not a number, NaN or infinite, or out of range.
    """
    raw = env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        msg = f"{name} must be a number, not {raw!r}"
        raise SettingsError(msg) from None
    if not math.isfinite(value) or not low < value <= high:
        upper = "" if math.isinf(high) else f" and at most {high:g}"
        msg = f"{name} must be a finite number above {low:g}{upper}, not {raw!r}"
        raise SettingsError(msg)
    return value


#: Below this a run would sit silently for minutes per request.
MIN_RATE_LIMIT = 0.01


def rate_limit(mode: str) -> float:
    """Client-side requests per second (``SINCH_RATE_LIMIT``), at least 0.01."""
    value = positive_number("SINCH_RATE_LIMIT", DEFAULT_RATE_LIMIT[mode], low=0.0)
    if value < MIN_RATE_LIMIT:
        msg = f"SINCH_RATE_LIMIT must be at least {MIN_RATE_LIMIT} requests/s, not {value:g}"
        raise SettingsError(msg)
    return value


def rate_limit_store() -> str | None:
    """``SINCH_RATE_LIMIT_STORE``, or None when unset; checked without contacting the store.

    The URI is parsed as the job will parse it (``limits``), so an unknown scheme or a store
    whose driver is not installed stops here; a store that does not answer fails the run.

    Raises:
        SettingsError: the store cannot be used; the message names its scheme only (the URI
            may hold a password).
    """
    uri = env(RATE_LIMIT_STORE_VAR, "")
    if not uri:
        return None
    from pipeline.sinch.shared_limit import SharedRateLimiter

    try:
        SharedRateLimiter(uri, "settings-check", 1.0)
    except ValueError as exc:
        raise SettingsError(f"{RATE_LIMIT_STORE_VAR}: {exc}") from None
    return uri


def whole_number(name: str, default: int, *, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` from the environment.

    Raises:
        SettingsError: not a whole number, or out of range.
    """
    raw = env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name} must be a whole number, not {raw!r}"
        raise SettingsError(msg) from None
    if not low <= value <= high:
        msg = f"{name} must be between {low} and {high}, not {value}"
        raise SettingsError(msg)
    return value


def max_result_window() -> int:
    """Deepest offset the calls list serves (``SINCH_MAX_RESULT_WINDOW``, default 10,000).

    A window counting more calls is read as smaller slices (docs/client.md).
    """
    return whole_number("SINCH_MAX_RESULT_WINDOW", DEFAULT_MAX_RESULT_WINDOW, low=1, high=10**9)


def page_size() -> int:
    """Calls asked per page (``SINCH_PAGE_SIZE``, 1 to 1000, default 1000).

    Lower it only for a server that refuses pages of 1000 (the documented maximum).
    """
    return whole_number("SINCH_PAGE_SIZE", 1000, low=1, high=1000)


def db_path(value: str | None = None) -> str:
    """The DuckDB file: ``value`` or ``CALLS_DB_PATH`` (default ``data/calls.duckdb``).

    Raises:
        SettingsError: the path is an existing directory.
    """
    path = value or env("CALLS_DB_PATH", DEFAULT_DB_PATH)
    if Path(path).is_dir():
        msg = f"CALLS_DB_PATH / --db must name a file, and {path} is a directory"
        raise SettingsError(msg)
    return path


#: Bytes 8–12 of every DuckDB database file.
DUCKDB_MAGIC = b"DUCK"


def check_writable_db(path: str) -> str:
    """Return ``path`` if the ingestion can write a DuckDB warehouse there.

    Its folder must exist or be creatable and be writable, and an existing file must be
    writable and a DuckDB database (checked by its header, without opening it: a writer may
    hold it). An empty file is refused too: DuckDB will not open one ("not a valid DuckDB
    database file").

    Raises:
        SettingsError: the folder cannot be created or written, or the file is something else.
    """
    file = Path(path)
    where = "CALLS_DB_PATH / --db"
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{where}: cannot create the folder of {path} ({exc.strerror})"
        raise SettingsError(msg) from None
    if file.is_file():
        try:
            with file.open("rb") as handle:
                header = handle.read(12)
        except OSError as exc:
            raise SettingsError(f"{where}: cannot read {path} ({exc.strerror})") from None
        if not header:
            msg = f"{where}: {path} is an empty file, not a DuckDB warehouse: delete it"
            raise SettingsError(msg)
        if header[8:12] != DUCKDB_MAGIC:
            msg = f"{where}: {path} exists and is not a DuckDB warehouse"
            raise SettingsError(msg)
    check_writable(file.parent, where)  # DuckDB writes its .wal file next to the database
    check_writable(file, where)
    return path


def check_writable(path: Path, what: str) -> None:
    """Refuse a file or folder this process could not write, or create, naming ``what``.

    An existing ``path`` must be writable; a missing one creatable: the nearest folder above
    it that exists must be writable. ``os.access`` also answers for a read-only mount, even to
    root.

    Raises:
        SettingsError: the path (or the folder it would be created in) is not writable.
    """
    target = path.absolute()
    while not os.path.lexists(target) and target != target.parent:
        target = target.parent  # the nearest that exists: where the file or mkdir would go
    folder = target.is_dir()
    if target != path.absolute() and not folder:
        raise SettingsError(f"{what}: cannot create {path}: {target} is not a folder")
    if not os.access(target, os.W_OK | os.X_OK if folder else os.W_OK):
        where = f"in the folder {target}" if folder else str(target)
        raise SettingsError(f"{what}: cannot write {where} (no permission, or read-only)")


def fetch_concurrency() -> int:
    """Windows fetched at once (``CALLS_FETCH_CONCURRENCY``, 1 to 32)."""
    return whole_number("CALLS_FETCH_CONCURRENCY", DEFAULT_CONCURRENCY, low=1, high=32)


#: ``PIPELINE_LOG_LEVEL`` values.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level() -> int:
    """The level of the ``pipeline`` loggers in the commands (``PIPELINE_LOG_LEVEL``).

    ``WARNING`` by default (one short line per retried request); ``DEBUG`` adds what the client
    logs only there, such as the body of each answer it retries (credentials masked). Other
    libraries' loggers stay at ``WARNING``.

    Raises:
        SettingsError: not one of :data:`LOG_LEVELS` (any case).
    """
    raw = env("PIPELINE_LOG_LEVEL", "WARNING").upper()
    if raw not in LOG_LEVELS:
        msg = f"PIPELINE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {raw!r}"
        raise SettingsError(msg)
    return int(logging.getLevelName(raw))


#: ``CALLS_EXPORT`` values, and whether each fetches the export.
EXPORT_SWITCH = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}


def calls_export() -> bool:
    """Whether ``raw/call_details`` fetches ``/calls/export`` (``CALLS_EXPORT``, default on).

    ``off`` records its windows ``unavailable`` in ``raw.details_ledger`` without a request
    (an account without the export); ``raw/calls`` and the analytics are the same either way.

    Raises:
        SettingsError: a value other than on/off (true/false, 1/0).
    """
    raw = env("CALLS_EXPORT", "on").lower()
    if raw not in EXPORT_SWITCH:
        msg = f"CALLS_EXPORT must be 'on' or 'off', not {raw!r}"
        raise SettingsError(msg)
    return EXPORT_SWITCH[raw]


def lake_uri() -> str | None:
    """The Delta Lake root (``CALLS_LAKE_URI``): a directory or ``s3://bucket/prefix``.

    Returns:
        The URI, or None when unset or blank (the warehouse is the DuckDB file).

    Raises:
        SettingsError: a URI scheme other than ``s3://`` or ``file://``.
    """
    raw = env("CALLS_LAKE_URI", "")
    if not raw:
        return None
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in ("", "s3", "file"):
        msg = f"CALLS_LAKE_URI must be a directory or s3://bucket/prefix, not {raw!r}"
        raise SettingsError(msg)
    return raw.removeprefix("file://")


def db_memory_limit() -> str | None:
    """DuckDB ``memory_limit`` of the ingestion's writer (``CALLS_DB_MEMORY_LIMIT``).

    Returns:
        A size DuckDB accepts, such as ``512MB``, ``2GiB`` or ``4G``; None for ``none``
        (DuckDB's own default, 80 % of RAM).

    Raises:
        SettingsError: not a number followed by K/M/G/T (KB, MiB, ...), or under 128 MB.
    """
    value = env("CALLS_DB_MEMORY_LIMIT", DEFAULT_DB_MEMORY_LIMIT)
    if value.lower() == "none":
        return None
    match = _MEMORY_SIZE.fullmatch(value)
    if not match:
        msg = f"CALLS_DB_MEMORY_LIMIT must be a size such as 512MB or 2GB (or none), not {value!r}"
        raise SettingsError(msg)
    number, unit = match.groups()
    base = 1024 if unit[1:2].lower() == "i" else 1000
    size = float(number) * base ** ("KMGT".index(unit[0].upper()) + 1)
    if not MIN_DB_MEMORY_LIMIT_BYTES <= size <= MAX_DB_MEMORY_LIMIT_BYTES:
        msg = f"CALLS_DB_MEMORY_LIMIT must be between 128MB and 1PiB, not {value!r}"
        raise SettingsError(msg)
    return value


def sandbox_seed() -> int:
    """Seed of the embedded sandbox's traffic (``SANDBOX_SEED``)."""
    return whole_number("SANDBOX_SEED", DEFAULT_SANDBOX_SEED, low=0, high=2**63 - 1)


def http_url(name: str, default: str) -> str:
    """An ``http://`` or ``https://`` URL from the environment.

    Raises:
        SettingsError: anything else (a typo here would otherwise be retried for seconds).
    """
    value = env(name, default).rstrip("/")
    scheme, _, rest = value.partition("://")
    if scheme not in ("http", "https") or not rest:
        msg = f"{name} must be an http:// or https:// URL, not {value!r}"
        raise SettingsError(msg)
    return value


def report_tz() -> str:
    """The report time zone (IANA name) from ``REPORT_TZ``.

    Raises:
        SettingsError: an unknown zone.
    """
    return check_time_zone(env("REPORT_TZ", DEFAULT_REPORT_TZ))


def check_time_zone(name: str) -> str:
    """Return ``name`` if it is a known IANA time zone.

    Raises:
        SettingsError: unknown zone.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {name!r} (use an IANA name such as Europe/Copenhagen)"
        raise SettingsError(msg) from None
    return name


_Model = TypeVar("_Model", bound=BaseModel)


def load_toml_model(
    path: str | Path, variable: str, kind: str, model: type[_Model], hint: str
) -> _Model:
    """Read the TOML file ``path`` (named by ``variable``) into the pydantic ``model``.

    Args:
        path: the file.
        variable: the environment variable that named it, for messages.
        kind: what the file is, e.g. ``"projects file"``.
        model: the pydantic model of the whole file.
        hint: what the file should hold, appended to a validation error.

    Raises:
        SettingsError: the file is missing or unreadable, not TOML, or does not fit ``model``
            (the message lists each problem, ``table.key: why``).
    """
    where = f"{variable}={path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{where}: cannot read the {kind} ({exc.strerror or exc})"
        raise SettingsError(msg) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{where}: not valid TOML ({exc})"
        raise SettingsError(msg) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"{where}: {problems} ({hint})") from None
