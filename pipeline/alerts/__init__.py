"""Alerts when a trunk degrades: KPI rules, their thresholds, the alerts store and delivery.

Dagster-free (the asset checks and the sensor are in :mod:`pipeline.defs.alerts`):
:mod:`~pipeline.alerts.config` (thresholds), :mod:`~pipeline.alerts.rules` (answer-rate rules),
:mod:`~pipeline.alerts.capacity` (CPS and concurrency), :mod:`~pipeline.alerts.calls_rules`
(short calls, new countries), :mod:`~pipeline.alerts.frames` (the alert rows),
:mod:`~pipeline.alerts.evaluate` (reading the inputs, running the rules),
:mod:`~pipeline.alerts.store` (``analytics.alerts`` / ``analytics.alert_deliveries``),
:mod:`~pipeline.alerts.delivery` (webhook and e-mail) and :mod:`~pipeline.alerts.dispatch`
(each alert once per channel). See docs/alerts.md.
"""
