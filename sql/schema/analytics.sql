-- Analytics layer: KPI tables built by the Polars transforms in pipeline/transforms from
-- raw.calls (+ raw.trunks). Definitions and sources: docs/kpi-definitions.md,
-- docs/analytics.md and the module docstrings. Idempotent (IF NOT EXISTS).
--
-- Conventions
--   * Instants are TIMESTAMPTZ in UTC (connections run with TimeZone='UTC').
--   * hour_start = start of a UTC hour [hour_start, hour_start + 1 h), bucket of create_time.
--   * report_date = local date in the declared report time zone (e.g. Europe/Copenhagen); a
--     local day is 23 h / 24 h / 25 h long.
--   * Counts BIGINT; seconds are s, minutes are min (= seconds / 60); Erlangs are E.
--   * Every rate is stored next to its numerator and denominator (re-derive on roll-up; never
--     average a rate column).
--   * Money is DECIMAL(38, 6) (exact sum of DECIMAL(18, 6) prices) and always per currency.
--   * NULL trunk_id / direction in raw.calls appear as 'UNKNOWN'.
--   * Refresh: DELETE the bucket range, then INSERT INTO ... BY NAME (see pipeline/transforms/
--     tables.py). Keys are documented, not enforced, so the delete+insert stays cheap.
--   * project_id: every table (and report_settings) has it, added by the ALTER statements at
--     the end of this file; it leads every key below. A refresh reads and replaces the rows of
--     one project only, so projects never write each other's rows.

CREATE SCHEMA IF NOT EXISTS analytics;

-- analytics.answer_rate_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id, direction)
-- ASR (ITU-T E.411) and NER proxy (ITU-T E.425) per UTC hour of create_time.
CREATE TABLE IF NOT EXISTS analytics.answer_rate_hourly (
    hour_start            TIMESTAMPTZ NOT NULL, -- UTC hour bucket of create_time
    trunk_id              VARCHAR     NOT NULL, -- trunk
    direction             VARCHAR     NOT NULL, -- INBOUND | OUTBOUND
    attempts              BIGINT      NOT NULL, -- seizures: distinct call_id (E.411)
    answered              BIGINT      NOT NULL, -- call_result = COMPLETED
    busy                  BIGINT      NOT NULL, -- call_result = BUSY
    no_answer             BIGINT      NOT NULL, -- call_result = NO_ANSWER
    cancel                BIGINT      NOT NULL, -- call_result = CANCEL
    failed                BIGINT      NOT NULL, -- call_result = FAILED
    other                 BIGINT      NOT NULL, -- any other or NULL call_result
    answer_time_mismatch  BIGINT      NOT NULL, -- COMPLETED xor answer_time IS NOT NULL (counted, not hidden)
    ner_numerator         BIGINT      NOT NULL, -- attempts - failed (NER proxy numerator)
    asr                   DOUBLE,               -- answered / attempts, fraction 0-1 (E.411 ASR / 100)
    ner_proxy             DOUBLE                -- ner_numerator / attempts, fraction 0-1 (E.425 proxy)
);

-- analytics.answer_rate_daily
-- PRIMARY KEY (project_id, report_date, trunk_id, direction)
-- Same columns per local date (report time zone) of create_time.
CREATE TABLE IF NOT EXISTS analytics.answer_rate_daily (
    report_date           DATE        NOT NULL, -- local date of create_time in the report TZ
    trunk_id              VARCHAR     NOT NULL,
    direction             VARCHAR     NOT NULL,
    attempts              BIGINT      NOT NULL, -- distinct call_id
    answered              BIGINT      NOT NULL, -- COMPLETED
    busy                  BIGINT      NOT NULL,
    no_answer             BIGINT      NOT NULL,
    cancel                BIGINT      NOT NULL,
    failed                BIGINT      NOT NULL,
    other                 BIGINT      NOT NULL,
    answer_time_mismatch  BIGINT      NOT NULL,
    ner_numerator         BIGINT      NOT NULL, -- attempts - failed
    asr                   DOUBLE,               -- answered / attempts (E.411)
    ner_proxy             DOUBLE                -- ner_numerator / attempts (E.425 proxy)
);

-- analytics.direction_mix_daily
-- PRIMARY KEY (project_id, report_date, trunk_id, direction)
-- Calls and minutes by direction per local day; costs per currency are in analytics.cost_daily.
CREATE TABLE IF NOT EXISTS analytics.direction_mix_daily (
    report_date           DATE        NOT NULL, -- local date of create_time in the report TZ
    trunk_id              VARCHAR     NOT NULL,
    direction             VARCHAR     NOT NULL,
    calls                 BIGINT      NOT NULL, -- distinct call_id
    answered              BIGINT      NOT NULL, -- COMPLETED
    conversation_seconds  DOUBLE      NOT NULL, -- s, sum(end_time - answer_time) of answered calls
    conversation_minutes  DOUBLE      NOT NULL, -- min, conversation_seconds / 60 (MOU)
    billed_seconds        BIGINT      NOT NULL, -- s, sum(billing_duration_seconds)
    billed_minutes        DOUBLE      NOT NULL, -- min, billed_seconds / 60
    trunk_calls           BIGINT      NOT NULL, -- calls of the trunk that day, all directions (share denominator)
    direction_share       DOUBLE      NOT NULL  -- calls / trunk_calls (INBOUND row = inbound share)
);

-- analytics.cost_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id, direction, currency)
-- Exact cost per currency (never summed across currencies); calls without a price omitted.
CREATE TABLE IF NOT EXISTS analytics.cost_hourly (
    hour_start              TIMESTAMPTZ    NOT NULL, -- UTC hour of create_time
    trunk_id                VARCHAR        NOT NULL,
    direction               VARCHAR        NOT NULL,
    currency                VARCHAR        NOT NULL, -- price_currency (ISO 4217); 'UNKNOWN' if NULL
    priced_calls            BIGINT         NOT NULL, -- calls with a price
    billed_seconds          BIGINT         NOT NULL, -- s, sum(billing_duration_seconds) of priced calls
    billed_minutes          DOUBLE         NOT NULL, -- min, billed_seconds / 60
    cost                    DECIMAL(38, 6) NOT NULL, -- sum(price) in currency, exact
    cost_per_billed_minute  DOUBLE                   -- cost / billed_minutes (effective rate); NULL if 0
);

-- analytics.cost_daily
-- PRIMARY KEY (project_id, report_date, trunk_id, direction, currency)
CREATE TABLE IF NOT EXISTS analytics.cost_daily (
    report_date             DATE           NOT NULL, -- local date of create_time in the report TZ
    trunk_id                VARCHAR        NOT NULL,
    direction               VARCHAR        NOT NULL,
    currency                VARCHAR        NOT NULL,
    priced_calls            BIGINT         NOT NULL,
    billed_seconds          BIGINT         NOT NULL,
    billed_minutes          DOUBLE         NOT NULL,
    cost                    DECIMAL(38, 6) NOT NULL,
    cost_per_billed_minute  DOUBLE
);

-- analytics.trunk_usage_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id, direction)
-- Counts/minutes: calls created in the hour. Occupancy (holding, Erlangs, peaks): channel time
-- [create_time, end_time) clipped to the hour, including calls created earlier (B.18/E.600).
-- trunk_* and cps_* columns are trunk-wide (both directions), repeated on each direction row:
-- never sum them over directions.
CREATE TABLE IF NOT EXISTS analytics.trunk_usage_hourly (
    hour_start                   TIMESTAMPTZ NOT NULL, -- UTC hour bucket
    trunk_id                     VARCHAR     NOT NULL,
    direction                    VARCHAR     NOT NULL,
    bucket_seconds               BIGINT      NOT NULL, -- s, 3600
    attempts                     BIGINT      NOT NULL, -- calls created in the hour (distinct call_id)
    answered                     BIGINT      NOT NULL, -- of which COMPLETED (ACD denominator)
    in_progress                  BIGINT      NOT NULL, -- of which end_time IS NULL
    conversation_seconds         DOUBLE      NOT NULL, -- s, sum(end_time - answer_time), answered calls (ACD numerator)
    mou                          DOUBLE      NOT NULL, -- min, conversation_seconds / 60 (minutes of use)
    billed_seconds               BIGINT      NOT NULL, -- s, sum(billing_duration_seconds)
    billed_minutes               DOUBLE      NOT NULL, -- min, billed_seconds / 60
    acd_seconds                  DOUBLE,               -- s, conversation_seconds / answered; NULL if answered = 0
    holding_seconds              DOUBLE      NOT NULL, -- s, sum(occupancy ∩ hour), this direction
    erlangs                      DOUBLE      NOT NULL, -- E, holding_seconds / bucket_seconds
    peak_concurrent_calls        BIGINT      NOT NULL, -- max simultaneous calls in the hour, this direction (sweep line)
    peak_cps                     BIGINT      NOT NULL, -- max calls created within one UTC second, this direction
    trunk_holding_seconds        DOUBLE      NOT NULL, -- s, sum(occupancy ∩ hour), whole trunk
    trunk_erlangs                DOUBLE      NOT NULL, -- E, trunk_holding_seconds / bucket_seconds
    trunk_peak_concurrent_calls  BIGINT      NOT NULL, -- max simultaneous calls, whole trunk
    trunk_peak_cps               BIGINT      NOT NULL, -- max calls created within one second, whole trunk
    cps_limit                    BIGINT,               -- raw.trunks.calls_per_second; NULL if unknown
    cps_utilisation              DOUBLE                -- trunk_peak_cps / cps_limit (> 1 = over the limit)
);

-- analytics.trunk_usage_daily
-- PRIMARY KEY (project_id, report_date, trunk_id, direction)
-- Same columns per local day; bucket_seconds is the real day length (82800/86400/90000 s), so
-- erlangs is the day's average occupancy; peaks are over the whole local day.
CREATE TABLE IF NOT EXISTS analytics.trunk_usage_daily (
    report_date                  DATE        NOT NULL, -- local date in the report TZ
    trunk_id                     VARCHAR     NOT NULL,
    direction                    VARCHAR     NOT NULL,
    bucket_seconds               BIGINT      NOT NULL, -- s, length of the local day
    attempts                     BIGINT      NOT NULL,
    answered                     BIGINT      NOT NULL,
    in_progress                  BIGINT      NOT NULL,
    conversation_seconds         DOUBLE      NOT NULL,
    mou                          DOUBLE      NOT NULL,
    billed_seconds               BIGINT      NOT NULL,
    billed_minutes               DOUBLE      NOT NULL,
    acd_seconds                  DOUBLE,
    holding_seconds              DOUBLE      NOT NULL,
    erlangs                      DOUBLE      NOT NULL,
    peak_concurrent_calls        BIGINT      NOT NULL,
    peak_cps                     BIGINT      NOT NULL,
    trunk_holding_seconds        DOUBLE      NOT NULL,
    trunk_erlangs                DOUBLE      NOT NULL,
    trunk_peak_concurrent_calls  BIGINT      NOT NULL,
    trunk_peak_cps               BIGINT      NOT NULL,
    cps_limit                    BIGINT,
    cps_utilisation              DOUBLE
);

-- analytics.busy_hour_daily
-- PRIMARY KEY (project_id, report_date, trunk_id)
-- Busy hour (ITU-T E.500): the local clock hour (report TZ) with the highest trunk Erlangs
-- that day, ties -> earliest. Trunk-wide (channels are shared by both directions).
CREATE TABLE IF NOT EXISTS analytics.busy_hour_daily (
    report_date                      DATE        NOT NULL, -- local date in the report TZ
    trunk_id                         VARCHAR     NOT NULL,
    busy_hour_start                  TIMESTAMPTZ NOT NULL, -- UTC instant the local hour starts
    busy_hour_local                  VARCHAR     NOT NULL, -- local start with offset, e.g. 2026-10-25T02:00:00+01:00
    busy_hour_holding_seconds        DOUBLE      NOT NULL, -- s, occupancy in that hour
    busy_hour_erlangs                DOUBLE      NOT NULL, -- E, holding / 3600 (input for Erlang B sizing)
    busy_hour_peak_concurrent_calls  BIGINT      NOT NULL, -- max simultaneous calls in that hour
    bhca                             BIGINT      NOT NULL, -- busy-hour call attempts (created in that hour)
    bhcc                             BIGINT      NOT NULL  -- busy-hour completed calls (answered)
);

-- analytics.report_settings: the report time zone each project's daily tables were built in
-- (one row per project). When REPORT_TZ changes, a project's next refresh rebuilds its daily
-- tables in the new zone.
CREATE TABLE IF NOT EXISTS analytics.report_settings (
    report_tz VARCHAR NOT NULL -- IANA zone, e.g. Europe/Copenhagen
);

-- project_id: the Sinch project of the row (see Conventions). Files from before it hold NULL
-- there until the first project that refreshes the file adopts them.
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.direction_mix_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.cost_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.cost_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.trunk_usage_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.trunk_usage_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.busy_hour_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.report_settings ADD COLUMN IF NOT EXISTS project_id VARCHAR;
