"""The ``pipeline`` console script: Ctrl-C or SIGTERM ends in one line and exit 130.

Importing the commands (:mod:`pipeline.cli`: Dagster, Polars, DuckDB, the sandbox) takes a
second or more. A Ctrl-C in that time used to end in a ``KeyboardInterrupt`` traceback, and a
SIGTERM before ``pipeline ingest`` watched for it killed the process without a word. From here
on SIGTERM is handled like Ctrl-C, and an interrupt before any command started prints
``error: interrupted while starting; nothing ran`` and exits 130, as an interrupted ingest does
(:func:`pipeline.cli.main` covers the rest). Only a signal in the interpreter's own first
milliseconds, before this module runs, still ends the Python way.
"""

from __future__ import annotations

import signal
import sys

#: The conventional exit status of a command stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED_EXIT = 130


def main() -> None:
    """Start the ``pipeline`` command (:func:`pipeline.cli.main`)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        from pipeline.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted while starting; nothing ran\n")
        sys.exit(INTERRUPTED_EXIT)
    run()
