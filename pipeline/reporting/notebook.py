"""``pipeline report``: run ``notebooks/report.ipynb`` headless and export self-contained HTML.

The notebook reads its parameters (``DB_PATH``, ``REPORT_TZ``) from a cell tagged
``parameters``; like papermill, :func:`execute_report` inserts a cell right after it that sets
the values given here. The kernel is the ``python3`` kernel of the interpreter running this
code (ipykernel's native kernelspec uses ``sys.executable``), so ``uv run pipeline report``
runs the notebook in the project's virtual environment.

The notebook is ``notebooks/report.ipynb`` of the checkout, or the copy inside the installed
wheel (:mod:`pipeline.resources`); the kernel runs in the working folder.

The HTML hides code cells and carries no ``<script src=…>`` (no require.js, no MathJax from a
CDN): the charts are Plotly figures whose plotly.js the first one inlines
(:class:`pipeline.reporting.figures.Embedder`), so it opens offline without Python. Its
``<title>`` is the one the notebook displays with ``metadata={"report_title": …}``
(:func:`report_title`), e.g. "Trunk report — <project> — 29 Nov to 06 Dec 2026".
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from jinja2 import DictLoader
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from pipeline.reporting.source import read_connection, warehouse_exists, warehouse_name
from pipeline.resources import notebook_path

#: ``notebooks/report.ipynb`` of the checkout or of the installed wheel
#: (:mod:`pipeline.resources`).
NOTEBOOK = notebook_path()
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 600

#: The JupyterLab HTML template without the scripts it loads from a CDN (require.js, MathJax,
#: mermaid: the report has no widgets, formulas or diagrams). The charts' own inline scripts
#: (plotly.js once, then one ``Plotly.newPlot`` per figure) are ``text/html`` outputs and kept.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

#: The page title when the notebook displayed none.
DEFAULT_TITLE = "Trunk report"


#: Terminal colour codes that IPython puts in tracebacks.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class ReportError(RuntimeError):
    """The notebook failed to run; the message names the cell's error."""


#: Called as the report advances: ``(stage, done, total)``, e.g. ``("Trunk usage", 3, 14)``
#: before the 4th of 14 code cells runs (stage: the section heading above it), then
#: ``("writing HTML", 14, 14)``.
ProgressCallback = Callable[[str, int, int], None]


def _cell_stages(nb: nbformat.NotebookNode) -> dict[int, tuple[str, int]]:
    """For each code cell's index: the markdown heading above it and its rank among code cells."""
    stages: dict[int, tuple[str, int]] = {}
    heading = "setting up"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            titles = [line.lstrip("#").strip() for line in cell.source.splitlines()]
            heading = next(
                (t for t, line in zip(titles, cell.source.splitlines(), strict=True)
                 if line.startswith("#") and t),
                heading,
            )  # fmt: skip
        elif cell.cell_type == "code":
            stages[index] = (heading, len(stages))
    return stages


def _parameter_cell(db_path: Path, report_tz: str | None) -> nbformat.NotebookNode:
    # json.dumps gives valid Python string literals (and None → null is avoided below).
    source = (
        "# Parameters set by `pipeline report`\n"
        f"DB_PATH = {json.dumps(str(db_path))}\n"
        f"REPORT_TZ = {json.dumps(report_tz) if report_tz else None}\n"
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})


def execute_report(
    db_path: str | Path,
    report_tz: str | None = None,
    notebook: Path = NOTEBOOK,
    progress: ProgressCallback | None = None,
) -> nbformat.NotebookNode:
    """Execute the report notebook on ``db_path`` (or the lake) and return it with its outputs.

    With ``CALLS_LAKE_URI`` set, the notebook's kernel inherits it and reads the lake.
    ``progress`` (see :data:`ProgressCallback`) is called before each code cell runs.

    Raises:
        FileNotFoundError: ``db_path`` does not exist.
        ReportError: the analytics tables are empty, or a cell failed (the message names its
            error).
    """
    db_path = Path(db_path).resolve()
    if not warehouse_exists(db_path):
        msg = f"warehouse {warehouse_name(db_path)} does not exist yet: run the ingestion first"
        raise FileNotFoundError(msg)
    with read_connection(db_path) as con:
        (rows,) = con.execute("SELECT count(*) FROM analytics.trunk_usage_hourly").fetchall()[0]
    if not rows:
        msg = (
            f"the analytics tables in {warehouse_name(db_path)} are empty: run `pipeline demo` or "
            "`pipeline ingest` (with analytics) first"
        )
        raise ReportError(msg)
    nb = nbformat.read(notebook, as_version=4)
    index = next(
        (i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1
    )
    nb.cells.insert(index + 1, _parameter_cell(db_path, report_tz))
    stages = _cell_stages(nb)

    def on_cell_start(cell: Any, cell_index: int) -> None:
        if progress is not None and cell_index in stages:
            heading, done = stages[cell_index]
            progress(heading, done, len(stages))

    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        # The kernel starts in the working folder, like the command (relative paths agree).
        resources={"metadata": {"path": str(Path.cwd())}},
        on_cell_start=on_cell_start,
    )
    try:
        # The kernel's own stderr (a transport notice) is noise; cell errors come back as
        # messages and are raised below.
        client.execute(stderr=subprocess.DEVNULL)
    except CellExecutionError as exc:
        text = ANSI_ESCAPE.sub("", str(exc)).strip()
        last = text.splitlines()[-1] if text else type(exc).__name__
        raise ReportError(f"the report notebook failed: {last}") from exc
    return nb


def report_title(nb: nbformat.NotebookNode) -> str:
    """The title an executed notebook displayed with ``metadata={"report_title": ...}``."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            title = output.get("metadata", {}).get("report_title")
            if title:
                return str(title)
    return DEFAULT_TITLE


def to_html(nb: nbformat.NotebookNode) -> str:
    """Self-contained HTML of an executed notebook, code hidden, titled by the report."""
    exporter = HTMLExporter(
        template_name="lab",
        template_file="report.html.j2",
        extra_loaders=[DictLoader({"report.html.j2": _TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": report_title(nb)}})
    return body


def render_report(
    db_path: str | Path,
    out: str | Path,
    report_tz: str | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Execute the notebook on ``db_path`` and write the HTML report to ``out``.

    Args:
        db_path: the warehouse file (the lake with ``CALLS_LAKE_URI``).
        out: the HTML file to write (its folder is created).
        report_tz: IANA zone of the charts (default: the zone the tables were built in).
        progress: told of each code cell, then of the HTML export (:data:`ProgressCallback`).

    Returns:
        ``out`` as a path.

    Raises:
        FileNotFoundError, ReportError: see :func:`execute_report`; ReportError also when
            ``out`` cannot be written.
    """
    nb = execute_report(db_path, report_tz, progress=progress)
    if progress is not None:
        cells = sum(cell.cell_type == "code" for cell in nb.cells)
        progress("writing HTML", cells, cells)
    target = Path(out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_html(nb), encoding="utf-8")
    except OSError as exc:  # the command checks --out first; this is what it could not foresee
        raise ReportError(f"cannot write the report to {target} ({exc.strerror or exc})") from None
    return target
