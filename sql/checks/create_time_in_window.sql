-- Check: every call lies in the window it was landed for, [window_start, window_end).
SELECT
    count(*)::BIGINT AS failures,
    string_agg(call_id, ', ') FILTER (WHERE call_id IS NOT NULL) AS detail
FROM raw.calls
WHERE create_time < window_start OR create_time >= window_end;
