-- busiest_hours: Which clock hours carried the most traffic over the last 7 days?
-- The 20 busiest UTC hours of all trunks together, ranked by traffic intensity (Erlangs =
-- average simultaneous calls), with the local time in the report time zone.
-- Window: last 7 days ending at the newest call in the file (view data_window).
-- Source: analytics.trunk_usage_hourly (holding time [create_time, end_time) clipped to hours).
-- Parameters: none.
-- Columns:
--   hour_start        TIMESTAMPTZ  UTC start of the hour
--   hour_start_local  TIMESTAMP    the same instant on the report time zone's wall clock
--   report_tz         VARCHAR      IANA zone of hour_start_local
--   erlangs           DOUBLE       E, sum of holding seconds of all trunks / 3600
--   attempts          BIGINT       calls created in the hour
--   answered          BIGINT       of which COMPLETED
--   mou               DOUBLE       min, conversation minutes of calls created in the hour
--   busiest_trunk_peak_concurrent_calls BIGINT  highest single-trunk peak of simultaneous
--                                  calls in the hour (trunk peaks cannot be added)
.read sql/views/all.sql
WITH hours AS (
    SELECT
        u.hour_start,
        sum(u.holding_seconds) / 3600.0              AS erlangs,
        sum(u.attempts)::BIGINT                      AS attempts,
        sum(u.answered)::BIGINT                      AS answered,
        sum(u.mou)                                   AS mou,
        max(u.trunk_peak_concurrent_calls)::BIGINT   AS busiest_trunk_peak_concurrent_calls
    FROM analytics.trunk_usage_hourly AS u
    CROSS JOIN data_window AS w
    WHERE u.hour_start >= w.window_start AND u.hour_start < w.window_end
    GROUP BY u.hour_start
)
SELECT
    h.hour_start,
    timezone(w.report_tz, h.hour_start) AS hour_start_local,
    w.report_tz,
    h.erlangs,
    h.attempts,
    h.answered,
    h.mou,
    h.busiest_trunk_peak_concurrent_calls
FROM hours AS h
CROSS JOIN data_window AS w
ORDER BY h.erlangs DESC, h.hour_start
LIMIT 20;
