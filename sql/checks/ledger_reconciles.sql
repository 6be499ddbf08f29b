-- Check: for each window's latest fetch,
--   * the fetch reconciled (landed + rejected + outside-window >= totalItems on every slice
--     swept; reconciled is NULL on ledger rows older than the column, read as TRUE);
--   * for a window swept whole, records + rejected + outside_window (calls of the inclusive
--     upper-bound second that belong to the next window) = the API's totalItems (a split
--     window's slices share edges, so only the per-slice rule above applies to it);
--   * the ledger's record count equals the rows now in raw.calls for that window. Fewer rows
--     than records means calls moved since to a later fetch of another window (the API lists
--     them there now; latest fetch wins): re-ingest this window to see where the API puts them.
-- Scope: windows $start <= window_start < $end of project $project (NULL = unbounded; see
-- create_time_in_window.sql), in the ledger and in raw.calls alike.
WITH latest AS (
    SELECT *
    FROM raw.ingest_ledger
    WHERE ($start IS NULL OR window_start >= $start)
      AND ($end IS NULL OR window_start < $end)
      AND ($project IS NULL OR project_id = $project)
    QUALIFY row_number() OVER (
        PARTITION BY project_id, window_start, window_end ORDER BY fetched_at DESC
    ) = 1
),
landed AS (
    SELECT project_id, window_start, count(*) AS n
    FROM raw.calls
    WHERE ($start IS NULL OR window_start >= $start)
      AND ($end IS NULL OR window_start < $end)
      AND ($project IS NULL OR project_id = $project)
    GROUP BY ALL
),
mismatch AS (
    SELECT l.project_id, l.window_start, l.records, l.rejected, l.outside_window, l.api_total_items,
        coalesce(l.reconciled, TRUE) AS reconciled, l.shortfall, l.sub_windows,
        coalesce(c.n, 0) AS in_table
    FROM latest AS l
    LEFT JOIN landed AS c
        ON c.project_id IS NOT DISTINCT FROM l.project_id AND c.window_start = l.window_start
    WHERE NOT coalesce(l.reconciled, TRUE)
       OR (l.api_total_items IS NOT NULL AND coalesce(l.sub_windows, 1) <= 1
           AND l.records + l.rejected + l.outside_window <> l.api_total_items)
       OR l.records <> coalesce(c.n, 0)
)
SELECT
    count(*)::BIGINT AS failures,
    string_agg(
        coalesce(project_id || ' ', '') || strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%MZ')
        || ' landed=' || records || '+' || rejected || '+' || outside_window || ' api=' || coalesce(api_total_items::VARCHAR, '?')
        || ' table=' || in_table
        || CASE WHEN in_table < records THEN ' (calls moved to another window since)' ELSE '' END
        || CASE WHEN reconciled THEN ''
                ELSE ' NOT reconciled: ' || coalesce(shortfall, 0) || ' calls counted by the API'
                     || ' but not seen over ' || coalesce(sub_windows, 1) || ' slice(s)' END,
        '; '
    ) AS detail
FROM mismatch;
