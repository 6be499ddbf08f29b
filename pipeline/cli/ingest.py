"""``pipeline demo``, ``pipeline ingest`` and ``pipeline migrate``: the commands that write.

They run the ``ingest_calls`` Dagster job in-process (:mod:`pipeline.jobs`) after checking the
settings, the hours asked for and, with credentials, the API (one request), so a mistake stops
with one line before anything is fetched. :mod:`pipeline.cli` registers them on the app.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline import settings
from pipeline.cli.common import JOB_FAILED, DbOption, console, db_path, fail, user_errors
from pipeline.entry import INTERRUPTED_EXIT
from pipeline.ingest.windows import floor_hour


@contextmanager
def interrupt_exits() -> Iterator[None]:
    """Turn :class:`~pipeline.jobs.IngestInterrupted` into its one-line message and exit 130."""
    from pipeline.jobs import IngestInterrupted

    try:
        yield
    except IngestInterrupted as exc:
        raise fail(str(exc), code=INTERRUPTED_EXIT) from None


VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="one line per window and per analytics table (else a progress bar)"
    ),
]


def quiet_dagster_warnings() -> None:
    """Hide Dagster's preview/beta warnings (imported here: user errors need no Dagster)."""
    import dagster as dg

    # Dagster flags preview/beta parameters we rely on (backfill policies, pools); users
    # cannot act on that, so keep it out of their terminal.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def check_api_access() -> None:
    """Check the settings the job reads and, with Sinch credentials set, reach the API.

    The API check is one request (``/trunks``), sent before the job starts. A bad number, a
    wrong URL, wrong credentials or an unknown project then stop with one line instead of a
    failed Dagster run and its step-by-step report. Transient faults (429, 5xx) are retried
    quietly, as the job would.

    Raises:
        SettingsError: the API could not be used; the message says which URL and why.
    """
    from pipeline.projects import configured_projects

    settings.fetch_concurrency()
    settings.page_size()
    settings.db_memory_limit()
    settings.max_result_window()
    # Bad in any mode, so refused with the sandbox too (which uses none of them): the README
    # promises that a bad value stops the command, credentials or not.
    mode = settings.auth_mode()
    settings.rate_limit(mode)
    settings.rate_limit_store()
    api_url = settings.http_url("SINCH_API_URL", settings.DEFAULT_API_URL)
    auth_url = settings.http_url("SINCH_AUTH_URL", settings.DEFAULT_AUTH_URL)
    projects = configured_projects()
    if not (projects[0].uses_real_api if projects else settings.uses_real_api()):
        settings.sandbox_seed()
        return
    import httpx

    from pipeline.defs.resources import SinchCallsResource
    from pipeline.sinch.errors import AuthError, ClientError, SinchApiError, TransportError

    # The job's own client factory, with quicker retries: a check that may still succeed.
    resource = SinchCallsResource(
        project_id=None if projects else settings.env("SINCH_PROJECT_ID", ""),
        key_id=None if projects else settings.env("SINCH_KEY_ID", ""),
        key_secret=None if projects else settings.env("SINCH_KEY_SECRET", ""),
        auth=mode,
        api_url=api_url,
        auth_url=auth_url,
        max_result_window=settings.max_result_window(),
        page_size=settings.page_size(),
        max_attempts=5,
        backoff_base_s=0.2,
        backoff_max_s=2.0,
        request_deadline_s=30.0,
    )
    sinch_log = logging.getLogger("pipeline.sinch")
    level = sinch_log.level
    sinch_log.setLevel(logging.ERROR)  # retry warnings of a check that may still succeed
    try:
        for project in [*projects] if projects else [None]:
            try:
                with resource.open_client(project) as client:
                    client.list_trunks()
            except (AuthError, ClientError, TransportError) as exc:
                # Credentials, project, or a URL where nothing answers: the user's to fix.
                where = f"SINCH_API_URL={api_url}" + (
                    f", SINCH_AUTH_URL={auth_url}" if mode == "oauth" else ""
                )
                which = f" for project {project.id}" if project else ""
                msg = f"cannot use the Sinch API{which} ({where}): {exc}"
                raise settings.SettingsError(msg) from None
    except SinchApiError as exc:
        # The server misbehaves (5xx, a deadline, a malformed answer): not a setting. The job
        # runs, lands what it can and exits 1 naming what it could not.
        console.print(f"[yellow]warning:[/] the API's first answer was not usable: {exc}")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        msg = f"SINCH_API_URL / SINCH_AUTH_URL is not a usable URL: {exc}"
        raise settings.SettingsError(msg) from None
    finally:
        sinch_log.setLevel(level)


def check_warehouse_file(path: Path) -> None:
    """Refuse, before the job starts, a warehouse file the job could not write.

    :func:`pipeline.settings.check_writable_db` checks the folder, permissions and header; an
    existing file is then opened read-only, as ``pipeline audit`` and ``sql`` open it, so a
    truncated or corrupt one stops here (:func:`~pipeline.cli.common.user_errors` prints
    DuckDB's reason in one line, exit 2) instead of failing every step of the run (exit 1).
    A file another process holds (an ingestion writing) is a warehouse: the job waits its turn.

    Raises:
        SettingsError: see :func:`~pipeline.settings.check_writable_db`.
        duckdb.Error: the file is not a database DuckDB can open.
    """
    settings.check_writable_db(str(path))
    if not path.exists():
        return
    from pipeline.warehouse.connection import WarehouseBusyError, connect

    try:
        with connect(path, read_only=True, lock_wait_s=0):
            pass
    except WarehouseBusyError:
        pass


def check_ingest_range(start: datetime, end: datetime, now: datetime) -> None:
    """Refuse, before anything is fetched, hours the job cannot take.

    Raises:
        SettingsError: ``start`` is before the first partition (``CALLS_PARTITIONS_START``),
            or ``end`` is after the hour now in progress.
    """
    from pipeline.defs.partitions import PARTITION_FORMAT, partitions_start

    first = datetime.strptime(partitions_start(), PARTITION_FORMAT).replace(tzinfo=UTC)
    if start < first:
        msg = (
            f"{start:%Y-%m-%dT%H} is before the first partition {first:%Y-%m-%dT%H} UTC: "
            "start later, or set CALLS_PARTITIONS_START earlier"
        )
        raise settings.SettingsError(msg)
    latest = floor_hour(now) + timedelta(hours=1)
    if end > latest:
        msg = (
            f"--end {end:%Y-%m-%dT%H} is in the future: the latest end is {latest:%Y-%m-%dT%H} "
            "UTC, the end of the hour now in progress (which a later run fetches again)"
        )
        raise settings.SettingsError(msg)


def parse_hour(value: str, option: str) -> datetime:
    """``YYYY-MM-DDTHH`` (or any ISO instant on a whole hour; no offset = UTC) → UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value if len(value) > 10 else value + "T00")
    except ValueError:
        msg = f"{option} must be an ISO time like 2026-11-23T05 (UTC), not {value!r}"
        raise settings.SettingsError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if floor_hour(parsed) != parsed:
        msg = f"{option} must be on a whole hour, not {value!r}"
        raise settings.SettingsError(msg)
    return parsed.astimezone(UTC)


def demo(
    days: Annotated[int, typer.Option(min=1, max=92, help="closed days to ingest")] = 7,
    db: DbOption = None,
    report_tz: Annotated[
        str | None, typer.Option(help="IANA zone of daily tables [env REPORT_TZ, default UTC]")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Run the main job: ingest the last DAYS days of calls and build the analytics tables.

    Without Sinch credentials in the environment it starts the embedded sandbox on 127.0.0.1;
    with them it talks to the real API. The runs are recorded in the Dagster instance
    (DAGSTER_HOME, default ./.dagster) that `dagster dev` and `pipeline status` read.
    """
    from pipeline.reporting.summary import print_summary

    with user_errors():
        tz = settings.check_time_zone(report_tz) if report_tz else settings.report_tz()
        path = db_path(db)
        if not settings.lake_uri():
            check_warehouse_file(path)
        end = floor_hour(datetime.now(UTC))
        start = end - timedelta(days=days)
        check_ingest_range(start, end, datetime.now(UTC))
        check_api_access()
        quiet_dagster_warnings()
        from pipeline.jobs import run_ingest_job
        from pipeline.state.instance import dagster_home, open_instance

        source = (
            "the Sinch API"
            if settings.uses_real_api()
            else "the embedded sandbox on 127.0.0.1 (no Sinch credentials set)"
        )
        console.print(
            f"Ingesting calls {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC from {source}",
            soft_wrap=True,
        )
        with open_instance() as instance, interrupt_exits():
            ok = run_ingest_job(
                start,
                end,
                db_path=path,
                report_tz=tz,
                console=console,
                instance=instance,
                verbose=verbose,
            )
        if not ok:
            raise fail(JOB_FAILED, code=1)
        print_summary(path, start, end, tz)
        where = settings.lake_uri() or path.resolve()
        console.print(f"Warehouse: [bold]{where}[/] (query it with `pipeline sql`).")
        console.print(
            f"Runs recorded in [bold]{dagster_home()}[/] (`pipeline status`; "
            f"`DAGSTER_HOME={dagster_home()} dagster dev` shows them).",
            soft_wrap=True,
        )


def ingest(
    start: Annotated[str, typer.Option(help="first hour, UTC, e.g. 2026-11-23T00")],
    end: Annotated[str, typer.Option(help="end hour (exclusive), UTC")],
    db: DbOption = None,
    analytics: Annotated[bool, typer.Option(help="also rebuild the analytics tables")] = True,
    verbose: VerboseOption = False,
) -> None:
    """Ingest (or re-ingest) the hours [START, END) through the Dagster job, idempotently.

    The runs are recorded in the Dagster instance (DAGSTER_HOME, default ./.dagster) that
    `dagster dev` and `pipeline status` read.
    """
    with user_errors():
        first, last = parse_hour(start, "--start"), parse_hour(end, "--end")
        if first >= last:
            raise settings.SettingsError(f"--start {start} must be before --end {end}")
        tz = settings.report_tz()
        check_ingest_range(first, last, datetime.now(UTC))
        if not settings.lake_uri():
            check_warehouse_file(db_path(db))
        check_api_access()
        quiet_dagster_warnings()
        from pipeline.jobs import run_ingest_job
        from pipeline.state.instance import open_instance

        with open_instance() as instance, interrupt_exits():
            ok = run_ingest_job(
                first,
                last,
                db_path=db_path(db),
                report_tz=tz,
                console=console,
                analytics=analytics,
                instance=instance,
                verbose=verbose,
            )
    if not ok:
        raise fail(JOB_FAILED, code=1)


def migrate(
    db: Annotated[
        Path | None,
        typer.Option("--db", help="DuckDB file to copy [env CALLS_DB_PATH]; opened read-only"),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="lake: a directory or s3://bucket/prefix [env CALLS_LAKE_URI]"),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="overwrite a lake that already holds rows")
    ] = False,
) -> None:
    """Copy a DuckDB warehouse into the Delta lake: every raw and analytics table, verified.

    Exit 2 when the lake already holds rows (unless --replace), 1 when a count does not match.
    """
    from pipeline.warehouse import migrate as mig

    with user_errors():
        target = to or settings.lake_uri()
        if not target:
            raise settings.SettingsError("give --to URI or set CALLS_LAKE_URI")
        try:
            copies = mig.migrate_with_progress(
                db_path(db),
                target,
                console,
                replace=replace,
                memory_limit=settings.db_memory_limit(),
            )
        except mig.MigrationRefusedError as exc:
            raise fail(str(exc)) from None
        except mig.MigrationError as exc:
            raise fail(str(exc), code=1) from None
    Console(highlight=False).print(mig.copies_table(copies, target))
    if not all(copy.ok for copy in copies):
        raise fail(f"the lake's row counts differ from the file's: {mig.RERUN}", code=1)
