-- Analytics layer: KPI tables built by the Polars transforms in pipeline/transforms from
-- raw.calls (+ raw.trunks, + raw.call_details for the tables from the export). Definitions and sources: docs/kpi-definitions.md,
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
    answered                     BIGINT      NOT NULL, -- of which COMPLETED
    in_progress                  BIGINT      NOT NULL, -- of which end_time IS NULL
    conversation_seconds         DOUBLE      NOT NULL, -- s, sum(end_time - answer_time), answered calls with both (ACD numerator)
    mou                          DOUBLE      NOT NULL, -- min, conversation_seconds / 60 (minutes of use)
    billed_seconds               BIGINT      NOT NULL, -- s, sum(billing_duration_seconds)
    billed_minutes               DOUBLE      NOT NULL, -- min, billed_seconds / 60
    acd_seconds                  DOUBLE,               -- s, conversation_seconds / acd_calls; NULL if acd_calls = 0
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

-- ---------------------------------------------------------------------------------------------
-- From the export (raw.call_details, joined on (project_id, call_id)). A call without a
-- details row (export off or refused, not fetched yet) is UNKNOWN in these tables: it is in
-- none of their counts, and details_calls says how many calls had details.
-- ---------------------------------------------------------------------------------------------

-- analytics.sip_causes_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id, direction, sip_response_code, cause_code,
--              release_class); codes may be NULL (not exported)
-- Why calls end: calls per final SIP response (RFC 3261 §21), Q.850 cause and release class
-- (docs/kpi-definitions.md "True NER: release classes"). A long table: one row per outcome.
CREATE TABLE IF NOT EXISTS analytics.sip_causes_hourly (
    hour_start         TIMESTAMPTZ NOT NULL, -- UTC hour bucket of create_time
    trunk_id           VARCHAR     NOT NULL, -- trunk
    direction          VARCHAR     NOT NULL, -- INBOUND | OUTBOUND
    sip_response_code  INTEGER,              -- final SIP status (200, 486, 603...); NULL = not exported
    cause_code         INTEGER,              -- ITU-T Q.850 release cause (16, 17...); NULL = not exported
    release_class      VARCHAR     NOT NULL, -- answered | user | invalid | cps_refused | network | unclassified
    sip_class          VARCHAR     NOT NULL, -- '2xx'...'6xx' of sip_response_code, 'none' when NULL
    calls              BIGINT      NOT NULL, -- calls with this outcome
    details_calls      BIGINT      NOT NULL  -- calls with details in the hour, trunk, direction (share denominator; repeated, never sum it)
);

-- analytics.quality_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id, direction)
-- MOS (ITU-T P.800, as the export estimates it) of answered calls; bands are the ITU-T G.107
-- user-satisfaction categories converted to MOS; poor = MOS < 3.5.
CREATE TABLE IF NOT EXISTS analytics.quality_hourly (
    hour_start                   TIMESTAMPTZ NOT NULL, -- UTC hour bucket of create_time
    trunk_id                     VARCHAR     NOT NULL,
    direction                    VARCHAR     NOT NULL,
    details_calls                BIGINT      NOT NULL, -- calls with a raw.call_details row
    answered_details             BIGINT      NOT NULL, -- of which COMPLETED
    mos_calls                    BIGINT      NOT NULL, -- of which with a measured MOS (denominator)
    mos_sum                      DOUBLE,               -- sum of MOS (exact to 0.0001); NULL if mos_calls = 0
    mos_sum_squares              DOUBLE,               -- sum of MOS^2 (standard deviation of roll-ups); NULL if 0
    mos_min                      DOUBLE,               -- lowest MOS; NULL if 0
    mos_below_3_5                BIGINT      NOT NULL, -- answered calls with MOS < 3.5 (poor)
    mos_very_satisfied           BIGINT      NOT NULL, -- MOS >= 4.34 (G.107 R >= 90)
    mos_satisfied                BIGINT      NOT NULL, -- 4.03 <= MOS < 4.34 (R 80-90)
    mos_some_dissatisfied        BIGINT      NOT NULL, -- 3.60 <= MOS < 4.03 (R 70-80)
    mos_many_dissatisfied        BIGINT      NOT NULL, -- 3.10 <= MOS < 3.60 (R 60-70)
    mos_nearly_all_dissatisfied  BIGINT      NOT NULL, -- 2.58 <= MOS < 3.10 (R 50-60)
    mos_not_recommended          BIGINT      NOT NULL, -- MOS < 2.58 (R < 50)
    mos_avg                      DOUBLE,               -- mos_sum / mos_calls; NULL if 0
    poor_mos_share               DOUBLE                -- mos_below_3_5 / mos_calls, fraction 0-1; NULL if 0
);

-- analytics.quality_daily
-- PRIMARY KEY (project_id, report_date, trunk_id, direction)
-- Same columns per local date (report time zone) of create_time.
CREATE TABLE IF NOT EXISTS analytics.quality_daily (
    report_date                  DATE        NOT NULL, -- local date of create_time in the report TZ
    trunk_id                     VARCHAR     NOT NULL,
    direction                    VARCHAR     NOT NULL,
    details_calls                BIGINT      NOT NULL,
    answered_details             BIGINT      NOT NULL,
    mos_calls                    BIGINT      NOT NULL,
    mos_sum                      DOUBLE,
    mos_sum_squares              DOUBLE,
    mos_min                      DOUBLE,
    mos_below_3_5                BIGINT      NOT NULL,
    mos_very_satisfied           BIGINT      NOT NULL,
    mos_satisfied                BIGINT      NOT NULL,
    mos_some_dissatisfied        BIGINT      NOT NULL,
    mos_many_dissatisfied        BIGINT      NOT NULL,
    mos_nearly_all_dissatisfied  BIGINT      NOT NULL,
    mos_not_recommended          BIGINT      NOT NULL,
    mos_avg                      DOUBLE,
    poor_mos_share               DOUBLE
);

-- analytics.emergency_calls_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id, direction)
-- Calls the export flags "Is Emergency Call".
CREATE TABLE IF NOT EXISTS analytics.emergency_calls_hourly (
    hour_start          TIMESTAMPTZ NOT NULL, -- UTC hour bucket of create_time
    trunk_id            VARCHAR     NOT NULL,
    direction           VARCHAR     NOT NULL,
    details_calls       BIGINT      NOT NULL, -- calls with a raw.call_details row
    emergency_calls     BIGINT      NOT NULL, -- of which is_emergency (NULL flag = not flagged)
    emergency_answered  BIGINT      NOT NULL, -- of which COMPLETED
    emergency_failed    BIGINT      NOT NULL  -- of which FAILED
);

-- ---------------------------------------------------------------------------------------------
-- From the call list alone (raw.calls).
-- ---------------------------------------------------------------------------------------------

-- analytics.time_to_answer_hourly
-- PRIMARY KEY (project_id, hour_start, trunk_id)
-- INBOUND answered calls only: answer_time - create_time (how long callers ring before your
-- PBX answers; not PDD). Sums and cumulative histogram counts roll up; the p90 does not.
CREATE TABLE IF NOT EXISTS analytics.time_to_answer_hourly (
    hour_start       TIMESTAMPTZ NOT NULL, -- UTC hour bucket of create_time
    trunk_id         VARCHAR     NOT NULL,
    tta_calls        BIGINT      NOT NULL, -- INBOUND COMPLETED calls with answer_time >= create_time
    tta_seconds      DOUBLE      NOT NULL, -- s, sum(answer_time - create_time) (mean = tta_seconds / tta_calls)
    tta_max_seconds  DOUBLE      NOT NULL, -- s, longest
    tta_p90_seconds  DOUBLE      NOT NULL, -- s, nearest-rank 90th percentile of the hour (never average it)
    tta_le_3s        BIGINT      NOT NULL, -- calls answered within 3 s (cumulative histogram)
    tta_le_6s        BIGINT      NOT NULL, -- within 6 s
    tta_le_10s       BIGINT      NOT NULL, -- within 10 s
    tta_le_20s       BIGINT      NOT NULL, -- within 20 s
    tta_le_30s       BIGINT      NOT NULL, -- within 30 s
    tta_le_60s       BIGINT      NOT NULL  -- within 60 s
);

-- analytics.billing_audit_daily
-- PRIMARY KEY (project_id, report_date, trunk_id, direction, destination_country, currency)
-- Billed vs conversation seconds, price vs price_per_minute x billed / 60 (exact decimals,
-- tolerance 0.000001 per call), and the billing increment observed (docs/kpi-definitions.md
-- "Billing audit").
CREATE TABLE IF NOT EXISTS analytics.billing_audit_daily (
    report_date                   DATE           NOT NULL, -- local date of create_time in the report TZ
    trunk_id                      VARCHAR        NOT NULL,
    direction                     VARCHAR        NOT NULL,
    destination_country           VARCHAR        NOT NULL, -- ISO 3166-1 alpha-2 of to_number's E.164 prefix; 'UNKNOWN'
    currency                      VARCHAR        NOT NULL, -- price_currency, else price_per_minute_currency, else 'UNKNOWN'
    calls                         BIGINT         NOT NULL, -- distinct call_id
    billed_calls                  BIGINT         NOT NULL, -- billing_duration_seconds > 0
    billed_seconds                BIGINT         NOT NULL, -- s, sum(billing_duration_seconds)
    audited_calls                 BIGINT         NOT NULL, -- answered with answer_time and end_time (known conversation)
    audited_conversation_seconds  DOUBLE         NOT NULL, -- s, their sum(end_time - answer_time)
    audited_billed_seconds        BIGINT         NOT NULL, -- s, their sum(billing_duration_seconds)
    priced_calls                  BIGINT         NOT NULL, -- price and price_per_minute in the same currency
    cost                          DECIMAL(38, 6) NOT NULL, -- sum(price) of priced_calls, exact
    expected_cost                 DECIMAL(38, 6) NOT NULL, -- sum(price_per_minute x billed s) / 60, rounded once
    price_mismatch                BIGINT         NOT NULL, -- priced calls with |price - ppm x billed / 60| > 0.000001
    currency_mismatch             BIGINT         NOT NULL, -- calls whose price and price_per_minute currencies differ
    min_billed_seconds            BIGINT,                  -- s, least billed duration > 0; NULL if none
    billed_below_60               BIGINT         NOT NULL, -- billed calls under 60 s
    billed_div_60                 BIGINT         NOT NULL, -- billed calls whose seconds are a multiple of 60
    billed_div_30                 BIGINT         NOT NULL, -- ... of 30
    billed_div_10                 BIGINT         NOT NULL, -- ... of 10
    billed_div_6                  BIGINT         NOT NULL, -- ... of 6
    increment_observed            VARCHAR                  -- 'initial/step' inferred, e.g. '60/60', '60/6', '1/1'; NULL if no billed call
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
ALTER TABLE analytics.sip_causes_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.quality_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.quality_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.emergency_calls_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.time_to_answer_hourly ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE analytics.billing_audit_daily ADD COLUMN IF NOT EXISTS project_id VARCHAR;

-- True NER (ITU-T E.425) from the export's SIP/Q.850 codes, beside ner_proxy (issue 14).
-- Over the calls with a raw.call_details row only; NULL on rows built before these columns.
-- Release classes: docs/kpi-definitions.md "True NER: release classes".
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS details_calls BIGINT;       -- calls with details (true NER denominator)
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS ner_true_numerator BIGINT;  -- release class answered or user (E.425 effective)
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS network_failures BIGINT;    -- release class network (5xx, other 4xx, Q.850 classes 2-7...)
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS invalid_number BIGINT;      -- 404/410/484/485/604, Q.850 1/22/28
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS cps_refused BIGINT;         -- SIP 603 on a FAILED call: over the trunk's callsPerSecond
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS unclassified BIGINT;        -- FAILED with details but no code
ALTER TABLE analytics.answer_rate_hourly ADD COLUMN IF NOT EXISTS ner DOUBLE;                 -- ner_true_numerator / details_calls (E.425); NULL if no details
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS details_calls BIGINT;        -- as in answer_rate_hourly
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS ner_true_numerator BIGINT;
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS network_failures BIGINT;
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS invalid_number BIGINT;
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS cps_refused BIGINT;
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS unclassified BIGINT;
ALTER TABLE analytics.answer_rate_daily ADD COLUMN IF NOT EXISTS ner DOUBLE;

-- ACD's denominator: answered calls whose conversation is known (answer_time and end_time).
-- An answered call without answer_time is in neither ACD's numerator nor its denominator
-- (docs/kpi-definitions.md "Choices"); acd_seconds = conversation_seconds / acd_calls.
ALTER TABLE analytics.trunk_usage_hourly ADD COLUMN IF NOT EXISTS acd_calls BIGINT;  -- ACD denominator; NULL on rows built before it
ALTER TABLE analytics.trunk_usage_daily ADD COLUMN IF NOT EXISTS acd_calls BIGINT;   -- as in trunk_usage_hourly
