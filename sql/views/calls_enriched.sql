-- Reporting views: TEMP views over raw.* / analytics.*, created on each reader connection.
-- They live only in the session that created them, so a read-only connection (and the DuckDB
-- command line opened with -readonly) can create them without a writer lock, and they never
-- go stale against the file. Needs country_codes.sql first (see all.sql).
-- All instants are TIMESTAMPTZ in UTC (run `SET TimeZone='UTC'` first; all.sql does).

-- trunks_latest: one row per project and trunk, the newest fetch of raw.trunks.
CREATE OR REPLACE TEMP VIEW trunks_latest AS
SELECT
    project_id,                                            -- Sinch project
    trunk_id,
    arg_max(name, fetched_at)             AS trunk_name,       -- trunk name (text)
    arg_max(calls_per_second, fetched_at) AS cps_limit         -- calls per second allowed
FROM raw.trunks
GROUP BY project_id, trunk_id;

-- data_window: one row. "Last 7 days" in every ready query means the 7 x 24 UTC hours that
-- end at the end of the hour holding the newest call in the file (max(create_time)), so the
-- queries give the same answer on any database, whenever they are run.
CREATE OR REPLACE TEMP VIEW data_window AS
SELECT
    newest_create_time,                                                -- UTC instant
    window_end - INTERVAL 7 DAY                        AS window_start, -- UTC, inclusive
    window_end,                                                         -- UTC, exclusive
    report_tz,                                                          -- IANA zone
    CAST(timezone(report_tz, newest_create_time) AS DATE) AS newest_report_date -- local date
FROM (
    SELECT
        max(create_time) AS newest_create_time,
        date_trunc('hour', max(create_time)) + INTERVAL 1 HOUR AS window_end,
        coalesce((SELECT any_value(report_tz) FROM analytics.report_settings), 'UTC') AS report_tz
    FROM raw.calls
);

-- calls_enriched: one row per raw.calls row with derived measures, countries and local time.
CREATE OR REPLACE TEMP VIEW calls_enriched AS
WITH numbered AS (
    SELECT
        c.*,
        ltrim(c.from_e164, '+') AS from_digits,
        ltrim(c.to_e164, '+') AS to_digits
    FROM raw.calls AS c
)
SELECT
    n.project_id,                                         -- Sinch project
    n.call_id,
    n.create_time,                                        -- UTC, call set-up
    n.answer_time,                                        -- UTC, NULL = not answered
    n.end_time,                                           -- UTC, NULL = in progress
    coalesce(n.trunk_id, 'UNKNOWN')   AS trunk_id,
    t.trunk_name,                                         -- NULL if the trunk is unknown
    coalesce(n.direction, 'UNKNOWN')  AS direction,       -- INBOUND | OUTBOUND | UNKNOWN
    n.call_result,                                        -- COMPLETED | NO_ANSWER | CANCEL | BUSY | FAILED
    coalesce(upper(n.call_result) = 'COMPLETED', false) AS answered, -- as analytics.*: COMPLETED
    n.from_e164,
    n.to_e164,
    -- conversation seconds (s): end_time - answer_time of answered calls with both stamps,
    -- else NULL (never duration_seconds, which includes ringing for INBOUND)
    CASE WHEN upper(n.call_result) = 'COMPLETED'
              AND n.answer_time IS NOT NULL AND n.end_time IS NOT NULL
         THEN epoch(n.end_time) - epoch(n.answer_time) END AS conversation_seconds,
    -- channel holding seconds (s): end_time - create_time (ringing and failed seizures too)
    epoch(n.end_time) - epoch(n.create_time)                AS holding_seconds,
    n.duration_seconds,                                   -- s, as sent by the API
    n.billing_duration_seconds                            AS billed_seconds,  -- s
    n.billing_duration_seconds / 60.0                     AS billed_minutes,  -- min
    n.price,                                              -- total charge, in price_currency
    n.price_currency,                                     -- ISO 4217
    n.price_per_minute,                                   -- list rate per minute
    n.price_per_minute_currency,
    coalesce(f4.region, f3.region, f2.region, f1.region) AS from_country, -- ISO 3166 / NULL
    coalesce(t4.region, t3.region, t2.region, t1.region) AS to_country,   -- ISO 3166 / NULL
    -- the far end's country: the called number for OUTBOUND, the caller for INBOUND
    CASE n.direction
        WHEN 'OUTBOUND' THEN coalesce(t4.region, t3.region, t2.region, t1.region)
        WHEN 'INBOUND'  THEN coalesce(f4.region, f3.region, f2.region, f1.region)
    END AS remote_country,
    -- local wall-clock time of create_time in the report time zone (TIMESTAMP, no zone)
    timezone(w.report_tz, n.create_time)                  AS create_time_local,
    CAST(timezone(w.report_tz, n.create_time) AS DATE)    AS report_date,     -- local date
    hour(timezone(w.report_tz, n.create_time))            AS local_hour,      -- 0-23
    isodow(timezone(w.report_tz, n.create_time))          AS local_isodow,    -- 1 = Monday
    w.report_tz
FROM numbered AS n
CROSS JOIN (SELECT report_tz FROM data_window) AS w
LEFT JOIN trunks_latest AS t ON t.project_id = n.project_id AND t.trunk_id = n.trunk_id
LEFT JOIN country_codes AS f1 ON f1.prefix = left(n.from_digits, 1)
LEFT JOIN country_codes AS f2 ON f2.prefix = left(n.from_digits, 2)
LEFT JOIN country_codes AS f3 ON f3.prefix = left(n.from_digits, 3)
LEFT JOIN country_codes AS f4 ON f4.prefix = left(n.from_digits, 4)
LEFT JOIN country_codes AS t1 ON t1.prefix = left(n.to_digits, 1)
LEFT JOIN country_codes AS t2 ON t2.prefix = left(n.to_digits, 2)
LEFT JOIN country_codes AS t3 ON t3.prefix = left(n.to_digits, 3)
LEFT JOIN country_codes AS t4 ON t4.prefix = left(n.to_digits, 4);
