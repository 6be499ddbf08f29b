"""The lake on S3: the job against moto's S3 on loopback equals the DuckDB file.

moto's ``ThreadedMotoServer`` serves S3 on 127.0.0.1 (a free port) for this module; delta-rs
reaches it through ``AWS_ENDPOINT_URL`` and the ``AWS_*`` credentials, as it would reach any
S3-compatible store. Nothing leaves the machine. The server runs in a child process: in this
one, delta-rs calls that hold the GIL while they wait for HTTP (``DeltaTable.is_deltatable``)
would starve the server's Python thread until the request timed out (180 s).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from lake_kit import rows

from pipeline.jobs import run_ingest_job
from pipeline.sandbox.testing import sandbox_server
from pipeline.warehouse.backend import DuckDBWarehouse
from pipeline.warehouse.lake import LakeWarehouse
from tests.conftest import DEMO_START, DEMO_TZ, api_resource, free_port, quiet_console

#: 20:00–23:00 UTC: holds 22:00, the hour owning the Copenhagen day (answer_rate_daily).
START = DEMO_START + timedelta(hours=20)
END = START + timedelta(hours=3)
BUCKET = "calls-lake"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


#: The child process: moto's S3 on 127.0.0.1, stopped when its stdin closes.
MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """moto's S3 on loopback with an empty bucket; the ``AWS_*`` settings that reach it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", MOTO_SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a log line per request
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield env
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the child stops its server and exits
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def _run(sb, db_path: Path, env: dict[str, str]) -> float:
    console = quiet_console()
    began = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        if "CALLS_LAKE_URI" not in env:
            mp.delenv("CALLS_LAKE_URI", raising=False)
        ok = run_ingest_job(
            START, END, db_path=db_path, report_tz=DEMO_TZ, console=console, sinch=api_resource(sb)
        )
    assert ok, console.file.getvalue()
    return time.perf_counter() - began


def test_job_on_s3_equals_duckdb(s3: dict[str, str], tmp_path: Path) -> None:
    uri = f"s3://{BUCKET}/warehouse"
    lake_env = {**s3, "CALLS_LAKE_URI": uri}
    with sandbox_server(seed=7) as sb:
        _run(sb, tmp_path / "calls.duckdb", {})
        on_s3 = _run(sb, tmp_path / "unused.duckdb", lake_env)
        again = _run(sb, tmp_path / "unused.duckdb", lake_env)
    print(f"job over {END - START} on moto S3: {on_s3:.1f} s, re-run {again:.1f} s")
    compared = ["raw.calls", "raw.rejected_calls", "raw.trunks", "analytics.trunk_usage_hourly"]
    compared += ["analytics.answer_rate_daily"]
    with pytest.MonkeyPatch.context() as mp:
        for name, value in s3.items():
            mp.setenv(name, value)
        lake = LakeWarehouse(uri)
        with DuckDBWarehouse(tmp_path / "calls.duckdb").reader() as duck, lake.reader() as con:
            for table in compared:
                expected = rows(duck, table)
                assert expected or table == "raw.rejected_calls", table
                assert rows(con, table) == expected, table
            ledger = con.execute(
                "SELECT count(*), count(*) FILTER (settled) FROM raw.ingest_ledger"
            )
            assert ledger.fetchall() == [(6, 3)]
    keys = boto3.client(
        "s3",
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).list_objects_v2(Bucket=BUCKET, Prefix="warehouse/raw/calls/_delta_log/")
    assert keys["KeyCount"] > 0
