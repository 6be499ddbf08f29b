"""The distributed deploy on one machine: every server on 127.0.0.1, each stopped by its PID.

:func:`distributed_stack` starts PostgreSQL (Dagster's storage), Redis (the Celery broker and
result backend), moto's S3 (the Delta lake), a Dagster code server (``dagster api grpc``), the
Dagster daemon and Celery workers (``dagster-celery worker start``), with ``deploy/dagster.yaml``
as the instance and ``deploy/celery.yaml`` as the workers' settings. Each process runs in its
own session; stopping it signals its process group. Every start waits on a readiness signal
(a query that answers, a log line, a heartbeat), never on the clock. The tests in this folder
and ``bench/distributed_backfill.py`` share it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dagster as dg

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
BUCKET = "calls-lake"
LOCATION = "sinch_calls"
#: Hang guards: how long a server may take to get ready on a loaded 2-core machine.
READY_TIMEOUT_S = 180.0

#: The child process: moto's S3 on 127.0.0.1, stopped with its process group.
MOTO_SERVER = """
import sys, threading
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
threading.Event().wait()
"""


def postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres`` (PATH, then /usr/lib/postgresql)."""
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def missing_servers() -> str | None:
    """Why the stack cannot start here (a server binary not found), or None."""
    missing = []
    if postgres_bin() is None:
        missing.append("PostgreSQL (initdb, postgres)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed (.ci/run installs them with apt-get)"


@dataclass
class Service:
    """A started server: its process (its own process group) and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def text(self) -> str:
        """The log so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` until true; fail at once if the process exits, or after the guard."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if self.process.poll() is not None:
                msg = f"{self.name} exited ({self.process.returncode}):\n{self.text()[-3000:]}"
                raise RuntimeError(msg)
            if time.monotonic() > deadline:
                msg = f"{self.name}: no {what} after {READY_TIMEOUT_S} s:\n{self.text()[-3000:]}"
                raise TimeoutError(msg)
            time.sleep(0.2)

    def stop(self) -> None:
        """Signal the process group, then kill it if it has not exited within 60 s."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, self.stop_signal)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # children left in the group
            os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Stack:
    """The running deploy: the environment every process shares, and the processes."""

    workdir: Path
    env: dict[str, str]
    grpc_port: int
    services: list[Service] = field(default_factory=list)

    @property
    def lake_uri(self) -> str:
        """The Delta lake the runs write."""
        return self.env["CALLS_LAKE_URI"]

    def start(self, name: str, command: list[str], **options: object) -> Service:
        """Start ``command`` in its own session, output to ``<workdir>/<name>.log``."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, process, log, **options)  # type: ignore[arg-type]
        self.services.append(service)
        return service

    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance of the deploy (Postgres), for this process."""
        with environment(self.env):
            return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def start_worker(self, name: str, concurrency: int) -> Service:
        """A Celery worker running up to ``concurrency`` runs at once; returns once ready."""
        command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        command += ["-y", str(DEPLOY / "celery.yaml"), "-n", name, "-l", "INFO", "--"]
        command += [f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
        worker = self.start(name, command)
        worker.wait_until(lambda: " ready." in worker.text(), "ready line")
        return worker


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``values`` inside the block, restored after."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _start_postgres(stack: Stack, datadir: Path) -> str:
    folder = postgres_bin()
    assert folder is not None
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(datadir, "postgres", "postgres")
        as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    init = [*as_postgres, str(folder / "initdb"), "-D", str(datadir / "data")]
    init += ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    subprocess.run(init, check=True, capture_output=True, env=stack.env)
    port = free_port()
    server = [*as_postgres, str(folder / "postgres"), "-D", str(datadir / "data")]
    server += ["-h", "127.0.0.1", "-p", str(port), "-k", str(datadir)]
    server += ["-c", "fsync=off", "-c", "max_connections=300"]
    service = stack.start("postgres", server, stop_signal=signal.SIGINT)  # fast shutdown
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"

    def answers() -> bool:
        import psycopg2

        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="postgres").close()
        except psycopg2.OperationalError:
            return False
        return True

    service.wait_until(answers, "answer to a connection")
    return url


def _start_redis(stack: Stack) -> str:
    import redis

    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no"]
    service = stack.start("redis", command)
    client = redis.Redis(host="127.0.0.1", port=port)

    def pong() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    service.wait_until(pong, "PONG")
    client.close()
    return f"redis://127.0.0.1:{port}"


def _start_moto(stack: Stack) -> dict[str, str]:
    import boto3

    port = free_port()
    service = stack.start("moto", [sys.executable, "-c", MOTO_SERVER, str(port)])
    service.wait_until(lambda: "ready" in service.text(), "ready line")
    aws = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    boto3.client(
        "s3",
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    return aws


def _base_env(workdir: Path, report_tz: str, max_runs: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SINCH_", "CALLS_", "AWS_"))}
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    env.update(
        DAGSTER_HOME=str(home),
        DAGSTER_MAX_CONCURRENT_RUNS=str(max_runs),
        CALLS_RUN_EXECUTOR="in_process",
        CALLS_BACKFILL_HOURS_PER_RUN="1",
        REPORT_TZ=report_tz,
        SANDBOX_SEED="7",
        PYTHONUNBUFFERED="1",
    )
    return env


def _start_dagster(stack: Stack) -> None:
    host = stack.env["DAGSTER_CODE_SERVER_HOST"]
    grpc = [str(BIN / "dagster"), "api", "grpc", "--module-name", "pipeline.definitions"]
    grpc += ["--host", host, "--port", str(stack.grpc_port), "--location-name", LOCATION]
    code_server = stack.start("code-server", grpc)

    def serving() -> bool:
        from dagster._grpc.client import DagsterGrpcClient

        try:
            DagsterGrpcClient(port=stack.grpc_port, host=host).ping("ready")
        except Exception:
            return False
        return True

    code_server.wait_until(serving, "gRPC ping answer")
    daemon = stack.start(
        "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(DEPLOY / "workspace.yaml")]
    )
    instance = stack.instance()
    try:

        def beating() -> bool:
            beats = instance.get_daemon_heartbeats()
            return {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= set(beats)

        daemon.wait_until(beating, "heartbeats of the backfill and run queue daemons")
    finally:
        instance.dispose()


@contextlib.contextmanager
def distributed_stack(
    workdir: Path,
    *,
    workers: int = 2,
    concurrency: int = 4,
    max_runs: int = 8,
    report_tz: str = "UTC",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the whole deploy; stop every process (by process group) when the block exits.

    Args:
        workdir: where the logs and ``DAGSTER_HOME`` go.
        workers: Celery workers to start (more with :meth:`Stack.start_worker`).
        concurrency: runs each worker runs at once.
        max_runs: the run queue's limit (``DAGSTER_MAX_CONCURRENT_RUNS``; backfills: 8).
        report_tz: ``REPORT_TZ`` of the runs.
        extra_env: more variables for every process (e.g. ``CALLS_PROJECTS_FILE``).

    Yields:
        The running stack; its lake's tables exist (created before any run writes).
    """
    from pipeline.warehouse.lake import LakeWarehouse

    datadir = Path(tempfile.mkdtemp(prefix="calls-pg-"))  # readable by the postgres user
    stack = Stack(workdir, _base_env(workdir, report_tz, max_runs), free_port())
    stack.env.update(extra_env or {})
    try:
        pg_url = _start_postgres(stack, datadir)
        redis_url = _start_redis(stack)
        stack.env.update(_start_moto(stack))
        stack.env.update(
            DAGSTER_PG_URL=pg_url,
            DAGSTER_CELERY_BROKER_URL=f"{redis_url}/0",
            DAGSTER_CELERY_BACKEND_URL=f"{redis_url}/1",
            DAGSTER_CODE_SERVER_HOST="127.0.0.1",
            DAGSTER_CODE_SERVER_PORT=str(stack.grpc_port),
            CALLS_LAKE_URI=f"s3://{BUCKET}/warehouse",
        )
        # delta-rs fails concurrent first writes ("Protocol changed"): create the tables now.
        with environment(stack.env):
            LakeWarehouse(stack.lake_uri).lake.ensure_tables()
        _start_dagster(stack)
        for number in range(1, workers + 1):
            stack.start_worker(f"worker{number}", concurrency)
        yield stack
    finally:
        for service in reversed(stack.services):
            service.stop()
        shutil.rmtree(datadir, ignore_errors=True)


def partition_keys(
    partitions_def: dg.PartitionsDefinition, start: datetime, end: datetime
) -> list[str]:
    """The job's partition keys whose hour lies in ``[start, end)``, in the job's own format.

    A multi-partitioned job (``hour`` × ``project``) gets every key of its other dimensions
    for each hour, so the harness needs no key strings of its own.
    """
    window = dg.TimeWindow(start, end)
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return list(partitions_def.get_partition_keys_in_time_window(window))
    assert isinstance(partitions_def, dg.MultiPartitionsDefinition), partitions_def
    per_dimension = []
    for dimension in partitions_def.partitions_defs:
        inner = dimension.partitions_def
        keys = (
            inner.get_partition_keys_in_time_window(window)
            if isinstance(inner, dg.TimeWindowPartitionsDefinition)
            else inner.get_partition_keys()
        )
        per_dimension.append([(dimension.name, key) for key in keys])
    combos: list[list[tuple[str, str]]] = [[]]
    for pairs in per_dimension:
        combos = [[*combo, pair] for combo in combos for pair in pairs]
    return [dg.MultiPartitionKey(dict(combo)) for combo in combos]
