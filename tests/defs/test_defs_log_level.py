"""``PIPELINE_LOG_LEVEL``: the commands' own messages at DEBUG on demand, a bad value refused.

The README promised the bodies of retried answers "only at DEBUG level", and nothing let a
user ask for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.sandbox.testing import sandbox_server
from tests.conftest import sandbox_env

PIPELINE = Path(sys.executable).with_name("pipeline")
HOUR = ["--start", "2026-11-16T08", "--end", "2026-11-16T09"]


def _ingest(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PIPELINE), "ingest", *HOUR, "--db", str(tmp_path / "w.duckdb")],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_debug_shows_the_client_s_own_lines_and_the_default_does_not(tmp_path: Path) -> None:
    with sandbox_server(rate_5xx=1.0, fault_max_consecutive=1) as sb:
        quiet = _ingest(tmp_path / "quiet", sandbox_env(sb))
        loud = _ingest(tmp_path / "loud", {**sandbox_env(sb), "PIPELINE_LOG_LEVEL": "debug"})
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert "fetched OAuth2 access token" not in quiet.stderr + quiet.stdout
    assert "fetched OAuth2 access token" in loud.stderr + loud.stdout
    said = loud.stderr + loud.stdout
    assert " body: " in said  # a retried 5xx answer's body, at DEBUG only
    assert " body: " not in quiet.stderr + quiet.stdout
    assert sb.key_secret not in said


def test_a_bad_level_is_refused_in_one_line(tmp_path: Path) -> None:
    refused = subprocess.run(
        [str(PIPELINE), "status"],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "PIPELINE_LOG_LEVEL": "chatty"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    said = refused.stderr.strip()
    assert said.count("\n") == 0 and "PIPELINE_LOG_LEVEL must be one of DEBUG" in said
