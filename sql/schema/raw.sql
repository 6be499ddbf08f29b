-- Raw layer: what the Sinch calls API returned, landed by the ingestion (pipeline/ingest).
-- All times are TIMESTAMPTZ instants in UTC (connections run with TimeZone='UTC').
-- Money is DECIMAL (exact), never DOUBLE. Durations are whole seconds as the API sends them.
-- This file is executed by pipeline.warehouse on every connection that may write; statements
-- must stay idempotent (IF NOT EXISTS).

CREATE SCHEMA IF NOT EXISTS raw;

-- raw.calls: one row per call_id across the whole table (latest version seen). A call belongs
-- to the one hourly window [window_start, window_end) that contains its create_time;
-- re-ingesting that window replaces the call (late answer/end times, late prices). A call_id
-- that a later fetch lists in ANOTHER window (the API corrected its createTime, or lists it in
-- two hours) moves there: that commit deletes the older row (and any raw.rejected_calls row of
-- the id) and marks the hour it left in raw.stale_hours. Latest fetch wins, so re-ingesting
-- the first window while the API still lists the call there moves it back.
CREATE TABLE IF NOT EXISTS raw.calls (
    call_id                    VARCHAR       NOT NULL, -- callId, opaque (ULID, token or SIP Call-ID)
    create_time                TIMESTAMPTZ   NOT NULL, -- createTime, UTC: call set-up (seizure)
    answer_time                TIMESTAMPTZ,            -- answerTime, UTC; NULL = not answered
    end_time                   TIMESTAMPTZ,            -- endTime, UTC; NULL = still in progress
    direction                  VARCHAR,                -- INBOUND | OUTBOUND (normalised upper case)
    call_result                VARCHAR,                -- COMPLETED | NO_ANSWER | CANCEL | BUSY | FAILED
    from_number                VARCHAR,                -- `from` exactly as sent
    to_number                  VARCHAR,                -- `to` exactly as sent
    from_e164                  VARCHAR,                -- `from` as +digits when derivable, else NULL
    to_e164                    VARCHAR,                -- `to` as +digits when derivable, else NULL
    trunk_id                   VARCHAR,                -- trunkId, opaque
    project_id                 VARCHAR,                -- projectId, opaque
    duration_seconds           BIGINT,                 -- durationSeconds as sent (s), not derived
    billing_duration_seconds   BIGINT,                 -- billingDurationSeconds (s), billing-rounded
    price_per_minute           DECIMAL(18, 6),         -- pricePerMinute.amount, per minute
    price_per_minute_currency  VARCHAR,                -- pricePerMinute.currencyCode (ISO 4217)
    price                      DECIMAL(18, 6),         -- price.amount, total charge of the call
    price_currency             VARCHAR,                -- price.currencyCode (ISO 4217)
    -- ZSTD: the JSON texts are most of the table; DuckDB's default compression stored them in
    -- twice the space at 1.2x the writer's CPU (bench/README.md, "Writer: `raw` stored with
    -- ZSTD"; reading every text back is ~0.06 s slower per 400k calls).
    raw                        JSON USING COMPRESSION zstd NOT NULL, -- the original JSON, unchanged
    window_start               TIMESTAMPTZ   NOT NULL, -- ingestion window start (inclusive), UTC
    window_end                 TIMESTAMPTZ   NOT NULL, -- ingestion window end (exclusive), UTC
    fetched_at                 TIMESTAMPTZ   NOT NULL  -- when this version was fetched, UTC
);

-- raw.rejected_calls: records that could not be parsed, kept with the reason; replaced with
-- their window like raw.calls. At most one row per call_id (rows without a readable callId
-- cannot be matched): a later fetch of the id, rejected again or landed in raw.calls, deletes it.
CREATE TABLE IF NOT EXISTS raw.rejected_calls (
    window_start  TIMESTAMPTZ NOT NULL, -- window the record was fetched for, UTC
    window_end    TIMESTAMPTZ NOT NULL,
    call_id       VARCHAR,              -- callId if it could be read
    reason        VARCHAR     NOT NULL, -- why it was rejected, e.g. 'createTime: missing'
    raw           VARCHAR     NOT NULL, -- the original record text (may not be valid JSON)
    fetched_at    TIMESTAMPTZ NOT NULL
);

-- raw.ingest_ledger: one row per window fetch (append-only history of every attempt). Columns
-- added after the first release are added by the ALTER statements below (existing files
-- migrate when a writer opens them; their older rows hold NULL there), so code that writes
-- the ledger names its columns. records and rejected are counted at commit: a call (or a
-- rejected record) that a later fetch moves to another window still counts here.
CREATE TABLE IF NOT EXISTS raw.ingest_ledger (
    window_start        TIMESTAMPTZ NOT NULL, -- UTC, inclusive
    window_end          TIMESTAMPTZ NOT NULL, -- UTC, exclusive
    fetched_at          TIMESTAMPTZ NOT NULL, -- when the fetch finished, UTC
    run_id              VARCHAR,              -- Dagster run id or CLI run id
    sweeps              INTEGER     NOT NULL, -- full passes over the window's pages
    pages               INTEGER     NOT NULL, -- pages received (all sweeps)
    records             BIGINT      NOT NULL, -- distinct calls landed for the window
    rejected            BIGINT      NOT NULL, -- records rejected (kept in raw.rejected_calls)
    outside_window      BIGINT      NOT NULL, -- calls the API returned for the inclusive upper
                                              -- bound second but created at/after window_end
                                              -- (they belong to the next window); last sweep
    api_total_items     BIGINT,               -- the API's totalItems on the final sweep
    attempts            INTEGER     NOT NULL, -- HTTP requests sent, retries included
    seconds             DOUBLE      NOT NULL, -- wall time of the fetch (s)
    settled             BOOLEAN     NOT NULL, -- totalItems equal to the previous fetch of this
                                              -- window AND this fetch reconciled
    new_fields          VARCHAR[]             -- call fields not known to the client, if any
);

-- reconciled: landed + rejected + outside_window >= totalItems on every slice swept (the whole
-- window, or each sub-window when it was split); FALSE = the API counted calls we did not see.
ALTER TABLE raw.ingest_ledger ADD COLUMN IF NOT EXISTS reconciled BOOLEAN;
-- sub_windows: slices swept: 1 when the window was swept whole, else the number of leaf
-- sub-windows the client split it into (its result set could not be paged in one go).
ALTER TABLE raw.ingest_ledger ADD COLUMN IF NOT EXISTS sub_windows INTEGER;
-- slices: the leaf sub-windows, a JSON list of {"start": ISO-8601 UTC, "end": ISO-8601 UTC}
-- (createTime ranges, start inclusive, end exclusive) in order; NULL when not split.
ALTER TABLE raw.ingest_ledger ADD COLUMN IF NOT EXISTS slices JSON;
-- shortfall: calls the API counted (totalItems) but the fetch did not see, summed over the
-- slices; 0 when reconciled.
ALTER TABLE raw.ingest_ledger ADD COLUMN IF NOT EXISTS shortfall BIGINT;
-- moved_in: calls of this fetch whose previous row in raw.calls was in another window (moved
-- here by this commit; their old hours were marked in raw.stale_hours).
ALTER TABLE raw.ingest_ledger ADD COLUMN IF NOT EXISTS moved_in BIGINT;

-- raw.stale_hours: UTC hours of a project whose analytics buckets wait for a refresh. Two
-- writers: the commit that moved calls to another window marks the hour they left, with
-- occupied_until (same transaction); an analytics refresh marks the owner hours of buckets it
-- changed but does not own (occupied_until NULL; pipeline/warehouse/ownership.py). The
-- refresh of an hour deletes its mark; the stale_analytics sensor and `pipeline ingest`
-- refresh the marked hours. Empty in a steady state. (Files from before project_id had PRIMARY KEY (hour_start): pipeline/warehouse/
-- schema.py rebuilds that table once, marking its hours for every project in raw.calls.)
CREATE TABLE IF NOT EXISTS raw.stale_hours (
    project_id      VARCHAR     NOT NULL, -- Sinch project of the calls that moved
    hour_start      TIMESTAMPTZ NOT NULL, -- UTC hour the calls left (create_time bucket)
    occupied_until  TIMESTAMPTZ,          -- latest end of the moved calls' channel occupancy,
                                          -- capped at create_time + 24 h; NULL = none ended
    marked_at       TIMESTAMPTZ NOT NULL, -- when the latest move into another window committed
    PRIMARY KEY (project_id, hour_start)
);

-- raw.trunks: SIP trunks of the project, for names and CPS limits.
CREATE TABLE IF NOT EXISTS raw.trunks (
    trunk_id          VARCHAR     NOT NULL, -- id
    name              VARCHAR,              -- name
    calls_per_second  INTEGER,              -- callsPerSecond, the trunk's CPS limit
    raw               JSON        NOT NULL, -- original JSON
    fetched_at        TIMESTAMPTZ NOT NULL
);

-- project_id: the Sinch project a row belongs to, on every raw table (raw.calls has it as a
-- column of the record). Each project's rows are written and replaced only by that project's
-- runs: windows, moves, ledger and trunks are all per project (CALLS_PROJECTS_FILE lists the
-- projects; without it, the one project of SINCH_PROJECT_ID or the sandbox). Rows of files
-- written before this column (NULL here) are adopted by the first project that writes the file.
ALTER TABLE raw.ingest_ledger ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE raw.rejected_calls ADD COLUMN IF NOT EXISTS project_id VARCHAR;
ALTER TABLE raw.trunks ADD COLUMN IF NOT EXISTS project_id VARCHAR;
