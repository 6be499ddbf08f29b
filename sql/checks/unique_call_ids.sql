-- Check: every call_id appears once per project in raw.calls.
-- Returns one row: failures = surplus rows, detail = a few offending ids with the windows that
-- hold them, and what fixes it.
-- Scope: the calls of windows $start <= window_start < $end of project $project (NULL =
-- unbounded; see create_time_in_window.sql), each looked up in the WHOLE table: a duplicate
-- counts when at least one copy is in the scope. The lookup is a semi-join that reads only the
-- call_id column of the project's rows whose id lies between the scoped ids' min and max, so
-- with time-ordered ids (ULIDs, as the sandbox serves) DuckDB skips the row groups of other
-- days; with random ids it reads that one column (~30 ns a row). Without bounds (the audit)
-- the lookup is skipped: every row is in the scope.
-- Since commits move a call the API lists in another window (latest fetch wins, see
-- pipeline/warehouse/raw_calls.py), a duplicate can only come from rows landed before that,
-- or written by hand. Re-running the same run does not touch the other window, so it does not
-- help; re-ingesting one window that holds the call does: its commit keeps the call where the
-- API lists it now, deletes the other copies and marks their hours for the analytics refresh.
WITH scoped AS (
    SELECT call_id
    FROM raw.calls
    WHERE ($start IS NULL OR window_start >= $start)
      AND ($end IS NULL OR window_start < $end)
      AND ($project IS NULL OR project_id = $project)
),
copies AS (
    SELECT project_id, call_id, window_start
    FROM raw.calls
    WHERE ($project IS NULL OR project_id = $project)
      AND (($start IS NULL AND $end IS NULL)
           OR (call_id BETWEEN (SELECT min(call_id) FROM scoped) AND (SELECT max(call_id) FROM scoped)
               AND call_id IN (SELECT call_id FROM scoped)))
),
dup_keys AS (
    SELECT project_id, call_id, count(*) AS n
    FROM copies
    GROUP BY project_id, call_id
    HAVING count(*) > 1
       AND count(*) FILTER (WHERE ($start IS NULL OR window_start >= $start)
                              AND ($end IS NULL OR window_start < $end)) > 0
),
dup AS (
    -- the windows of each duplicate, aggregated for the few ids found only (string_agg over
    -- the whole table would hold every id's windows in memory during the audit)
    SELECT
        k.project_id,
        k.call_id,
        any_value(k.n) AS n,
        string_agg(
            strftime(c.window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%MZ'), ' and '
            ORDER BY c.window_start
        ) AS windows
    FROM dup_keys AS k
    JOIN raw.calls AS c
        ON c.call_id = k.call_id AND c.project_id IS NOT DISTINCT FROM k.project_id
    GROUP BY k.project_id, k.call_id
),
ranked AS (
    SELECT *, row_number() OVER (ORDER BY call_id) AS rank_ FROM dup
)
SELECT
    coalesce(sum(n - 1), 0)::BIGINT AS failures,
    string_agg(call_id || ' in ' || windows, '; ' ORDER BY call_id) FILTER (WHERE rank_ <= 5)
        || CASE WHEN count(*) > 5 THEN '; ... (' || count(*) || ' ids)' ELSE '' END
        || '. Re-ingest one of the windows named for each id (pipeline ingest --start HOUR '
        || '--end HOUR+1, or that partition in Dagster): its commit keeps the call where the '
        || 'API lists it now and deletes the other copies. Re-running the failed run alone '
        || 'does not remove them.' AS detail
FROM ranked;
