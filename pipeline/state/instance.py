"""The persistent Dagster instance shared by the ``pipeline`` command and ``dagster dev``.

``DAGSTER_HOME`` when set, else ``.dagster/`` under the working directory. The folder is
created on first use with a ``dagster.yaml`` copied from the repository's (or the installed
wheel's, :func:`pipeline.resources.dagster_yaml_path`): pools of one writer, run monitoring,
telemetry off. An existing ``dagster.yaml`` is never overwritten.

A run the command started carries its process id and host (:data:`PID_TAG`, :data:`HOST_TAG`).
A process killed mid-run (``kill -9``, a crash) leaves its run STARTED and its slot of the
``duckdb_writer`` pool claimed, which would block every later run: :func:`open_instance` marks
such runs failed and frees their slots before anything runs (no daemon is needed for that).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef

from pipeline.resources import dagster_yaml_path
from pipeline.settings import SettingsError
from pipeline.state.event_log import EVENT_BATCH_SIZE, storage_override

#: The instance folder under the working directory when ``DAGSTER_HOME`` is unset.
DEFAULT_DIR = ".dagster"
#: Tags on every run the ``pipeline`` command starts.
PID_TAG = "pipeline/pid"
HOST_TAG = "pipeline/host"
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

log = logging.getLogger("pipeline.state")


def dagster_home() -> Path:
    """The instance folder: ``$DAGSTER_HOME``, else ``./.dagster``.

    Raises:
        SettingsError: ``DAGSTER_HOME`` is a relative path. Dagster itself refuses one
            (``dagster dev`` would stop), and taken relative to each command's working
            directory it would silently create a new, empty instance wherever a command runs.
    """
    raw = os.environ.get("DAGSTER_HOME", "").strip()
    if not raw:
        return Path.cwd().resolve() / DEFAULT_DIR
    home = Path(raw).expanduser()
    if not home.is_absolute():
        msg = (
            f"DAGSTER_HOME={raw} is a relative path; Dagster needs an absolute one "
            f"(e.g. DAGSTER_HOME={Path.cwd().resolve() / raw})"
        )
        raise SettingsError(msg)
    return home.resolve()


def run_tags() -> dict[str, str]:
    """The tags that let a later command tell whether this process still runs its run."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


@contextmanager
def open_instance(home: Path | None = None) -> Iterator[dg.DagsterInstance]:
    """Open (creating if needed) the persistent instance, with dead runs cleaned up.

    Creating the folder, its ``dagster.yaml`` and the SQLite storage happens under a file
    lock (``<home>/.init.lock``), so two commands started at once on a fresh folder do not race.

    Args:
        home: the folder (default :func:`dagster_home`).

    Yields:
        The instance; disposed of on exit.

    Raises:
        SettingsError: the folder cannot be created or written, or its ``dagster.yaml`` is not
            a valid instance configuration (one line naming the folder).
    """
    home = home or dagster_home()
    try:
        instance = _create(home)
    except (OSError, dg.DagsterInvalidConfigError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"cannot use the Dagster instance in {home} (DAGSTER_HOME): {first}"
        raise SettingsError(msg) from None
    with instance:
        fail_dead_runs(instance)
        yield instance


#: What the command's instance changes in ``dagster.yaml``: no compute-log capture. Capturing
#: starts ``tail`` and watcher processes per step, in the terminal's process group: on Ctrl-C
#: each printed a ``KeyboardInterrupt`` traceback after the command's own message. The steps
#: report through the run's event log (what ``dagster dev`` shows) and the command's console;
#: runs launched from ``dagster dev`` keep their captured stdout/stderr.
CLI_OVERRIDES = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


#: ``dagster.yaml`` keys that choose a storage; with none of them the instance is SQLite in
#: the folder, and the command uses :class:`~pipeline.state.event_log.BatchingSqliteStorage`.
#: Dagster's switch for handing events to the storage in batches (read at every event).
BATCH_SIZE_VAR = "DAGSTER_EVENT_BATCH_SIZE"
_STORAGE_KEYS = frozenset(
    {"storage", "run_storage", "event_log_storage", "schedule_storage", "instance_class"}
)


def _cli_overrides(home: Path, config: Path) -> dict[str, Any]:
    """:data:`CLI_OVERRIDES`, plus the batching SQLite storage when the folder uses SQLite.

    That storage writes the same files as Dagster's (``dagster dev`` shares them) in far fewer
    transactions; Dagster hands it batches only with ``DAGSTER_EVENT_BATCH_SIZE`` set, so this
    sets it for the process unless the environment already does. A ``dagster.yaml`` that
    names a storage (PostgreSQL, a custom class) is left as it is.

    Raises:
        SettingsError: ``DAGSTER_EVENT_BATCH_SIZE`` is set but not a whole number (Dagster
            would fail on it at the first event, with a traceback).
    """
    batch = os.environ.get(BATCH_SIZE_VAR)
    if batch is not None and not batch.strip().lstrip("+-").isdigit():
        msg = f"{BATCH_SIZE_VAR}={batch!r} is not a whole number (events per batch; 0 = off)"
        raise SettingsError(msg)
    try:
        configured = yaml.safe_load(config.read_text()) or {}
    except yaml.YAMLError:
        configured = {}  # Dagster reports it, with the file's name
    if not isinstance(configured, dict) or _STORAGE_KEYS & configured.keys():
        return CLI_OVERRIDES
    os.environ.setdefault(BATCH_SIZE_VAR, str(EVENT_BATCH_SIZE))
    return {**CLI_OVERRIDES, "storage": storage_override(home)}


def _create(home: Path) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".init.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            config = home / "dagster.yaml"
            if not config.exists():
                shutil.copyfile(dagster_yaml_path(), config)
            ref = InstanceRef.from_dir(str(home), overrides=_cli_overrides(home, config))
            return dg.DagsterInstance.from_ref(ref)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs of ``pipeline`` processes gone from this host.

    Their pool slots are freed too, so the next run does not wait for a dead one. Runs of this
    process (other threads), of live processes, of other hosts, or launched by ``dagster dev``
    (no :data:`PID_TAG`) are left alone: run monitoring in the daemon handles those.

    Returns:
        The ids of the runs marked failed.
    """
    host = socket.gethostname()
    records = instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host}))
    failed = []
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid <= 0 or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(run, f"the pipeline process (pid {pid}) ended mid-run")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning("run %s of a process that died (pid %d) marked failed", run.run_id[:8], pid)
        failed.append(run.run_id)
    return failed


def cancel_own_unfinished_runs(instance: dg.DagsterInstance, reason: str) -> list[str]:
    """Mark canceled the unfinished runs this process started (:func:`run_tags`).

    For a Ctrl-C that escaped Dagster between creating a run and starting it (the run's
    resources, the plan): the run stayed ``NOT_STARTED`` in ``dagster dev`` until a later
    command found its process gone. Call it only once no run of this process is executing.

    Returns:
        The ids of the runs marked canceled.
    """
    records = instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags=run_tags()))
    for record in records:
        instance.report_run_canceled(record.dagster_run, message=reason)
    return [record.dagster_run.run_id for record in records]
