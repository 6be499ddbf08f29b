-- Check: no negative durations and no call that ends before it was created or answered.
-- Scope: windows $start <= window_start < $end of project $project (NULL = unbounded; see
-- create_time_in_window.sql).
SELECT
    count(*)::BIGINT AS failures,
    string_agg(call_id, ', ') AS detail
FROM raw.calls
WHERE ($start IS NULL OR window_start >= $start)
  AND ($end IS NULL OR window_start < $end)
  AND ($project IS NULL OR project_id = $project)
  AND (duration_seconds < 0
       OR billing_duration_seconds < 0
       OR end_time < create_time
       OR end_time < answer_time);
