-- trunks_near_limits: Which trunks come close to their calls-per-second limit or to the number
-- of channels their busy-hour traffic needs, over the last 7 days?
-- CPS: trunk-wide peak calls created in one second vs raw.trunks.calls_per_second.
-- Concurrency: Sinch trunks have no channel limit in the API, so the reference is the Erlang B
-- channel count for 1 % blocking at the trunk's highest busy-hour traffic (ITU-T E.500/E.520;
-- recursion B(A,0)=1, B(A,k)=A*B/(k+A*B), same as pipeline.transforms.erlang).
-- Window: last 7 days ending at the newest call in the file (view data_window); busy hours of
-- the local report dates whose busy hour starts in the window.
-- Parameters: none (the CPS threshold 0.8 is a constant here).
-- Columns:
--   project_id, trunk_id, trunk_name VARCHAR
--   cps_limit                      BIGINT  calls per second allowed (NULL if unknown)
--   peak_cps                       BIGINT  max calls created in one UTC second
--   cps_utilisation                DOUBLE  peak_cps / cps_limit (> 1 = over the limit)
--   hours_at_80pct_cps             BIGINT  UTC hours with peak_cps >= 0.8 x cps_limit
--   peak_concurrent_calls          BIGINT  max simultaneous calls on the trunk
--   busy_hour_erlangs              DOUBLE  E, highest daily busy-hour traffic
--   channels_1pct                  BIGINT  Erlang B channels for <= 1 % blocking at it
--   concurrency_vs_channels        DOUBLE  peak_concurrent_calls / channels_1pct
--   status                         VARCHAR OVER_CPS_LIMIT | NEAR_CPS_LIMIT (>= 0.8) |
--                                          ABOVE_ERLANG_B | OK
-- ABOVE_ERLANG_B: the peak concurrency exceeded channels_1pct, i.e. the traffic was burstier
-- than the Poisson arrivals Erlang B assumes (or the busiest hour was not the busy hour): size
-- the trunk by the observed peak. A peak just below channels_1pct is what Poisson traffic
-- does at its busy hour, so it is OK (it was flagged NEAR_CHANNELS at >= 0.8, on every trunk).
.read sql/views/all.sql
WITH RECURSIVE usage AS (
    SELECT
        u.project_id,
        u.trunk_id,
        max(u.cps_limit)::BIGINT                      AS cps_limit,
        max(u.trunk_peak_cps)::BIGINT                 AS peak_cps,
        max(u.trunk_peak_concurrent_calls)::BIGINT    AS peak_concurrent_calls,
        count(DISTINCT u.hour_start) FILTER (
            WHERE u.trunk_peak_cps >= 0.8 * u.cps_limit)::BIGINT AS hours_at_80pct_cps
    FROM analytics.trunk_usage_hourly AS u
    CROSS JOIN data_window AS w
    WHERE u.hour_start >= w.window_start AND u.hour_start < w.window_end
    GROUP BY u.project_id, u.trunk_id
),
busy AS (
    SELECT b.project_id, b.trunk_id, max(b.busy_hour_erlangs) AS busy_hour_erlangs
    FROM analytics.busy_hour_daily AS b
    CROSS JOIN data_window AS w
    WHERE b.busy_hour_start >= w.window_start AND b.busy_hour_start < w.window_end
    GROUP BY b.project_id, b.trunk_id
),
erlang_b (project_id, trunk_id, a, m, b) AS (
    SELECT project_id, trunk_id, busy_hour_erlangs, 0, 1.0::DOUBLE FROM busy
    UNION ALL
    SELECT project_id, trunk_id, a, m + 1, a * b / (m + 1 + a * b)
    FROM erlang_b
    WHERE b > 0.01 AND m < 100000
),
channels AS (
    SELECT project_id, trunk_id, min(m)::BIGINT AS channels_1pct
    FROM erlang_b WHERE b <= 0.01 GROUP BY project_id, trunk_id
)
SELECT
    u.project_id,
    u.trunk_id,
    t.trunk_name,
    u.cps_limit,
    u.peak_cps,
    u.peak_cps / nullif(u.cps_limit, 0)                         AS cps_utilisation,
    u.hours_at_80pct_cps,
    u.peak_concurrent_calls,
    b.busy_hour_erlangs,
    c.channels_1pct,
    u.peak_concurrent_calls / nullif(c.channels_1pct, 0)        AS concurrency_vs_channels,
    CASE
        WHEN u.peak_cps > u.cps_limit THEN 'OVER_CPS_LIMIT'
        WHEN u.peak_cps >= 0.8 * u.cps_limit THEN 'NEAR_CPS_LIMIT'
        WHEN u.peak_concurrent_calls > c.channels_1pct THEN 'ABOVE_ERLANG_B'
        ELSE 'OK'
    END                                                         AS status
FROM usage AS u
LEFT JOIN busy AS b USING (project_id, trunk_id)
LEFT JOIN channels AS c USING (project_id, trunk_id)
LEFT JOIN trunks_latest AS t ON t.project_id = u.project_id AND t.trunk_id = u.trunk_id
ORDER BY cps_utilisation DESC NULLS LAST, concurrency_vs_channels DESC NULLS LAST, u.trunk_id;
