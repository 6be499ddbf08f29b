"""``pipeline shell``: interactive SQL on a private snapshot of the warehouse, views loaded.

A shell stays open for minutes or hours, and DuckDB lets no process write a file while another
has it open, so the shell never reads the warehouse itself. :func:`snapshot` takes a copy
through the same reader as every other command (:func:`pipeline.reporting.source.
read_connection`: the DuckDB file read-only, waiting while an ingestion writes, or the Delta
lake's current snapshots) into a temporary DuckDB file, and closes the reader at once:

- the DuckDB file (and its ``.wal``, if a writer left one) is copied byte for byte while the
  read-only connection is open, so no writer can change it half-way;
- the lake's tables are copied into a new file (``CREATE TABLE … AS``), on the reader's
  in-memory connection.

The reporting views of ``sql/views`` are then stored in the copy (not TEMP there: it is
private, and any client that opens it sees them), and the copy is opened read-only in
`Harlequin <https://harlequin.sh>`_ (a terminal SQL IDE for DuckDB) when the terminal is
interactive, or in :class:`LineShell` (statements ending in ``;``, results as rich tables)
for piped input, ``--command`` and ``--plain``. The copy is deleted when the shell ends.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from pipeline import settings
from pipeline.reporting.source import read_connection
from pipeline.reporting.views import read_script, read_target, views_script
from pipeline.warehouse.connection import DEFAULT_LOCK_WAIT_S

_STORED = (
    "SELECT schema_name, table_name FROM duckdb_tables() "
    "WHERE NOT temporary AND schema_name IN ('raw', 'analytics') "
    "UNION SELECT schema_name, view_name FROM duckdb_views() "
    "WHERE NOT temporary AND NOT internal AND schema_name IN ('raw', 'analytics') ORDER BY ALL"
)


@contextmanager
def snapshot(db_path: str | Path, *, lock_wait_s: float = DEFAULT_LOCK_WAIT_S) -> Iterator[Path]:
    """A private copy of the warehouse as a temporary DuckDB file, deleted on exit.

    Args:
        db_path: the DuckDB file (unused when ``CALLS_LAKE_URI`` sets a lake).
        lock_wait_s: how long to wait while an ingestion holds the DuckDB file.

    Yields:
        The copy's path; nothing else has it open.

    Raises:
        FileNotFoundError: the warehouse does not exist yet.
    """
    lake = settings.lake_uri()
    stem = "calls" if lake else Path(db_path).stem
    with tempfile.TemporaryDirectory(prefix="calls-shell-") as tmp:
        target = Path(tmp) / f"{stem}.duckdb"
        with read_connection(db_path, lock_wait_s=lock_wait_s) as con:
            if lake:
                _copy_tables(con, target)
            else:
                shutil.copyfile(db_path, target)
                wal = Path(f"{db_path}.wal")
                if wal.exists():
                    shutil.copyfile(wal, f"{target}.wal")
        store_views(target)
        yield target


#: ``CREATE OR REPLACE TEMP VIEW`` / ``TEMP TABLE`` of the view files, to store in a copy.
_TEMP = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+TEMP\s+(VIEW|TABLE)\b", re.IGNORECASE)


def store_views(path: Path) -> None:
    """Create the reporting views of ``sql/views`` as stored views in the copy at ``path``.

    The view files create TEMP objects (the warehouse itself is only ever read); in a private
    copy they are stored, so any client opening it, Harlequin included, finds them.
    """
    with duckdb.connect(str(path)) as con:
        con.execute(_TEMP.sub(r"CREATE OR REPLACE \1", views_script()))
        con.execute("CHECKPOINT")


def _copy_tables(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Copy every ``raw.*`` / ``analytics.*`` table or view of ``con`` into a new file."""
    quoted = str(target).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS shell_snapshot")
    try:
        for schema, name in con.execute(_STORED).fetchall():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS shell_snapshot.{schema}")
            con.execute(f"CREATE TABLE shell_snapshot.{schema}.{name} AS FROM {schema}.{name}")
    finally:
        con.execute("DETACH shell_snapshot")


def open_snapshot(path: Path) -> duckdb.DuckDBPyConnection:
    """The snapshot opened read-only, in UTC (the views' dates and hours are UTC-based)."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute(SESSION_INIT)
    return con


#: What every session on a snapshot runs first (also Harlequin's init script).
SESSION_INIT = "SET TimeZone = 'UTC';"


def harlequin_command(path: Path, init_script: Path) -> list[str] | None:
    """The Harlequin command line for the snapshot, or None when Harlequin is not installed.

    Args:
        path: the snapshot (opened read-only; the views are stored in it).
        init_script: a file holding :data:`SESSION_INIT`, which Harlequin runs first.
    """
    beside = Path(sys.executable).with_name("harlequin")
    exe = str(beside) if beside.is_file() else shutil.which("harlequin")
    if exe is None:
        return None
    return [exe, "--read-only", "--init-path", str(init_script), str(path)]


def run_harlequin(path: Path) -> int | None:
    """Run Harlequin on the snapshot with the views; its exit code, or None if not installed."""
    init = path.with_name("init.sql")
    init.write_text(SESSION_INIT + "\n", encoding="utf-8")
    command = harlequin_command(path, init)
    if command is None:
        return None
    return subprocess.call(command)


class ShellError(Exception):
    """A statement of a non-interactive session failed (the message is its first line)."""


class LineShell:
    """A line-based SQL session: statements end with ``;``, results print as rich tables.

    Dot commands, as in the DuckDB command line, at the start of a statement: ``.read FILE``
    (runs a script; ``sql/…`` paths work from any folder), ``.tables``, ``.quit``/``.exit``.

    Args:
        con: the connection to run on.
        out: where results go.
        bail: raise :class:`ShellError` on the first failing statement (scripts) instead of
            printing the error and going on (interactive).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, out: Console, *, bail: bool) -> None:
        self.con = con
        self.out = out
        self.bail = bail
        self.buffer: list[str] = []
        self.done = False

    def feed(self, line: str) -> None:
        """Take one input line; runs the statement(s) once a line ends with ``;``."""
        stripped = line.strip()
        if not self.buffer and stripped.startswith("."):
            self._dot(stripped)
            return
        if not self.buffer and not stripped:
            return
        self.buffer.append(line)
        if stripped.endswith(";"):
            self.flush()

    def flush(self) -> None:
        """Run what is buffered (at the end of the input a last ``;`` may be missing)."""
        text, self.buffer = "\n".join(self.buffer), []
        if text.strip():
            self.run(text)

    def run(self, text: str) -> None:
        """Run every statement of ``text``; print the rows of those that return some."""
        try:
            for statement in self.con.extract_statements(text):
                relation = self.con.sql(statement.query)
                # duckdb 2 answers DDL and SET with a status relation ("nothing" to show)
                if relation is not None and getattr(relation, "_return_type", "") != "nothing":
                    self._print(relation)
        except duckdb.Error as exc:
            lines = str(exc).strip().splitlines()
            message = f"DuckDB: {lines[0] if lines else type(exc).__name__}"
            if self.bail:
                raise ShellError(message) from None
            self.out.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)

    def _dot(self, command: str) -> None:
        name, _, argument = command.partition(" ")
        if name in (".quit", ".exit", ".q"):
            self.done = True
        elif name == ".read" and argument.strip():
            try:
                self.run(read_script(read_target(argument.strip())))
            except (OSError, ValueError) as exc:
                self._error(str(exc))
        elif name == ".tables":
            self.run(
                "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
                "UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views() "
                "WHERE NOT internal ORDER BY ALL;"
            )
        else:
            self._error(f"unknown command {command!r}: use .read FILE, .tables or .quit")

    def _error(self, message: str) -> None:
        if self.bail:
            raise ShellError(message)
        self.out.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)

    def _print(self, relation: duckdb.DuckDBPyRelation) -> None:
        table = Table(*relation.columns, show_lines=False)
        rows = relation.fetchall()
        for row in rows:
            table.add_row(*("NULL" if value is None else str(value) for value in row))
        self.out.print(table)
        self.out.print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})", style="dim")

    def run_lines(self, lines: Iterable[str]) -> None:
        """Feed every line (a script, or piped input), then what is left without ``;``."""
        for line in lines:
            self.feed(line.rstrip("\n"))
            if self.done:
                return
        self.flush()

    def interact(self) -> None:
        """Prompt for lines (``input()``, with readline editing) until ``.quit`` or Ctrl-D."""
        with contextlib.suppress(ImportError):  # Windows has none
            import readline  # noqa: F401  (line editing and history for input())
        while not self.done:
            try:
                line = input("calls> " if not self.buffer else "  ...> ")
            except EOFError:
                self.out.print()
                break
            except KeyboardInterrupt:
                self.out.print()
                self.buffer = []
                continue
            self.feed(line)
