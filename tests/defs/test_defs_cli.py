"""The `pipeline` command: bad settings stop with one clear line and exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ingest", "--start", "2026-11-02T00", "--end", "2026-11-01T00"], {}, "must be before"),
        (["ingest", "--start", "yesterday", "--end", "2026-11-01T00"], {}, "ISO time"),
        (["ingest", "--start", "2026-11-01T00:30", "--end", "2026-11-01T02"], {}, "whole hour"),
        (["demo", "--report-tz", "Mars/Olympus"], {}, "unknown time zone"),
        (["demo"], {"SINCH_PROJECT_ID": "p"}, "incomplete Sinch credentials"),
    ],
)
def test_bad_settings_give_one_line(args, env, message, monkeypatch, tmp_path):
    for name in ("SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, [*args, "--db", str(tmp_path / "x.duckdb")], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3  # typer may wrap one long line
