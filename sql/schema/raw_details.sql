-- Raw layer, part 2: what GET /v1/projects/{projectId}/calls/export returned (CSV, 26 quoted
-- columns; docs/api-reference.md §4). The export carries what the call list does not: SIP
-- response and Q.850 cause codes, MOS, region, countries, emergency flag, call grouping.
-- Landed by the raw/call_details asset in the same hourly createTime windows as raw.calls.
-- Runs after raw.sql (file name order); idempotent like it.

-- raw.call_details: one row per call_id (latest version seen), keyed like raw.calls so the two
-- join on (project_id, call_id). Re-fetching a window replaces its rows. Empty CSV fields,
-- "" and the literal string "null" are NULL here; the raw_line keeps what was sent.
CREATE TABLE IF NOT EXISTS raw.call_details (
    call_id             VARCHAR     NOT NULL, -- "Call Id"
    project_id          VARCHAR,              -- "Project Id" (else the project fetched)
    create_time         TIMESTAMPTZ NOT NULL, -- "Timestamp", UTC: call set-up
    sip_response_code   INTEGER,              -- "SIP Response Code": final SIP status (200, 486…)
    cause_code          INTEGER,              -- "Cause Code": ITU-T Q.850 release cause (16…)
    mos                 DOUBLE,               -- "MOS": mean opinion score 1–5 (ITU-T P.800);
                                              -- 0.0 as sent = no media measured → NULL
    region              VARCHAR,              -- "Region" (e.g. us-west)
    from_country        VARCHAR,              -- "From Country", ISO 3166-1 alpha-2
    to_country          VARCHAR,              -- "To Country", ISO 3166-1 alpha-2
    is_emergency        BOOLEAN,              -- "Is Emergency Call"
    group_id            VARCHAR,              -- "Group Id": calls of one session share it
    relationship_type   VARCHAR,              -- "Relationship Type" (e.g. initial)
    has_children        BOOLEAN,              -- "Has Children"
    transport           VARCHAR,              -- "Transport" (udp, tcp, tls)
    port                INTEGER,              -- "Port"
    trunk_name          VARCHAR,              -- "Trunk Name"
    raw_line            VARCHAR     NOT NULL, -- the CSV record exactly as sent (no line ending)
    window_start        TIMESTAMPTZ NOT NULL, -- ingestion window start (inclusive), UTC
    window_end          TIMESTAMPTZ NOT NULL, -- ingestion window end (exclusive), UTC
    fetched_at          TIMESTAMPTZ NOT NULL  -- when this version was fetched, UTC
);

-- raw.rejected_call_details: export rows that could not be read (wrong field count, unquoted
-- rows in another column order, unparseable Timestamp or Call Id…), kept with the reason and
-- replaced with their window.
CREATE TABLE IF NOT EXISTS raw.rejected_call_details (
    project_id    VARCHAR,
    window_start  TIMESTAMPTZ NOT NULL,
    window_end    TIMESTAMPTZ NOT NULL,
    call_id       VARCHAR,              -- "Call Id" if it could be read
    reason        VARCHAR     NOT NULL, -- e.g. 'field count 15, header has 26'
    raw_line      VARCHAR     NOT NULL, -- the record as sent
    fetched_at    TIMESTAMPTZ NOT NULL
);

-- raw.details_ledger: one row per window fetch of the export (append-only), like
-- raw.ingest_ledger. status is 'landed', or 'unavailable' when the export answered 403/404 or
-- is switched off (CALLS_EXPORT=off); note says why.
CREATE TABLE IF NOT EXISTS raw.details_ledger (
    project_id     VARCHAR,
    window_start   TIMESTAMPTZ NOT NULL,
    window_end     TIMESTAMPTZ NOT NULL,
    fetched_at     TIMESTAMPTZ NOT NULL,
    run_id         VARCHAR,
    status         VARCHAR     NOT NULL, -- landed | unavailable
    pages          INTEGER     NOT NULL, -- CSV pages received
    records        BIGINT      NOT NULL, -- distinct calls landed for the window
    rejected       BIGINT      NOT NULL, -- rows kept in raw.rejected_call_details
    outside_window BIGINT      NOT NULL, -- rows created outside the window (dropped, counted)
    attempts       INTEGER     NOT NULL, -- HTTP requests sent, retries included
    seconds        DOUBLE      NOT NULL, -- wall time of the fetch (s)
    file_name      VARCHAR,              -- Content-Disposition file name of the last page
    note           VARCHAR               -- why unavailable, or NULL
);
