"""What every ``pipeline`` command shares: the Typer app, the error console, ``--db``, errors.

A bad setting stops with one line on stderr and exit code 2, never a traceback
(:func:`fail`, :func:`user_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline import settings
from pipeline.sandbox.cli import sandbox_app

app = typer.Typer(
    help="Call-record analytics for Sinch Elastic SIP Trunking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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


def db_path(db: Path | None) -> Path:
    """The warehouse file: ``--db``, else ``CALLS_DB_PATH``, else ``data/calls.duckdb``."""
    return Path(settings.db_path(str(db) if db else None))


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear error line and return the exit to raise.

    The exit code is 2 for a user error and 1 when the job did not land everything.
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
