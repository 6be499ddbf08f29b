"""Fixtures for the sandbox tests: a fixed clock, a running sandbox, an httpx client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.sandbox.server import SandboxHandle
from pipeline.sandbox.testing import FakeClock, sandbox_server

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
REPO = Path(__file__).resolve().parents[2]
#: 3,600 real calls as a Sinch export (tests/data/copenhagen-calls/README.md: source, licence).
COPENHAGEN = REPO / "tests" / "data" / "copenhagen-calls" / "EST_call_records.csv"


@pytest.fixture
def clock() -> FakeClock:
    """A fixed clock at ``NOW`` that tests can move."""
    return FakeClock(NOW)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """A default sandbox (seed 20260101, no faults, variants off) with the clock fixed at NOW."""
    with sandbox_server(now=FakeClock(NOW), variant_rate=0.0) as sb:
        yield sb


def client_for(sb: SandboxHandle) -> httpx.Client:
    """An httpx client with Basic auth against ``sb``."""
    return httpx.Client(base_url=sb.base_url, auth=(sb.key_id, sb.key_secret), timeout=30)


@pytest.fixture(scope="module")
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    """A client for the module's sandbox."""
    with client_for(sandbox) as c:
        yield c


def fetch_all(
    c: httpx.Client, sb: SandboxHandle, query: str, size: int = 1000
) -> tuple[list[dict[str, Any]], int]:
    """Walk every page of ``/calls?{query}``; returns (calls, last totalItems)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        sep = "&" if query else ""
        r = c.get(f"/v1/projects/{sb.project_id}/calls?{query}{sep}size={size}&page={page}")
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["calls"])
        if not body["calls"] or page * size >= body["totalItems"]:
            return out, body["totalItems"]
        page += 1
