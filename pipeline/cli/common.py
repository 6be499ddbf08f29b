"""What every ``pipeline`` command shares: the Typer app, the error console, ``--db``, errors.

A bad setting stops with one line on stderr and exit code 2, never a traceback
(:func:`fail`, :func:`user_errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline import settings
from pipeline.sandbox.cli import sandbox_app

#: Every variable the commands read, with its default, for ``pipeline --help`` (README table).
ENVIRONMENT = (
    ("SINCH_PROJECT_ID, SINCH_KEY_ID, SINCH_KEY_SECRET", "unset: the embedded sandbox"),
    ("SINCH_AUTH", "oauth (or basic)"),
    ("SINCH_API_URL", settings.DEFAULT_API_URL),
    ("SINCH_AUTH_URL", settings.DEFAULT_AUTH_URL),
    ("SINCH_RATE_LIMIT", "20 requests/s (oauth), 2 (basic)"),
    ("SINCH_RATE_LIMIT_STORE", "unset: per process"),
    ("SINCH_PAGE_SIZE", "1000"),
    ("SINCH_MAX_RESULT_WINDOW", str(settings.DEFAULT_MAX_RESULT_WINDOW)),
    ("CALLS_DB_PATH", settings.DEFAULT_DB_PATH),
    ("CALLS_LAKE_URI", "unset: the DuckDB file"),
    ("CALLS_PROJECTS_FILE", "unset: one project"),
    ("CALLS_PARTITIONS_START", settings.DEFAULT_PARTITIONS_START),
    ("CALLS_FETCH_CONCURRENCY", str(settings.DEFAULT_CONCURRENCY)),
    ("CALLS_LOOKBACK_HOURS", str(settings.DEFAULT_LOOKBACK_HOURS)),
    ("CALLS_EXPORT", "on (off: no /calls/export, raw.call_details says unavailable)"),
    ("CALLS_DB_MEMORY_LIMIT", settings.DEFAULT_DB_MEMORY_LIMIT),
    ("CALLS_RUN_EXECUTOR", "in_process"),
    ("CALLS_BACKFILL_HOURS_PER_RUN", "168"),
    ("REPORT_TZ", settings.DEFAULT_REPORT_TZ),
    ("SANDBOX_SEED", str(settings.DEFAULT_SANDBOX_SEED)),
    ("PIPELINE_LOG_LEVEL", "WARNING (DEBUG: the bodies of retried answers, masked)"),
    ("DAGSTER_HOME", "./.dagster (the Dagster instance runs are recorded in)"),
    ("CALLS_ALERTS_FILE", "unset: the built-in alert thresholds"),
    ("ALERT_WEBHOOK_URL", "unset: no webhook (Slack-compatible)"),
    (
        "ALERT_SMTP_HOST, ALERT_SMTP_PORT, ALERT_SMTP_SECURITY, ALERT_SMTP_USER, "
        "ALERT_SMTP_PASSWORD, ALERT_EMAIL_FROM, ALERT_EMAIL_TO",
        "unset: no e-mail",
    ),
)
#: ``\b`` keeps click from re-wrapping the lines of the paragraph that follows it.
EPILOG = "\b\nEnvironment (also read from ./.env), with defaults:\n" + "\n".join(
    f"  {name} = {default}" for name, default in ENVIRONMENT
)

app = typer.Typer(
    help="Call-record analytics for Sinch Elastic SIP Trunking.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: Rich markup would eat the "[env CALLS_DB_PATH, default …]" of the options.
    rich_markup_mode=None,
)
console = Console(stderr=True, highlight=False)
app.add_typer(sandbox_app, name="sandbox", help="The local emulator of the Sinch calls API.")

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="DuckDB file [env CALLS_DB_PATH, default data/calls.duckdb]; "
        "unused when CALLS_LAKE_URI sets a Delta lake",
    ),
]


class ConsoleLogHandler(logging.Handler):
    """Python log records as one unwrapped line each on a Rich console.

    ``WARNING pipeline.sinch: HTTP 429 on window …``; through the console, so a line printed
    while a progress bar shows goes above it.
    """

    def __init__(self, target: Console) -> None:
        super().__init__()
        self._console = target

    def emit(self, record: logging.LogRecord) -> None:
        """Print the record (yellow from WARNING, red from ERROR)."""
        style = "red" if record.levelno >= logging.ERROR else "yellow"
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        self._console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def db_path(db: Path | None) -> Path:
    """The warehouse file: ``--db``, else ``CALLS_DB_PATH``, else ``data/calls.duckdb``."""
    return Path(settings.db_path(str(db) if db else None))


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear error line and return the exit to raise.

    The exit code is 2 for a user error, 1 when the job did not land everything and 130 when
    Ctrl-C (or SIGTERM) interrupted it.
    """
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, never wrapped
    return typer.Exit(code=code)


#: Printed when the job fails; the step's own message above names the windows and why.
JOB_FAILED = (
    "the job did not land everything (see above); landed windows are kept. Re-run the range: "
    "writes are idempotent."
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line and exit 2.

    These are errors in the settings, auth or ranges, a file that is not a DuckDB warehouse and
    an error in the user's own SQL.
    """
    import duckdb

    from pipeline.sinch.errors import SinchApiError
    from pipeline.warehouse.connection import WarehouseBusyError

    try:
        yield
    except (settings.SettingsError, SinchApiError, WarehouseBusyError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"DuckDB: {first_line}") from None
