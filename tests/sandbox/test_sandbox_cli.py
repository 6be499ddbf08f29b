"""`python -m pipeline.sandbox serve` prints its URL and credentials and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime

import httpx
from typer.testing import CliRunner


def test_serve_prints_url_and_stops_on_ctrl_c():
    cmd = [sys.executable, "-m", "pipeline.sandbox", "serve", "--port", "0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        base = re.search(r"http://127\.0\.0\.1:\d+", out).group(0)
        key = re.search(r"keyId\s+(\S+)", out).group(1)
        secret = re.search(r"keySecret\s+(\S+)", out).group(1)
        project = re.search(r"projectId\s+(\S+)", out).group(1)
        r = httpx.get(f"{base}/v1/projects/{project}/trunks", auth=(key, secret))
        assert r.status_code == 200 and r.json()["totalItems"] == 5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0  # a hang guard: it stops in well under a second
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_options_reach_the_settings(monkeypatch):
    import pipeline.sandbox.cli as cli

    seen = []

    def fake_run_sandbox(settings):
        seen.append(settings)
        raise OSError("stop here")

    monkeypatch.setattr(cli, "run_sandbox", fake_run_sandbox)
    args = [
        "serve", "--max-result-window", "10000", "--result-window-mode", "error",
        "--unstable-order", "--strict-lower-bound", "--page-size-key", "pageSize",
        "--float-money", "--busy-hour-calls", "25000", "--envelope-fault", "calls-null",
        "--envelope-fault-rate", "0.5", "--trunks-envelope-fault", "--total-items-cap", "1000",
        "--echo-authorization", "--gzip-bomb", "--gzip-bomb-rate", "0.25", "--extreme-times",
        "--duplicate-across-windows-rate", "0.1", "--header-drip", "0.5",
        "--token-lifetime", "30", "--export-fault", "short-rows", "--export-fault-rate", "0.2",
    ]  # fmt: skip
    result = CliRunner().invoke(cli.sandbox_app, args)
    assert result.exit_code == 2 and "stop here" in result.output
    s = seen[0]
    assert (s.max_result_window, s.result_window_mode) == (10000, "error")
    assert s.page_size_key == "pageSize"
    assert s.unstable_order and s.strict_lower_bound and s.float_money and s.extreme_times
    assert (s.busy_hour_calls, s.total_items_cap, s.token_lifetime_s) == (25000, 1000, 30.0)
    assert (s.envelope_fault, s.envelope_fault_rate) == ("calls-null", 0.5)
    assert s.trunks_envelope_fault and s.echo_authorization
    assert (s.gzip_bomb, s.gzip_bomb_rate) == (True, 0.25)
    assert (s.duplicate_across_windows_rate, s.header_drip_s) == (0.1, 0.5)
    assert (s.export_fault, s.export_fault_rate) == ("short-rows", 0.2)
    defaults = CliRunner().invoke(cli.sandbox_app, ["serve"])
    assert defaults.exit_code == 2
    d = seen[1]
    assert d.max_result_window is None and d.envelope_fault is None and d.header_drip_s == 0
    assert d.export_fault is None
    assert not (d.unstable_order or d.float_money or d.gzip_bomb or d.echo_authorization)


def test_serve_rejects_a_bad_choice():
    from pipeline.sandbox.cli import sandbox_app

    result = CliRunner().invoke(sandbox_app, ["serve", "--page-size-key", "limit"])
    assert result.exit_code == 2 and "page_size_key must be one of" in result.output
    result = CliRunner().invoke(sandbox_app, ["serve", "--export-fault", "teapot"])
    assert result.exit_code == 2 and "export_fault must be one of" in result.output


def test_serve_degrades_an_hour(monkeypatch):
    import pipeline.sandbox.cli as cli

    seen = []

    def fake_run_sandbox(settings):
        seen.append(settings)
        raise OSError("stop here")

    monkeypatch.setattr(cli, "run_sandbox", fake_run_sandbox)
    args = ["serve", "--degraded-hour", "2026-11-16T09", "--degraded-trunk", "T1",
            "--degraded-failed-share", "0.75"]  # fmt: skip
    assert CliRunner().invoke(cli.sandbox_app, args).exit_code == 2
    s = seen[0]
    assert s.degraded_hour == datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert (s.degraded_trunk_id, s.degraded_failed_share) == ("T1", 0.75)
    bad = CliRunner().invoke(cli.sandbox_app, ["serve", "--degraded-hour", "2026-11-16T09:30"])
    assert bad.exit_code == 2 and "whole hour" in bad.output
