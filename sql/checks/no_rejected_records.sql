-- Check: records the parser rejected (kept with their reason in raw.rejected_calls).
SELECT
    count(*)::BIGINT AS failures,
    string_agg(DISTINCT reason, '; ') AS detail
FROM raw.rejected_calls;
