-- Check: for each window's latest fetch, records + rejected + outside_window (calls of the
-- inclusive upper-bound second that belong to the next window) = the API's totalItems, and the
-- ledger's record count equals the rows now in raw.calls for that window.
WITH latest AS (
    SELECT *
    FROM raw.ingest_ledger
    QUALIFY row_number() OVER (PARTITION BY window_start, window_end ORDER BY fetched_at DESC) = 1
),
landed AS (
    SELECT window_start, count(*) AS n FROM raw.calls GROUP BY window_start
),
mismatch AS (
    SELECT l.window_start, l.records, l.rejected, l.outside_window, l.api_total_items,
        coalesce(c.n, 0) AS in_table
    FROM latest AS l
    LEFT JOIN landed AS c ON c.window_start = l.window_start
    WHERE (l.api_total_items IS NOT NULL
           AND l.records + l.rejected + l.outside_window <> l.api_total_items)
       OR l.records <> coalesce(c.n, 0)
)
SELECT
    count(*)::BIGINT AS failures,
    string_agg(
        strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%MZ')
        || ' landed=' || records || '+' || rejected || '+' || outside_window || ' api=' || coalesce(api_total_items::VARCHAR, '?')
        || ' table=' || in_table,
        '; '
    ) AS detail
FROM mismatch;
