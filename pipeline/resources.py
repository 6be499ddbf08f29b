"""Where the SQL files and the report notebook are: in the wheel, or in the source checkout.

The files live at the repository root (``sql/``, ``notebooks/report.ipynb``, ``dagster.yaml``)
where people browse them and the DuckDB command line reads them. A wheel carries copies under
``pipeline/_resources/`` (``[tool.hatch.build.targets.wheel.force-include]`` in
``pyproject.toml``), laid out the same way, so one *resource root* serves both::

    <root>/sql/schema/*.sql, sql/checks/*.sql, sql/views/*.sql, sql/queries/*.sql
    <root>/notebooks/report.ipynb
    <root>/dagster.yaml

:func:`resource_root` is ``pipeline/_resources`` when that package data is installed (found
with :mod:`importlib.resources`), else the checkout holding this package (editable installs,
``uv run``), so a checkout always reads its own, current files. Every reader in the code
resolves paths here; ``.read sql/…`` lines in the SQL files are relative to the root too.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

#: The folder of the wheel's package data, inside the ``pipeline`` package.
PACKAGED_DIR = "_resources"


class ResourcesMissingError(FileNotFoundError):
    """Neither the wheel's package data nor a source checkout's ``sql/`` folder was found."""


@cache
def resource_root() -> Path:
    """The folder holding ``sql/`` and ``notebooks/``.

    Returns:
        ``…/site-packages/pipeline/_resources`` in an installed wheel, else the repository
        root of the checkout this package was imported from.

    Raises:
        ResourcesMissingError: neither exists (e.g. the package was copied without its data,
            or installed as a zip, which :mod:`importlib.resources` cannot give paths for).
    """
    packaged = files("pipeline").joinpath(PACKAGED_DIR)
    if isinstance(packaged, Path) and (packaged / "sql").is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "sql").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    msg = (
        f"the SQL files are missing: neither {packaged} nor {checkout / 'sql'} exists; "
        "install the wheel (pip install .) or run from a checkout of the repository"
    )
    raise ResourcesMissingError(msg)


def sql_dir(*parts: str) -> Path:
    """``<root>/sql`` or a folder below it, e.g. ``sql_dir("queries")``.

    Raises:
        ResourcesMissingError: see :func:`resource_root`.
    """
    return resource_root().joinpath("sql", *parts)


def notebook_path(name: str = "report.ipynb") -> Path:
    """``<root>/notebooks/<name>``, the report notebook by default.

    Raises:
        ResourcesMissingError: see :func:`resource_root`.
    """
    return resource_root() / "notebooks" / name


def dagster_yaml_path() -> Path:
    """``<root>/dagster.yaml``: the Dagster instance settings new instance folders start from.

    Raises:
        ResourcesMissingError: see :func:`resource_root`.
    """
    return resource_root() / "dagster.yaml"
