-- time_to_answer: How long do inbound callers ring before your side answers, per trunk over
-- the last 7 days: mean, share answered within 10 s and 20 s, and a histogram-based p90?
-- answer_time - create_time of INBOUND answered calls (a service level, not PDD;
-- docs/kpi-definitions.md "Time to answer"). The p90 here is the first histogram bound that
-- reaches 90 % of the calls (3, 6, 10, 20, 30, 60 s; NULL when beyond 60 s): hourly p90s are
-- never averaged.
-- Window: the 7 x 24 UTC hours ending at the end of the hour of the newest call (data_window).
-- Source: analytics.time_to_answer_hourly (sums and cumulative counts re-summed).
-- Parameters: none.
-- Columns:
--   project_id          VARCHAR  Sinch project
--   trunk_id            VARCHAR  trunk id
--   trunk_name          VARCHAR  trunk name from raw.trunks (NULL if unknown)
--   tta_calls           BIGINT   INBOUND answered calls with answer_time
--   tta_avg_seconds     DOUBLE   s, sum / count
--   tta_max_seconds     DOUBLE   s, longest
--   within_10s_share    DOUBLE   answered within 10 s / tta_calls, fraction 0-1
--   within_20s_share    DOUBLE   answered within 20 s / tta_calls, fraction 0-1
--   tta_p90_bound_seconds  INTEGER  s, first bound with >= 90 % of calls answered within it
.read sql/views/all.sql
WITH sums AS (
    SELECT
        a.project_id, a.trunk_id,
        sum(a.tta_calls) AS n, sum(a.tta_seconds) AS s, max(a.tta_max_seconds) AS mx,
        sum(a.tta_le_3s) AS le3, sum(a.tta_le_6s) AS le6, sum(a.tta_le_10s) AS le10,
        sum(a.tta_le_20s) AS le20, sum(a.tta_le_30s) AS le30, sum(a.tta_le_60s) AS le60
    FROM analytics.time_to_answer_hourly AS a
    CROSS JOIN data_window AS w
    WHERE a.hour_start >= w.window_start AND a.hour_start < w.window_end
    GROUP BY ALL
)
SELECT
    x.project_id,
    x.trunk_id,
    t.trunk_name,
    x.n::BIGINT          AS tta_calls,
    x.s / x.n            AS tta_avg_seconds,
    x.mx                 AS tta_max_seconds,
    x.le10 / x.n         AS within_10s_share,
    x.le20 / x.n         AS within_20s_share,
    CASE
        WHEN x.le3 >= 0.9 * x.n THEN 3 WHEN x.le6 >= 0.9 * x.n THEN 6
        WHEN x.le10 >= 0.9 * x.n THEN 10 WHEN x.le20 >= 0.9 * x.n THEN 20
        WHEN x.le30 >= 0.9 * x.n THEN 30 WHEN x.le60 >= 0.9 * x.n THEN 60
    END                  AS tta_p90_bound_seconds
FROM sums AS x
LEFT JOIN trunks_latest AS t ON t.project_id = x.project_id AND t.trunk_id = x.trunk_id
WHERE x.n > 0
ORDER BY tta_avg_seconds DESC, x.project_id, x.trunk_id;
