"""The Sinch projects one deployment ingests: the projects file, ``CALLS_PROJECTS_FILE``.

Without the file the product ingests one project, ``SINCH_PROJECT_ID`` (or the sandbox's), on
hourly partitions, exactly as before. With it, every project it lists is ingested on
*project × hour* partitions and every raw and analytics row carries its ``project_id``.

The file is TOML, one ``[[project]]`` table per Sinch project (or sub-project)::

    [[project]]
    id = "1c2d3e4f-0000-4000-8000-000000000001"   # the projectId of the API's URLs
    name = "Acme EU"                               # display name (optional)
    key_id_env = "ACME_EU_KEY_ID"                  # NAMES of the variables holding the key
    key_secret_env = "ACME_EU_KEY_SECRET"          # (never the secrets themselves)
    rate_limit_per_s = 5                           # optional; else SINCH_RATE_LIMIT's default

Either every project names its key variables (the real API, ``SINCH_API_URL``,
``SINCH_AUTH``... apply to all), or none does (each project is served by the embedded sandbox,
with traffic seeded per project). The secrets are read from the environment when a run opens
its client, never stored in the file, the run config or Dagster's events.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.settings import SettingsError, env, load_toml_model

PROJECTS_FILE_VAR = "CALLS_PROJECTS_FILE"
#: Project ids become Dagster partition keys and SQL literals: letters, digits, ``._-`` only.
PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_ENV_NAME = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class Project(BaseModel):
    """One Sinch project of the projects file.

    Attributes:
        id: the Sinch ``projectId`` (letters, digits, ``.``, ``_``, ``-``; at most 128).
        name: display name; defaults to the id.
        key_id_env: name of the environment variable holding the access key id, or None for
            the embedded sandbox.
        key_secret_env: name of the variable holding the key secret (None with ``key_id_env``).
        rate_limit_per_s: client-side request limit of this project (requests/s), or None
            for the default of ``SINCH_RATE_LIMIT`` / the auth mode.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PROJECT_ID_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    key_id_env: _ENV_NAME | None = None
    key_secret_env: _ENV_NAME | None = None
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=10_000, allow_inf_nan=False)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Project:
        if (self.key_id_env is None) != (self.key_secret_env is None):
            msg = "set both key_id_env and key_secret_env, or neither (the embedded sandbox)"
            raise ValueError(msg)
        return self

    @property
    def display_name(self) -> str:
        """``name``, or the id when the file gives none."""
        return self.name or self.id

    @property
    def uses_real_api(self) -> bool:
        """True when the project names its key variables (else: the embedded sandbox)."""
        return self.key_id_env is not None

    def credentials(self) -> tuple[str, str]:
        """The key id and secret, read from the variables the file names.

        Raises:
            SettingsError: the project has no key variables, or one is unset or blank (the
                message names the variable, never a value).
        """
        if self.key_id_env is None or self.key_secret_env is None:
            msg = f"project {self.id} names no key variables: it is served by the sandbox"
            raise SettingsError(msg)
        values = []
        for name in (self.key_id_env, self.key_secret_env):
            value = os.environ.get(name, "").strip()
            if not value:
                msg = f"project {self.id}: environment variable {name} is not set"
                raise SettingsError(msg)
            values.append(value)
        return values[0], values[1]


class _ProjectsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: list[Project] = Field(min_length=1)


def load_projects(path: str | Path) -> list[Project]:
    """Read and check a projects file.

    Args:
        path: a TOML file with one ``[[project]]`` table per project.

    Returns:
        The projects in file order (at least one, ids unique).

    Raises:
        SettingsError: the file is missing or unreadable, not TOML, has unknown keys or bad
            values, repeats an id, or mixes projects with and without key variables.
    """
    where = f"{PROJECTS_FILE_VAR}={path}"
    hint = "expected [[project]] tables with id, name, key_id_env, key_secret_env, "
    hint += "rate_limit_per_s"
    projects = load_toml_model(
        path, PROJECTS_FILE_VAR, "projects file", _ProjectsFile, hint
    ).project
    ids = [p.id for p in projects]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        msg = f"{where}: project ids listed more than once: {', '.join(repeated)}"
        raise SettingsError(msg)
    if len({p.uses_real_api for p in projects}) > 1:
        msg = (
            f"{where}: either every project names key_id_env/key_secret_env (the real API) "
            "or none does (the embedded sandbox)"
        )
        raise SettingsError(msg)
    return projects


def configured_projects() -> list[Project] | None:
    """The projects of ``CALLS_PROJECTS_FILE``, or None when it is unset (one project).

    Raises:
        SettingsError: see :func:`load_projects`.
    """
    path = env(PROJECTS_FILE_VAR, "")
    return load_projects(path) if path else None


def sandbox_seed(seed: int, project_id: str) -> int:
    """The embedded sandbox's seed for one project: ``seed`` mixed with the id's CRC-32.

    Deterministic across processes and machines (unlike ``hash()``), so every worker that
    serves a project generates the same calls, and two projects generate different ones.
    """
    return (seed * 1_000_003 + zlib.crc32(project_id.encode())) % 2**31
