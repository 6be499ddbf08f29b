"""The definitions graph against a checked-in snapshot: any change to it is a visible diff.

``definitions_snapshot.json`` (beside this file) holds what ``dagster dev`` shows: asset keys
(group, dependencies, backfill policy, pool, kinds), asset checks (name, asset, blocking), the
partitions definition, schedules, sensors and jobs. Names here are contracts (asset keys name DuckDB
tables, schedules and jobs have run history), so a change must be deliberate. To accept one,
regenerate the file and commit it with the change::

    UPDATE_DEFS_SNAPSHOT=1 uv run pytest tests/defs/test_defs_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pipeline.definitions import build_definitions
from pipeline.defs.resources import SandboxCallsResource, WarehouseResource

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
UPDATE_VAR = "UPDATE_DEFS_SNAPSHOT"


def _assets(graph: Any) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        policy = node.backfill_policy
        rows.append(
            {
                "key": key.to_user_string(),
                "group": node.group_name,
                "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
                "partitions": type(node.partitions_def).__name__,
                "backfill_max_partitions_per_run": policy.max_partitions_per_run
                if policy
                else None,
                "pools": sorted(node.pools or ()),
                "kinds": sorted(node.kinds),
            }
        )
    return rows


def _checks(graph: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": key.name,
            "asset": key.asset_key.to_user_string(),
            "blocking": graph.get(key).blocking,
        }
        for key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key, k.name))
    ]


def _partitions(graph: Any) -> list[dict[str, Any]]:
    defs = {graph.get(key).partitions_def for key in graph.get_all_asset_keys()}
    return [
        {
            "type": type(p).__name__,
            "start": p.start.isoformat(),
            "end": p.end.isoformat() if p.end else None,
            "timezone": p.timezone,
            "cron": p.cron_schedule,
            "format": p.fmt,
        }
        for p in sorted(defs, key=repr)
    ]


def describe(defs: dg.Definitions) -> dict[str, Any]:
    """The graph as plain JSON data: lists sorted, so the snapshot diffs line by line."""
    graph = defs.resolve_asset_graph()
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    return {
        "assets": _assets(graph),
        "asset_checks": _checks(graph),
        "partitions": _partitions(graph),
        "schedules": [
            {
                "name": s.name,
                "cron": s.cron_schedule,
                "timezone": s.execution_timezone,
                "job": s.job_name,
                "default_status": s.default_status.value,
            }
            for s in sorted(defs.schedules or (), key=lambda s: s.name)
        ],
        "sensors": [
            {"name": s.name, "default_status": s.default_status.value}
            for s in sorted(defs.sensors or (), key=lambda s: s.name)
        ],
        "jobs": [
            {
                "name": job.name,
                "executor": job.executor_def.name,
                "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
            }
            for job in sorted(jobs, key=lambda j: j.name)
        ],
    }


def render(defs: dg.Definitions) -> str:
    """The snapshot file's text for ``defs``."""
    return json.dumps(describe(defs), indent=2) + "\n"


@pytest.fixture
def defs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    # The defaults, not this machine's settings: the snapshot must not depend on a .env.
    for name in ("CALLS_PARTITIONS_START", "CALLS_LOOKBACK_HOURS", "CALLS_ALERTS_FILE",
                 "ALERT_WEBHOOK_URL", "ALERT_SMTP_HOST"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return build_definitions(
        sinch=SandboxCallsResource(), warehouse=WarehouseResource(path=str(tmp_path / "d.duckdb"))
    )


def test_definitions_match_the_snapshot(defs: dg.Definitions) -> None:
    actual = render(defs)
    if os.environ.get(UPDATE_VAR):
        SNAPSHOT.write_text(actual, encoding="utf-8")
        return
    expected = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"{SNAPSHOT.name} (checked in)",
                tofile="definitions now",
            )
        )
        pytest.fail(
            "The Dagster definitions graph changed. If the change is intended, regenerate "
            f"the snapshot and commit it:\n    {UPDATE_VAR}=1 uv run pytest "
            f"tests/defs/test_defs_snapshot.py\n\n{diff}",
            pytrace=False,
        )


def test_the_snapshot_sees_a_change(defs: dg.Definitions) -> None:
    """A renamed schedule shows up in the rendered snapshot (the comparison is not vacuous)."""
    renamed = dg.Definitions.merge(
        dg.Definitions(
            assets=list(defs.assets or ()),
            asset_checks=list(defs.asset_checks or ()),
            jobs=list(defs.jobs or ()),
            resources=defs.resources,
        ),
        dg.Definitions(
            schedules=[
                dg.ScheduleDefinition(
                    name="every_minute", cron_schedule="* * * * *", job_name="ingest_calls"
                )
            ]
        ),
    )
    assert '"every_minute"' in render(renamed)
    assert '"every_minute"' not in render(defs)
