-- Check: every call_id appears once in raw.calls.
-- Returns one row: failures = surplus rows, detail = a few offending ids.
SELECT
    coalesce(sum(n - 1), 0)::BIGINT AS failures,
    string_agg(call_id, ', ' ORDER BY call_id) FILTER (WHERE rank_ <= 5) AS detail
FROM (
    SELECT call_id, count(*) AS n, row_number() OVER (ORDER BY call_id) AS rank_
    FROM raw.calls
    GROUP BY call_id
    HAVING count(*) > 1
);
