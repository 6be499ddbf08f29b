-- Check: no call ends more than 24 hours after it was created. The analytics end every call
-- at create_time + 24 h (MAX_CALL_DURATION in pipeline/transforms/calendar.py), so such a
-- call's minutes, ACD, Erlangs and concurrency are capped, not as sent: usually an endTime the
-- API got wrong (9999-12-31, a clock in another century). The call stays in raw.calls.
-- Scope: windows $start <= window_start < $end of project $project (NULL = unbounded; see
-- create_time_in_window.sql).
-- detail: the first 5 ids (an API sentinel endTime may hit thousands of calls at once) and
-- the hours that hold them.
WITH capped AS (
    SELECT call_id, window_start
    FROM raw.calls
    WHERE ($start IS NULL OR window_start >= $start)
      AND ($end IS NULL OR window_start < $end)
      AND ($project IS NULL OR project_id = $project)
      AND end_time > create_time + INTERVAL 24 HOUR
)
SELECT
    count(*)::BIGINT AS failures,
    CASE WHEN count(*) > 0 THEN
        array_to_string(list_slice(list(call_id ORDER BY call_id), 1, 5), ', ')
        || CASE WHEN count(*) > 5 THEN format(' … ({} in all)', count(*)) ELSE '' END
        || format(' in {} hour(s) from {}Z', count(DISTINCT window_start),
                  strftime(min(window_start) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'))
    END AS detail
FROM capped;
