-- mos_quality: How good is the audio per trunk and direction over the last 7 days: mean MOS,
-- its spread and the share of answered calls with MOS < 3.5?
-- MOS: ITU-T P.800 scale as the export estimates it; bands: ITU-T G.107 user satisfaction
-- (docs/kpi-definitions.md "MOS"). Only answered calls with a measured MOS are scored.
-- Window: the 7 x 24 UTC hours ending at the end of the hour of the newest call (data_window).
-- Source: analytics.quality_hourly (sums re-summed; mean and deviation from the sums).
-- Parameters: none.
-- Columns:
--   project_id          VARCHAR  Sinch project
--   trunk_id            VARCHAR  trunk id
--   trunk_name          VARCHAR  trunk name from raw.trunks (NULL if unknown)
--   direction           VARCHAR  INBOUND | OUTBOUND
--   answered_details    BIGINT   answered calls with export details
--   mos_calls           BIGINT   of which with a measured MOS
--   mos_avg             DOUBLE   mean MOS (1-5)
--   mos_stddev          DOUBLE   population standard deviation of MOS
--   mos_min             DOUBLE   lowest MOS
--   poor_calls          BIGINT   answered calls with MOS < 3.5
--   poor_mos_share      DOUBLE   poor_calls / mos_calls, fraction 0-1
--   satisfied_share     DOUBLE   calls with MOS >= 4.03 (G.107 satisfied or better) / mos_calls
.read sql/views/all.sql
SELECT
    q.project_id,
    q.trunk_id,
    t.trunk_name,
    q.direction,
    sum(q.answered_details)::BIGINT                                   AS answered_details,
    sum(q.mos_calls)::BIGINT                                          AS mos_calls,
    sum(q.mos_sum) / nullif(sum(q.mos_calls), 0)                      AS mos_avg,
    sqrt(greatest(sum(q.mos_sum_squares) / nullif(sum(q.mos_calls), 0)
        - (sum(q.mos_sum) / nullif(sum(q.mos_calls), 0)) ^ 2, 0))     AS mos_stddev,
    min(q.mos_min)                                                    AS mos_min,
    sum(q.mos_below_3_5)::BIGINT                                      AS poor_calls,
    sum(q.mos_below_3_5) / nullif(sum(q.mos_calls), 0)                AS poor_mos_share,
    (sum(q.mos_very_satisfied) + sum(q.mos_satisfied)) / nullif(sum(q.mos_calls), 0)
                                                                      AS satisfied_share
FROM analytics.quality_hourly AS q
CROSS JOIN data_window AS w
LEFT JOIN trunks_latest AS t ON t.project_id = q.project_id AND t.trunk_id = q.trunk_id
WHERE q.hour_start >= w.window_start AND q.hour_start < w.window_end
GROUP BY q.project_id, q.trunk_id, t.trunk_name, q.direction
ORDER BY poor_mos_share DESC NULLS LAST, q.project_id, q.trunk_id, q.direction;
