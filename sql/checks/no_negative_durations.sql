-- Check: no negative durations and no call that ends before it was created or answered.
SELECT
    count(*)::BIGINT AS failures,
    string_agg(call_id, ', ') AS detail
FROM raw.calls
WHERE duration_seconds < 0
   OR billing_duration_seconds < 0
   OR end_time < create_time
   OR end_time < answer_time;
