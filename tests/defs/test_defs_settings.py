"""Settings read from the environment: sizes DuckDB will accept, and nothing it would refuse."""

from __future__ import annotations

import duckdb
import pytest

from pipeline import settings


@pytest.mark.parametrize("value", ["512MB", "512 mb", "4G", "1.5GB", "2GiB", "200000KB", "1 TB"])
def test_memory_limits_we_accept_duckdb_accepts(value, monkeypatch):
    monkeypatch.setenv("CALLS_DB_MEMORY_LIMIT", value)
    accepted = settings.db_memory_limit()
    with duckdb.connect() as con:
        con.execute("SET memory_limit = ?", [accepted])  # raises if DuckDB refuses it


@pytest.mark.parametrize(
    "value", ["lots", "512", "-5MB", "1e3MB", "2Gi", "0MB", "64MB", "1024KiB", "99999TB"]
)
def test_memory_limits_refused_in_one_line(value, monkeypatch):
    monkeypatch.setenv("CALLS_DB_MEMORY_LIMIT", value)
    with pytest.raises(settings.SettingsError, match="CALLS_DB_MEMORY_LIMIT must be"):
        settings.db_memory_limit()


@pytest.mark.parametrize(("value", "expected"), [("", "512MB"), ("none", None), ("None", None)])
def test_memory_limit_default_and_none(value, expected, monkeypatch):
    monkeypatch.setenv("CALLS_DB_MEMORY_LIMIT", value)
    assert settings.db_memory_limit() == expected


def test_a_well_formed_rate_limit_store_is_accepted_without_contacting_it(monkeypatch):
    """Nothing listens on port 1: an unreachable store fails the run (exit 1), not the check."""
    monkeypatch.setenv(settings.RATE_LIMIT_STORE_VAR, "redis://:hunter2@127.0.0.1:1/0")
    assert settings.rate_limit_store() == "redis://:hunter2@127.0.0.1:1/0"
    monkeypatch.setenv(settings.RATE_LIMIT_STORE_VAR, "")
    assert settings.rate_limit_store() is None


def test_an_unknown_rate_limit_store_is_refused_with_its_password_masked(monkeypatch):
    monkeypatch.setenv(settings.RATE_LIMIT_STORE_VAR, "foo://user:hunter2@bar")
    with pytest.raises(settings.SettingsError, match="SINCH_RATE_LIMIT_STORE") as caught:
        settings.rate_limit_store()
    assert "hunter2" not in str(caught.value)
