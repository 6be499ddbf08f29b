-- emergency_calls: Which hours had emergency calls, on which trunk, and were they answered?
-- From the export's "Is Emergency Call" flag (raw.call_details); last 7 days, newest first.
-- Window: the 7 x 24 UTC hours ending at the end of the hour of the newest call (data_window).
-- Source: analytics.emergency_calls_hourly (hours with at least one emergency call).
-- Parameters: none.
-- Columns:
--   project_id          VARCHAR      Sinch project
--   trunk_id            VARCHAR      trunk id
--   trunk_name          VARCHAR      trunk name from raw.trunks (NULL if unknown)
--   hour_start          TIMESTAMPTZ  UTC hour of create_time
--   emergency_calls     BIGINT       calls flagged emergency (both directions)
--   emergency_answered  BIGINT       of which COMPLETED
--   emergency_failed    BIGINT       of which FAILED
--   details_calls       BIGINT       calls with export details in that hour and trunk
.read sql/views/all.sql
SELECT
    e.project_id,
    e.trunk_id,
    t.trunk_name,
    e.hour_start,
    sum(e.emergency_calls)::BIGINT     AS emergency_calls,
    sum(e.emergency_answered)::BIGINT  AS emergency_answered,
    sum(e.emergency_failed)::BIGINT    AS emergency_failed,
    sum(e.details_calls)::BIGINT       AS details_calls
FROM analytics.emergency_calls_hourly AS e
CROSS JOIN data_window AS w
LEFT JOIN trunks_latest AS t ON t.project_id = e.project_id AND t.trunk_id = e.trunk_id
WHERE e.hour_start >= w.window_start AND e.hour_start < w.window_end
GROUP BY e.project_id, e.trunk_id, t.trunk_name, e.hour_start
HAVING sum(e.emergency_calls) > 0
ORDER BY e.hour_start DESC, e.project_id, e.trunk_id;
