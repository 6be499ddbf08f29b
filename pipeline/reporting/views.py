"""Reporting views: ``sql/views/*.sql``, created as TEMP objects on each reader connection.

Design (docs/reporting.md): the views are *not* stored in the warehouse file. Storing them
would need a writer, and DuckDB allows one writer process per file, which the scheduled
ingestion owns. TEMP views and the small ``country_codes`` table live in the session's
in-memory catalog, so a ``read_only`` connection can create them in a few milliseconds, they
always match the code that reads them, and the file's schema stays the one in ``sql/schema``.

The SQL files are plain DuckDB scripts; the only command-line feature they use is
``.read PATH`` (paths relative to the repository root), which :func:`read_script` inlines the
way the DuckDB command line does, so the same text runs in both.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipeline.warehouse.schema import SQL_DIR

REPO_ROOT = SQL_DIR.parent
VIEWS_DIR = SQL_DIR / "views"
ALL_VIEWS = VIEWS_DIR / "all.sql"

_READ = re.compile(r"^\s*\.read\s+(\S+)\s*$")


def read_script(path: Path, _depth: int = 0) -> str:
    """The SQL text of ``path`` with every ``.read FILE`` line replaced by that file's text.

    ``FILE`` is resolved against the repository root (the DuckDB command line resolves it
    against its working folder: run it from the repository root). Other dot commands are
    rejected, since only the command line understands them.
    """
    if _depth > 5:
        raise ValueError(f"{path}: .read nested too deeply")
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _READ.match(line)
        if match:
            target = Path(match.group(1))
            target = target if target.is_absolute() else REPO_ROOT / target
            lines.append(read_script(target, _depth + 1))
        elif line.lstrip().startswith("."):
            raise ValueError(f"{path}: only the .read dot command is supported, got {line!r}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def views_script() -> str:
    """The SQL that creates every reporting view (``sql/views/all.sql``, expanded)."""
    return read_script(ALL_VIEWS)


def apply_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create the TEMP reporting views on ``con`` (works on read-only connections)."""
    con.execute(views_script())
