"""Reporting views: ``sql/views/*.sql``, created as TEMP objects on each reader connection.

Design (docs/reporting.md): the views are *not* stored in the warehouse file. Storing them
would need a writer, and DuckDB allows one writer process per file, which the scheduled
ingestion owns. TEMP views and the small ``country_codes`` table live in the session's
in-memory catalog, so a ``read_only`` connection can create them in a few milliseconds, they
always match the code that reads them, and the file's schema stays the one in ``sql/schema``.

The SQL files are plain DuckDB scripts; the only command-line feature they use is
``.read PATH`` (paths relative to the repository root), which :func:`read_script` inlines the
way the DuckDB command line does, so the same text runs in both. The files are the checkout's
or the installed wheel's (:mod:`pipeline.resources`); ``.read sql/…`` finds them either way.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipeline.resources import resource_root, sql_dir

VIEWS_DIR = sql_dir("views")
ALL_VIEWS = VIEWS_DIR / "all.sql"

_READ = re.compile(r"^\s*\.read\s+(\S+)\s*$")


def read_script(path: Path, _depth: int = 0) -> str:
    """The SQL text of ``path`` with every ``.read FILE`` line replaced by that file's text.

    A relative ``FILE`` is looked up under the resource root first (the repository root, or
    the wheel's copy of it: ``.read sql/views/all.sql`` works from any folder), then in the
    working folder (as the DuckDB command line does, which reads only the working folder: run
    it from the repository root). Other dot commands are rejected, since only the command
    line understands them.

    Args:
        path: the SQL script to read (UTF-8).

    Returns:
        The script's text with every ``.read`` expanded, ending in a newline.

    Raises:
        ValueError: another dot command, or ``.read`` nested more than 5 deep.
        OSError: ``path`` or a file it reads cannot be read.
    """
    if _depth > 5:
        raise ValueError(f"{path}: .read nested too deeply")
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _READ.match(line)
        if match:
            lines.append(read_script(read_target(match.group(1)), _depth + 1))
        elif line.lstrip().startswith("."):
            raise ValueError(f"{path}: only the .read dot command is supported, got {line!r}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def read_target(name: str) -> Path:
    """The file a ``.read NAME`` line means: absolute, under the resource root, or in cwd."""
    target = Path(name)
    if target.is_absolute():
        return target
    packaged = resource_root() / target
    return packaged if packaged.is_file() or not target.is_file() else target


def views_script() -> str:
    """The SQL that creates every reporting view (``sql/views/all.sql``, expanded)."""
    return read_script(ALL_VIEWS)


def apply_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create the TEMP reporting views on ``con`` (works on read-only connections)."""
    con.execute(views_script())
