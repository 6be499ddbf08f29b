"""Hourly UTC partitions of call ``createTime`` (docs/stack-hazards.md §1.3: keep them UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from pipeline.settings import DEFAULT_PARTITIONS_START, SettingsError, env

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"


def partitions_start() -> str:
    """First partition from ``CALLS_PARTITIONS_START`` (``YYYY-MM-DD-HH:MM``, UTC).

    Raises:
        SettingsError: not in that format, or not on a whole hour.
    """
    raw = env("CALLS_PARTITIONS_START", DEFAULT_PARTITIONS_START)
    try:
        start = datetime.strptime(raw, PARTITION_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        msg = f"CALLS_PARTITIONS_START must look like 2026-01-01-00:00 (UTC), not {raw!r}"
        raise SettingsError(msg) from None
    if start.minute:
        msg = f"CALLS_PARTITIONS_START must be on a whole hour, not {raw!r}"
        raise SettingsError(msg)
    return raw


def hourly_partitions(start: str | None = None) -> dg.HourlyPartitionsDefinition:
    """Hourly partitions in UTC from ``start`` (default :func:`partitions_start`)."""
    return dg.HourlyPartitionsDefinition(start_date=start or partitions_start(), timezone="UTC")


def partition_key(instant: datetime) -> str:
    """The hourly partition key of a UTC hour start, e.g. ``2026-11-23-05:00``."""
    return instant.astimezone(UTC).strftime(PARTITION_FORMAT)
