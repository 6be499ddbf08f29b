"""The CLI as a user runs it (``python -m pipeline.cli`` subprocesses against a sandbox in this
process): a bad setting stops with ONE clear line on stderr and exit code 2, never a traceback,
and credentials never appear in any output, of a failing run or of a successful one.

The subprocesses of this module run in a module fixture, at most ``CLI_AT_ONCE`` at a time:
eleven Python processes importing Dagster at once starve a 2-core machine (and anything else
running on it) for no gain.
"""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from reliability_kit import DAY0, assert_exactly_the_sandbox_calls, cli_command, cli_env, resource

from pipeline.ingest.runner import ingest_windows
from pipeline.ingest.windows import hourly_windows
from pipeline.jobs import run_ingest_job
from pipeline.sandbox.testing import sandbox_server
from pipeline.sinch.errors import AuthError
from tests.conftest import quiet_console

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "rel-Secret-9f3c1a7e-do-not-print"
WRONG_SECRET = "wrong-Secret-77aa5b-do-not-print"
HOURS = ["--start", "2026-11-16T00", "--end", "2026-11-16T06"]
#: CLI processes running at the same time.
CLI_AT_ONCE = 2
#: Hang guard only, per process.
HANG_GUARD_S = 240


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def _run(cmd: list[str], env: dict[str, str]) -> Outcome:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    return Outcome(result.returncode, result.stdout, result.stderr)


def _leaks(text: str, key_id: str, secret: str, tokens: list[str]) -> list[str]:
    basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    needles = [secret, basic, *tokens]
    return [n[:12] + "..." for n in needles if n and n in text]


#: name -> (environment changes, arguments instead of HOURS, words the error line must contain)
BAD_SETTINGS = {
    "api-url-not-the-api": ({"SINCH_API_URL": "{base}/nope"}, None, ["404", "SINCH_API_URL"]),
    "api-url-nothing-listening": (
        {"SINCH_API_URL": "http://127.0.0.1:{closed}"},
        None,
        ["Connection refused", "SINCH_API_URL"],
    ),
    "auth-url-nothing-listening": (
        {"SINCH_AUTH_URL": "http://127.0.0.1:{closed}"},
        None,
        ["Connection refused", "SINCH_AUTH_URL"],
    ),
    "api-url-garbage": ({"SINCH_API_URL": "htp:/nope"}, None, ["http:// or https:// URL"]),
    "wrong-credentials": ({"SINCH_KEY_SECRET": WRONG_SECRET}, None, ["refused the key", "401"]),
    "start-after-end": (
        {},
        ["--start", "2026-11-17T00", "--end", "2026-11-16T00"],
        ["must be before"],
    ),
    "start-not-an-hour": ({}, ["--start", "2026-11-16T00:30", "--end", "2026-11-17"], ["hour"]),
    "bad-report-tz": ({"REPORT_TZ": "Mars/Olympus"}, None, ["unknown time zone", "Mars/Olympus"]),
    "incomplete-credentials": ({"SINCH_KEY_SECRET": ""}, None, ["SINCH_KEY_SECRET"]),
    "bad-rate-limit": ({"SINCH_RATE_LIMIT": "fast"}, None, ["SINCH_RATE_LIMIT"]),
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory):
    """Run every bad-settings case and one successful faulty run, two at a time."""
    tmp = tmp_path_factory.mktemp("cli")
    closed = _closed_port()
    # the bad settings talk to a well-behaved sandbox (their error must be theirs, not a 429);
    # the successful run to a faulty one (retries and token refreshes get logged)
    with (
        sandbox_server(key_secret=SECRET) as clean,
        sandbox_server(
            key_secret=SECRET, rate_429=0.3, retry_after_s=0.01, token_max_requests=4
        ) as sb,
    ):
        ok_db = tmp / "ok.duckdb"
        runs: dict[str, tuple[list[str], dict[str, str]]] = {  # the longest first
            # one fetcher: with a token that dies after 4 requests, a second fetcher could use
            # up the refreshed token while the first waits to retry (likely on a loaded box)
            # and the run would fail on a second "expired", which no real token does
            "ok": (
                cli_command("ingest", *HOURS, "--db", str(ok_db), "--no-analytics"),
                cli_env(sb, CALLS_FETCH_CONCURRENCY="1"),
            )
        }
        for name, (changes, args, _) in BAD_SETTINGS.items():
            env = cli_env(
                clean,
                **{k: v.format(base=clean.base_url, closed=closed) for k, v in changes.items()},
            )
            if changes.get("SINCH_KEY_SECRET") == "":
                del env["SINCH_KEY_SECRET"]
            cmd = cli_command("ingest", *(args or HOURS), "--db", str(tmp / f"{name}.duckdb"))
            runs[name] = (cmd, env)
        with ThreadPoolExecutor(CLI_AT_ONCE) as pool:
            futures = {name: pool.submit(_run, cmd, env) for name, (cmd, env) in runs.items()}
            outcomes = {name: future.result() for name, future in futures.items()}
        tokens = list(sb.app_state.tokens) + list(clean.app_state.tokens)
        if outcomes["ok"].code == 0:
            assert_exactly_the_sandbox_calls(sb, ok_db, DAY0, DAY0 + timedelta(hours=6))
        yield outcomes, sb.key_id, tokens, dict(sb.app_state.stats)


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=BAD_SETTINGS.keys())
def test_bad_setting_stops_with_one_clear_line(cli_runs, case):
    outcomes, *_ = cli_runs
    result = outcomes[case]
    words = BAD_SETTINGS[case][2]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


def test_credentials_never_in_cli_output(cli_runs):
    """A successful run with retries and token refreshes (warnings logged) and every failing
    run: no key secret, Basic credential or access token in stdout or stderr."""
    outcomes, key_id, tokens, stats = cli_runs
    ok = outcomes["ok"]
    assert ok.code == 0, ok.stderr
    assert stats["faults_429"] > 0 and stats["tokens_issued"] > 2
    for name, result in outcomes.items():
        text = result.stdout + result.stderr
        for secret in (SECRET, WRONG_SECRET):
            assert not _leaks(text, key_id, secret, tokens), name


def test_credentials_never_in_logs_or_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """In-process, everything logged at DEBUG (client, auth, ingest, Dagster's run output) of
    a faulty successful run and of a run with a wrong secret, plus the error itself."""
    caplog.set_level(logging.DEBUG)
    start, end = DAY0, DAY0 + timedelta(hours=4)
    with sandbox_server(
        key_secret=SECRET, rate_429=0.3, retry_after_s=0.01, rate_5xx=0.1, token_max_requests=3
    ) as sb:
        console = quiet_console()
        assert run_ingest_job(
            start,
            end,
            db_path=tmp_path / "ok.duckdb",
            report_tz="UTC",
            console=console,
            # one fetcher, so a token that dies after 3 requests is never used up by other
            # fetchers between a refresh and its retry (a race that load made real)
            sinch=resource(sb, concurrency=1),
        ), console.file.getvalue()
        res = resource(sb, key_secret=WRONG_SECRET)
        with res.open_client() as client, pytest.raises(AuthError) as failure:
            ingest_windows(client, tmp_path / "bad.duckdb", hourly_windows(start, end))
        bad_console = quiet_console()
        assert not run_ingest_job(
            start,
            end,
            db_path=tmp_path / "bad2.duckdb",
            report_tz="UTC",
            console=bad_console,
            sinch=res,
        )
        tokens = list(sb.app_state.tokens)
        key_id = sb.key_id
    texts = {
        "logs": caplog.text,
        "console": console.file.getvalue(),
        "failed-run console": bad_console.file.getvalue(),
        "error": f"{failure.value}\n{failure.value!r}\n{failure.value.body}",
        "resource repr": repr(res) + repr(resource(sb)),
    }
    assert "refused the key" in texts["failed-run console"]
    assert len(tokens) > 2 and "retrying" in caplog.text
    for name, text in texts.items():
        for secret in (SECRET, WRONG_SECRET):
            assert not _leaks(text, key_id, secret, tokens), name
