"""Alerts in Dagster: the KPI rules as asset checks (WARN), and the delivery sensor.

- ``alert_rules`` is one multi-asset check with a check per rule (:data:`RULE_ASSETS`): the
  answer-rate rules on ``analytics/answer_rate_hourly``, the capacity and call rules on
  ``analytics/trunk_usage_hourly``. It runs after the analytics step of every ``ingest_calls``
  run, evaluates the run's hours (per project), replaces their alerts in ``analytics.alerts``
  and fails the checks of the rules that raised any (severity WARN: the run still succeeds).
  Run on its own (no partitions), it evaluates the 24 hours up to the newest call.
- ``alert_delivery`` sends each alert once to each channel of the environment
  (:mod:`pipeline.alerts.delivery`), recording deliveries in the warehouse
  (:mod:`pipeline.alerts.dispatch`). It runs by default when a channel is configured.

Thresholds come from ``CALLS_ALERTS_FILE`` (:mod:`pipeline.alerts.config`), read when the code
location loads. See docs/alerts.md.
"""

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.delivery import configured_channels
from pipeline.alerts.dispatch import dispatch
from pipeline.alerts.evaluate import evaluate, hours_with_data, load_inputs
from pipeline.alerts.frames import Scope, concat_alerts
from pipeline.alerts.store import save_alerts
from pipeline.defs.partitions import HOUR_DIMENSION, PARTITION_FORMAT, PROJECT_DIMENSION, _spans
from pipeline.defs.resources import CallsApiResource, WarehouseResource
from pipeline.projects import Project
from pipeline.warehouse.backend import Warehouse, open_warehouse
from pipeline.warehouse.connection import WarehouseBusyError

ANSWER_RATE = dg.AssetKey(["analytics", "answer_rate_hourly"])
TRUNK_USAGE = dg.AssetKey(["analytics", "trunk_usage_hourly"])

#: Each rule, the asset its check is on, and what it says.
RULE_ASSETS: dict[str, tuple[dg.AssetKey, str]] = {
    "asr_drop": (ANSWER_RATE, "ASR (E.411) fell vs the same UTC hour a week before"),
    "ner_drop": (ANSWER_RATE, "NER proxy (E.425) fell vs the same UTC hour a week before"),
    "true_ner_drop": (
        ANSWER_RATE,
        "true NER (E.425, the export's SIP causes) fell vs the same UTC hour a week before",
    ),
    "failure_spike": (ANSWER_RATE, "FAILED calls spiked vs the same UTC hour a week before"),
    "cps_over_limit": (TRUNK_USAGE, "peak calls per second over the trunk's callsPerSecond"),
    "concurrency_over_channels": (
        TRUNK_USAGE,
        "peak concurrent calls over the Erlang B channels of the recent busy hour",
    ),
    "short_calls": (TRUNK_USAGE, "share of answered calls under 10 s (configurable) high"),
    "new_countries": (TRUNK_USAGE, "OUTBOUND calls to countries not called in 28 days"),
}
#: Hours evaluated by a check run outside a partitioned run.
UNPARTITIONED_HOURS = 24
#: How long the sensor waits for the DuckDB file's lock before skipping the tick (s).
SENSOR_LOCK_WAIT_S = 20.0


def _scopes(
    context: dg.AssetCheckExecutionContext,
    partitions_def: dg.PartitionsDefinition | None,
    projects: list[Project] | None,
    default_project: str | None,
) -> list[Scope] | None:
    """The run's hours per project (None: the run has no partitions)."""
    if not context.has_partition_key_range:
        return None
    if not projects:
        window = context.partition_time_window
        ids = (default_project,) if default_project else None
        return [Scope(window.start, window.end, ids)]
    hours: dict[str, list[datetime]] = defaultdict(list)
    for key in context.partition_keys:
        assert isinstance(partitions_def, dg.MultiPartitionsDefinition)
        dims = partitions_def.get_partition_key_from_str(key).keys_by_dimension
        hour = datetime.strptime(dims[HOUR_DIMENSION], PARTITION_FORMAT).replace(tzinfo=UTC)
        hours[dims[PROJECT_DIMENSION]].append(hour)
    return [
        Scope(span.start, span.end, (project_id,))
        for project_id, project_hours in hours.items()
        for span in _spans(project_hours)
    ]


def evaluate_scopes(backend: Warehouse, scopes: list[Scope], config: AlertsConfig) -> pl.DataFrame:
    """Evaluate and store each scope's alerts; returns them all (one frame)."""
    now = datetime.now(UTC)
    frames = []
    for scope in scopes:
        with backend.reader() as con:
            inputs = load_inputs(con, scope, config)
        alerts = evaluate(inputs, scope, config)
        save_alerts(backend, alerts, scope, now)
        frames.append(alerts)
    return concat_alerts(frames)


def build_alert_checks(
    config: AlertsConfig,
    projects: list[Project] | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> list[dg.AssetChecksDefinition]:
    """The ``alert_rules`` multi-asset check (one check per rule, severity WARN).

    Args:
        config: the thresholds.
        projects: the projects of the projects file, or None (one project).
        partitions_def: the assets' partitions (project × hour with a projects file).
    """
    specs = [
        dg.AssetCheckSpec(rule, asset=asset, description=f"Alert rule: {text} (docs/alerts.md).")
        for rule, (asset, text) in RULE_ASSETS.items()
    ]

    @dg.multi_asset_check(specs=specs, name="alert_rules", can_subset=False)
    def alert_rules(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        sinch: CallsApiResource,
    ) -> Iterator[dg.AssetCheckResult]:
        """Evaluate the alert rules over the run's hours and store the alerts."""
        backend = warehouse.backend()
        default = None if projects else sinch.default_project_id()
        scopes = _scopes(context, partitions_def, projects, default)
        if scopes is None:
            with backend.reader() as con:
                hours = hours_with_data(con, UNPARTITIONED_HOURS)
            scopes = [] if hours is None else [Scope(*hours)]
        alerts = evaluate_scopes(backend, scopes, config)
        enabled = set(config.enabled_rules())
        for rule, (asset, _text) in RULE_ASSETS.items():
            fired = alerts.filter(alerts["rule"] == rule)
            messages = fired.get_column("message").to_list()
            detail = messages[0] if messages else ""
            if len(messages) > 1:
                detail += f" (+{len(messages) - 1} more: `pipeline alerts`)"
            yield dg.AssetCheckResult(
                asset_key=asset,
                check_name=rule,
                passed=fired.is_empty(),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "failures": len(messages),
                    "detail": detail if rule in enabled else "rule disabled",
                    "hours": ", ".join(
                        f"[{s.start:%Y-%m-%d %H:%M}, {s.end:%Y-%m-%d %H:%M})Z" for s in scopes
                    ),
                },
            )

    return [alert_rules]


def build_alert_sensor() -> dg.SensorDefinition:
    """The ``alert_delivery`` sensor: running by default when a channel is configured.

    Raises:
        SettingsError: a channel's variables are incomplete or invalid.
    """
    running = bool(configured_channels())

    @dg.sensor(
        name="alert_delivery",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Sends each new alert of analytics.alerts once to the webhook "
        "(ALERT_WEBHOOK_URL) and/or by e-mail (ALERT_SMTP_HOST...); see docs/alerts.md.",
    )
    def alert_delivery(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SkipReason:
        channels = configured_channels()
        if not channels:
            return dg.SkipReason("no channel: set ALERT_WEBHOOK_URL and/or ALERT_SMTP_HOST")
        backend = open_warehouse(warehouse.path, warehouse.lake_uri, lock_wait_s=SENSOR_LOCK_WAIT_S)
        try:
            report = dispatch(backend, channels)
        except FileNotFoundError:
            return dg.SkipReason("no warehouse yet: nothing to send")
        except WarehouseBusyError:
            return dg.SkipReason("the warehouse file is busy (an ingestion); next tick")
        for error in report.failed.values():  # each names its channel
            context.log.warning(f"alert delivery failed, retried next tick: {error}")
        return dg.SkipReason(report.summary())

    return alert_delivery
