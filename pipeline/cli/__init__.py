"""The ``pipeline`` command: run the main job, ingest a range, serve the sandbox, query, report.

Every command reads its settings from the environment (see :mod:`pipeline.settings`) and
options; a bad setting stops with one line on stderr and exit code 2, never a traceback.

The commands live by what they do: :mod:`pipeline.cli.ingest` (demo, ingest, migrate: they
write), :mod:`pipeline.cli.state` (status: the Dagster instance's view),
:mod:`pipeline.cli.read` (sql, report, export, shell: they read), :mod:`pipeline.cli.alerts`
(alerts), :mod:`pipeline.cli.audit` (audit: every check over the whole warehouse), and
:mod:`pipeline.cli.common` (the app, the console, ``--db``, error handling). They are
registered here, in the order ``pipeline --help`` lists them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from pipeline import settings
from pipeline.cli import alerts as _alerts
from pipeline.cli import audit as _audit
from pipeline.cli import ingest as _ingest
from pipeline.cli import read as _read
from pipeline.cli import state as _state
from pipeline.cli.common import (
    JOB_FAILED,
    ConsoleLogHandler,
    DbOption,
    app,
    console,
    db_path,
    fail,
    user_errors,
)
from pipeline.cli.ingest import check_api_access, check_ingest_range, parse_hour
from pipeline.entry import INTERRUPTED_EXIT

__all__ = [
    "JOB_FAILED",
    "DbOption",
    "app",
    "check_api_access",
    "check_ingest_range",
    "console",
    "db_path",
    "fail",
    "main",
    "parse_hour",
    "user_errors",
]

for _command in (
    _ingest.demo,
    _ingest.ingest,
    _state.status,
    _read.sql,
    _read.report,
    _read.export,
    _read.shell,
    _alerts.alerts,
    _audit.audit,
    _ingest.migrate,
):
    app.command()(_command)


def main() -> None:
    """Run the ``pipeline`` command (the console-script entry point).

    Reads ``./.env`` (values already in the environment win), logs for humans, and turns a user
    error raised outside a command's own handling into one line, exit 2. A Ctrl-C (or SIGTERM,
    :mod:`pipeline.entry`) that no command handled itself prints ``error: interrupted`` and
    exits 130: typer ends such a command silently, and DuckDB raises a query it stopped as
    ``RuntimeError: Query interrupted`` (a traceback, exit 1, e.g. in ``pipeline sql``).
    """
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)
    # Warnings of the client and the runner (one short line each) go through the console, so
    # they print above a progress bar instead of through it.
    logging.basicConfig(level=logging.WARNING, handlers=[ConsoleLogHandler(console)])
    try:
        with user_errors():
            logging.getLogger("pipeline").setLevel(settings.log_level())
            app()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        context = exc.__context__  # typer: `raise Exit(130) from KeyboardInterrupt`, then exit
        if isinstance(context, typer.Exit) and isinstance(context.__cause__, KeyboardInterrupt):
            fail("interrupted", code=INTERRUPTED_EXIT)
        raise
    except RuntimeError as exc:
        if str(exc).strip() != "Query interrupted":
            raise
        fail("interrupted", code=INTERRUPTED_EXIT)
        sys.exit(INTERRUPTED_EXIT)
