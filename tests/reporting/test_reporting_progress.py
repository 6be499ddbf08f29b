"""``pipeline report`` tells its progress: each code cell under its section, then the export."""

from __future__ import annotations

from pathlib import Path

import nbformat

from pipeline.reporting.notebook import NOTEBOOK, render_report


def test_report_progress_names_each_section_then_the_html_export(
    demo_db: Path, tmp_path: Path
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    headings = {
        line.lstrip("#").strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    }
    seen: list[tuple[str, int, int]] = []
    out = render_report(demo_db, tmp_path / "report.html", progress=lambda *a: seen.append(a))
    assert out.is_file()
    # one call before each code cell (the injected parameters cell included), in order
    cells = seen[:-1]
    assert [done for _, done, _ in cells] == list(range(code_cells + 1))
    assert {total for _, _, total in cells} == {code_cells + 1}
    assert {stage for stage, _, _ in cells} - {"setting up"} <= headings
    assert len({stage for stage, _, _ in cells}) > 3  # the sections, not one label
    assert seen[-1] == ("writing HTML", code_cells + 1, code_cells + 1)
