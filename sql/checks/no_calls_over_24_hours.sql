-- Check: no call ends more than 24 hours after it was created. The analytics end every call
-- at create_time + 24 h (MAX_CALL_DURATION in pipeline/transforms/calendar.py), so such a
-- call's minutes, ACD, Erlangs and concurrency are capped, not as sent: usually an endTime the
-- API got wrong (9999-12-31, a clock in another century). The call stays in raw.calls.
-- Scope: windows $start <= window_start < $end of project $project (NULL = unbounded; see
-- create_time_in_window.sql).
SELECT
    count(*)::BIGINT AS failures,
    string_agg(call_id, ', ') FILTER (WHERE call_id IS NOT NULL) AS detail
FROM raw.calls
WHERE ($start IS NULL OR window_start >= $start)
  AND ($end IS NULL OR window_start < $end)
  AND ($project IS NULL OR project_id = $project)
  AND end_time > create_time + INTERVAL 24 HOUR;
