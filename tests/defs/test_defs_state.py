"""The persistent instance of the ``pipeline`` command (:mod:`pipeline.state.instance`).

A new folder gets the repository's ``dagster.yaml`` (an existing one is kept); ``DAGSTER_HOME``
wins over ``./.dagster``; a run left STARTED by a ``pipeline`` process that died (``kill -9``)
is marked failed and its slot of the ``duckdb_writer`` pool freed when the next command opens
the instance, while runs of live processes are left alone.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from pipeline.defs.raw_assets import WRITER_POOL
from pipeline.state.instance import HOST_TAG, PID_TAG, dagster_home, open_instance
from tests.conftest import REPO


def test_home_is_dagster_home_else_dot_dagster_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "mine"))
    assert dagster_home() == tmp_path / "mine"
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.chdir(tmp_path)
    assert dagster_home() == tmp_path / ".dagster"


def test_a_new_folder_gets_the_repository_settings_and_an_existing_one_is_kept(
    tmp_path: Path,
) -> None:
    home = tmp_path / "new" / "home"
    with open_instance(home) as instance:
        assert instance.root_directory == str(home)
        assert instance.event_log_storage.supports_global_concurrency_limits
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with open_instance(home):
        pass
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def _run_of(instance: dg.DagsterInstance, pid: int) -> DagsterRun:
    run = DagsterRun(
        job_name="ingest_calls",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags={PID_TAG: str(pid), HOST_TAG: socket.gethostname()},
    )
    instance.add_run(run)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WRITER_POOL)
    storage.claim_concurrency_slot(WRITER_POOL, run.run_id, "raw__calls")
    return run


def test_a_run_of_a_dead_process_is_failed_and_its_pool_slot_freed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                          stdin=subprocess.PIPE) as alive:  # fmt: skip
        with open_instance(tmp_path) as instance:
            gone = _run_of(instance, dead.pid)
            claimed = instance.event_log_storage.get_concurrency_info(WRITER_POOL).claimed_slots
            assert [slot.run_id for slot in claimed] == [gone.run_id]
        with open_instance(tmp_path) as instance:  # the next command
            storage = instance.event_log_storage
            assert instance.get_run_by_id(gone.run_id).status == dg.DagsterRunStatus.FAILURE
            assert storage.get_concurrency_info(WRITER_POOL).claimed_slots == []
            running = _run_of(instance, alive.pid)
        with open_instance(tmp_path) as instance:
            assert instance.get_run_by_id(running.run_id).status == dg.DagsterRunStatus.STARTED
            claimed = instance.event_log_storage.get_concurrency_info(WRITER_POOL).claimed_slots
            assert [slot.run_id for slot in claimed] == [running.run_id]
        alive.stdin.close()


@pytest.mark.parametrize("broken", ["a file", "bad yaml"])
def test_an_unusable_instance_folder_is_one_line_exit_2(broken: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    home = tmp_path / "home"
    if broken == "a file":
        home.write_text("not a folder")
    else:
        home.mkdir()
        (home / "dagster.yaml").write_text("concurrency: [1, 2]\n")
    result = CliRunner().invoke(app, ["status"], env={"DAGSTER_HOME": str(home)})
    assert result.exit_code == 2, result.output
    assert f"cannot use the Dagster instance in {home} (DAGSTER_HOME)" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_relative_dagster_home_is_refused_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative DAGSTER_HOME once created a fresh instance under each working directory."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["status"], env={"DAGSTER_HOME": "relative/home"})
    assert result.exit_code == 2, result.output
    assert "DAGSTER_HOME=relative/home is a relative path" in result.output
    assert str(tmp_path / "relative" / "home") in result.output.replace("\n", "")
    assert not (tmp_path / "relative").exists()
    assert "Traceback" not in result.output


def test_status_refuses_an_end_in_the_future(dagster_home: Path) -> None:
    """Status once listed hours not yet begun as "missing", inviting an ingest that refuses them."""
    from datetime import UTC, datetime, timedelta

    from typer.testing import CliRunner

    from pipeline.cli import app

    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H")
    result = CliRunner().invoke(app, ["status", "--end", future])
    assert result.exit_code == 2, result.output
    assert f"--end {future} is in the future" in result.output
    assert "missing" not in result.output


def test_status_names_the_range_asked_when_it_ends_before_the_first_partition(
    dagster_home: Path,
) -> None:
    """It named the clamped start: "the range 2026-01-01T00 → 1900-01-02T00 holds no hour"."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(
        app, ["status", "--start", "1900-01-01T00", "--end", "1900-01-02T00"]
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "the range 1900-01-01T00 → 1900-01-02T00 holds no hour: it ends before the first" in said
