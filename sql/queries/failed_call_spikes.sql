-- failed_call_spikes: On which days did a trunk fail many more calls than on the same weekday
-- a week before?
-- For each trunk, direction and local report date of the last 7 dates (report time zone, the
-- newest being the local date of the newest call), FAILED calls vs the same weekday 7 days
-- earlier. Spike = at least 10 failed calls and a failure rate at least twice last week's;
-- NULL (unknown) when the same weekday last week has no attempts in the file. The newest date
-- may be a partial day (it ends at the newest call).
-- Source: analytics.answer_rate_daily (local dates of the report TZ the file was built in).
-- Parameters: none (thresholds 10 calls, x2 are constants here).
-- Columns:
--   report_date              DATE     local date in the report time zone
--   weekday                  VARCHAR  day name of report_date
--   project_id, trunk_id, trunk_name, direction  VARCHAR
--   attempts, failed         BIGINT   that day
--   failure_rate             DOUBLE   failed / attempts, fraction 0-1
--   attempts_last_week, failed_last_week  BIGINT  same weekday 7 days earlier
--   failure_rate_last_week   DOUBLE   fraction 0-1; NULL if no attempts then
--   failed_change            BIGINT   failed - failed_last_week
--   spike                    BOOLEAN  see above (NULL = no comparison possible)
.read sql/views/all.sql
WITH days AS (
    SELECT report_date, project_id, trunk_id, direction,
           sum(attempts)::BIGINT AS attempts, sum(failed)::BIGINT AS failed
    FROM analytics.answer_rate_daily
    GROUP BY ALL
),
recent AS (
    SELECT d.*
    FROM days AS d CROSS JOIN data_window AS w
    WHERE d.report_date > w.newest_report_date - 7 AND d.report_date <= w.newest_report_date
)
SELECT
    r.report_date,
    dayname(r.report_date)                               AS weekday,
    r.project_id,
    r.trunk_id,
    t.trunk_name,
    r.direction,
    r.attempts,
    r.failed,
    r.failed / nullif(r.attempts, 0)                     AS failure_rate,
    coalesce(p.attempts, 0)::BIGINT                      AS attempts_last_week,
    coalesce(p.failed, 0)::BIGINT                        AS failed_last_week,
    p.failed / nullif(p.attempts, 0)                     AS failure_rate_last_week,
    (r.failed - coalesce(p.failed, 0))::BIGINT           AS failed_change,
    CASE WHEN coalesce(p.attempts, 0) > 0
         THEN r.failed >= 10 AND r.failed / r.attempts >= 2 * p.failed / p.attempts
    END                                                  AS spike
FROM recent AS r
LEFT JOIN days AS p
    ON p.project_id = r.project_id AND p.trunk_id = r.trunk_id AND p.direction = r.direction
   AND p.report_date = r.report_date - 7
LEFT JOIN trunks_latest AS t ON t.project_id = r.project_id AND t.trunk_id = r.trunk_id
ORDER BY spike DESC NULLS LAST, failed_change DESC, r.report_date, r.project_id, r.trunk_id, r.direction;
