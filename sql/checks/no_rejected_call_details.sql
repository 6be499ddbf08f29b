-- Check: export rows the CSV parser rejected (kept with their reason in
-- raw.rejected_call_details); their calls lack SIP codes and MOS.
-- Scope: windows $start <= window_start < $end of project $project (NULL = unbounded; see
-- create_time_in_window.sql).
SELECT
    count(*)::BIGINT AS failures,
    string_agg(DISTINCT reason, '; ') AS detail
FROM raw.rejected_call_details
WHERE ($start IS NULL OR window_start >= $start)
  AND ($end IS NULL OR window_start < $end)
  AND ($project IS NULL OR project_id = $project);
