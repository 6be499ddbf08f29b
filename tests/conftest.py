"""Shared fixtures: the sandbox as an API resource, and a demo warehouse built by the real job.

``demo_db`` runs the ``ingest_calls`` Dagster job in-process against the embedded sandbox over
real HTTP on loopback, exactly as ``pipeline demo`` does, for a fixed closed range, so query,
notebook and report tests read the same tables a user would. It takes 10-20 s, so every test
that uses it, directly or through another fixture, is marked ``slow`` at collection (see
``pytest_collection_modifyitems``): ``pytest -m "not slow"`` never builds it.

The ``pipeline`` command records its runs in a persistent Dagster instance (``DAGSTER_HOME``,
default ``./.dagster``). No test may write one into the checkout or share one with another test
(SQLite storage, and a pool slot a killed run left claimed): ``DAGSTER_HOME`` points to a
temporary folder for the session (session fixtures) and to a fresh one for each test
(:func:`dagster_home`, autouse), inherited by the commands the tests start.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.defs.resources import SinchCallsResource
from pipeline.jobs import run_ingest_job
from pipeline.sandbox.server import SandboxHandle
from pipeline.sandbox.testing import sandbox_server

REPO = Path(__file__).resolve().parents[1]
#: Test data kept in the repository, each set with its source and licence in its README.md.
TEST_DATA = REPO / "tests" / "data"
#: 3,600 real calls as a Sinch export (Copenhagen Networks Study, CC BY 4.0).
COPENHAGEN_CSV = TEST_DATA / "copenhagen-calls" / "EST_call_records.csv"

#: The demo warehouse covers these closed UTC hours (a Monday to a Thursday).
DEMO_START = datetime(2026, 11, 16, 0, tzinfo=UTC)
DEMO_END = DEMO_START + timedelta(days=3)
DEMO_TZ = "Europe/Copenhagen"
DEMO_SEED = 7
#: A projects file (CALLS_PROJECTS_FILE) of two sandbox projects: project × hour partitions.
TWO_SANDBOX_PROJECTS = """
[[project]]
id = "acme-eu"
name = "Acme EU"

[[project]]
id = "acme-us"
name = "Acme US"
"""


_SESSION_DAGSTER_HOME = Path(tempfile.mkdtemp(prefix="dagster-home-session-"))


def pytest_configure(config: pytest.Config) -> None:
    """Point ``DAGSTER_HOME`` away from the checkout (and the developer's own instance); let
    the processes the tests start take Ctrl-C as from a terminal.

    A shell without job control starts a background command (``pytest ... &``, a CI step run
    that way) with SIGINT ignored, and an ignored signal stays ignored in every process it
    starts: Python then installs no ``KeyboardInterrupt``, and the tests that press Ctrl-C on
    a child (``pipeline sandbox serve``, an interrupted ingest) waited for an exit that never
    came. The default disposition is what a user's terminal gives the command.
    """
    os.environ["DAGSTER_HOME"] = str(_SESSION_DAGSTER_HOME)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_DAGSTER_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def dagster_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own, empty Dagster instance folder (``DAGSTER_HOME``)."""
    home = tmp_path_factory.mktemp("dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # Unset for each test and restored afterwards: ``open_instance`` sets it for its process
    # (pipeline.state.instance), which would otherwise carry over into later tests.
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
    return home


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that needs the demo warehouse (the job over 3 days)."""
    for item in items:
        if "demo_db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def api_resource(sb: SandboxHandle, **overrides) -> SinchCallsResource:
    """A real-API resource pointed at a running sandbox (the production code path)."""
    settings = {
        "project_id": sb.project_id,
        "key_id": sb.key_id,
        "key_secret": sb.key_secret,
        "api_url": sb.base_url,
        "auth_url": sb.auth_url,
        **overrides,
    }
    return SinchCallsResource(**settings)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts as a subprocess)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_env(sb: SandboxHandle) -> dict[str, str]:
    """The ``SINCH_*`` variables that point the ``pipeline`` command at a running sandbox."""
    return {
        "SINCH_PROJECT_ID": sb.project_id,
        "SINCH_KEY_ID": sb.key_id,
        "SINCH_KEY_SECRET": sb.key_secret,
        "SINCH_API_URL": sb.base_url,
        "SINCH_AUTH_URL": sb.auth_url,
    }


def wait_for(condition: Callable[[], object], what: str, guard_s: float = 60.0) -> None:
    """Wait until ``condition()`` is true; ``guard_s`` only stops a hang (then the test fails)."""
    deadline = time.monotonic() + guard_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def quiet_console() -> Console:
    """A console that writes to memory (tests read ``console.file.getvalue()``)."""
    return Console(file=io.StringIO(), width=200)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with 3 days of sandbox traffic, raw and analytics, report TZ Copenhagen."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    console = quiet_console()
    with sandbox_server(seed=DEMO_SEED) as sb:
        ok = run_ingest_job(
            DEMO_START,
            DEMO_END,
            db_path=path,
            report_tz=DEMO_TZ,
            console=console,
            sinch=api_resource(sb),
        )
    assert ok, f"the demo job failed:\n{console.file.getvalue()}"
    return path


@pytest.fixture
def make_sandbox() -> Callable[..., AbstractContextManager[SandboxHandle]]:
    """Factory: ``with make_sandbox(seed=1, rate_429=0.5) as sb: ...`` (free loopback port)."""
    return sandbox_server
