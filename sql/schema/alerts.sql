-- Alerts: KPI rules evaluated on the analytics tables (pipeline/alerts, docs/alerts.md), and
-- which channel delivered which alert. Idempotent (IF NOT EXISTS); applied before
-- analytics.sql (name order), so it creates the schema itself.
--
--   * Instants are TIMESTAMPTZ in UTC; bucket = the UTC hour an alert is about.
--   * direction is INBOUND | OUTBOUND, or ALL for trunk-wide rules (CPS, concurrency).
--   * Re-evaluating hours replaces their alerts of the evaluated rules and project: an alert
--     that still fires keeps its first raised_at; one that no longer fires is deleted.

CREATE SCHEMA IF NOT EXISTS analytics;

-- analytics.alerts
-- PRIMARY KEY (rule, project_id, trunk_id, direction, bucket)
CREATE TABLE IF NOT EXISTS analytics.alerts (
    rule        VARCHAR     NOT NULL, -- asr_drop | ner_drop | true_ner_drop | failure_spike |
                                      -- cps_over_limit | concurrency_over_channels |
                                      -- short_calls | new_countries
    project_id  VARCHAR     NOT NULL, -- Sinch project
    trunk_id    VARCHAR     NOT NULL, -- trunk ('UNKNOWN' when raw.calls has none)
    direction   VARCHAR     NOT NULL, -- INBOUND | OUTBOUND | ALL
    bucket      TIMESTAMPTZ NOT NULL, -- UTC hour the alert is about
    observed    DOUBLE      NOT NULL, -- the rule's value in the bucket (unit in docs/alerts.md)
    baseline    DOUBLE,               -- what it is compared with (e.g. ASR a week before); NULL if none
    threshold   DOUBLE      NOT NULL, -- the configured limit the observed value crossed
    severity    VARCHAR     NOT NULL, -- WARN
    message     VARCHAR     NOT NULL, -- one line for people (the webhook / e-mail text)
    raised_at   TIMESTAMPTZ NOT NULL  -- first evaluation that raised it, UTC
);

-- analytics.alert_deliveries
-- PRIMARY KEY (rule, project_id, trunk_id, direction, bucket, channel)
-- One row per alert and channel once the channel accepted it; the sensor sends only alerts
-- without a row for the channel, so each alert is delivered once per channel.
CREATE TABLE IF NOT EXISTS analytics.alert_deliveries (
    rule          VARCHAR     NOT NULL,
    project_id    VARCHAR     NOT NULL,
    trunk_id      VARCHAR     NOT NULL,
    direction     VARCHAR     NOT NULL,
    bucket        TIMESTAMPTZ NOT NULL,
    channel       VARCHAR     NOT NULL, -- webhook | email
    delivered_at  TIMESTAMPTZ NOT NULL  -- when the channel accepted it (HTTP 2xx / SMTP 250), UTC
);
