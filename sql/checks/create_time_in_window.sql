-- Check: every call lies in the window it was landed for, [window_start, window_end).
-- Scope (named parameters, NULL = unbounded): windows $start <= window_start < $end of project
-- $project. A scheduled run passes its own hours, so DuckDB reads only their row groups
-- (zonemaps on window_start); `pipeline audit` passes NULLs and reads the whole table.
SELECT
    count(*)::BIGINT AS failures,
    string_agg(call_id, ', ') FILTER (WHERE call_id IS NOT NULL) AS detail
FROM raw.calls
WHERE ($start IS NULL OR window_start >= $start)
  AND ($end IS NULL OR window_start < $end)
  AND ($project IS NULL OR project_id = $project)
  AND (create_time < window_start OR create_time >= window_end);
