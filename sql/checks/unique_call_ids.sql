-- Check: every call_id appears once per project in raw.calls.
-- Returns one row: failures = surplus rows, detail = a few offending ids with the windows that
-- hold them, and what fixes it.
-- Since commits move a call the API lists in another window (latest fetch wins, see
-- pipeline/warehouse/raw_calls.py), a duplicate can only come from rows landed before that,
-- or written by hand. Re-running the same run does not touch the other window, so it does not
-- help; re-ingesting one window that holds the call does: its commit keeps the call where the
-- API lists it now, deletes the other copies and marks their hours for the analytics refresh.
WITH dup AS (
    SELECT
        project_id,
        call_id,
        count(*) AS n,
        string_agg(
            strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%MZ'), ' and '
            ORDER BY window_start
        ) AS windows
    FROM raw.calls
    GROUP BY project_id, call_id
    HAVING count(*) > 1
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
