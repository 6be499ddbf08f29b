-- answer_rate_7d: What share of call attempts were answered, per trunk and direction, over the
-- last 7 days?
-- Window: the 7 x 24 UTC hours ending at the end of the hour of the newest call in the file
--   (view data_window; relative to the data, not to the wall clock).
-- Source: analytics.answer_rate_hourly (counts re-summed, rates re-derived, never averaged).
-- Parameters: none.
-- Columns:
--   project_id    VARCHAR  Sinch project
--   trunk_id      VARCHAR  trunk id ('UNKNOWN' when the record had none)
--   trunk_name    VARCHAR  trunk name from raw.trunks (NULL if unknown)
--   direction     VARCHAR  INBOUND | OUTBOUND
--   attempts      BIGINT   calls (distinct call_id)
--   answered      BIGINT   call_result = COMPLETED
--   failed        BIGINT   call_result = FAILED
--   asr           DOUBLE   answered / attempts, fraction 0-1 (ITU-T E.411 ASR / 100)
--   ner_proxy     DOUBLE   (attempts - failed) / attempts, fraction 0-1 (E.425 proxy)
--   window_start  TIMESTAMPTZ  UTC, inclusive
--   window_end    TIMESTAMPTZ  UTC, exclusive
.read sql/views/all.sql
SELECT
    a.project_id,
    a.trunk_id,
    t.trunk_name,
    a.direction,
    sum(a.attempts)::BIGINT                               AS attempts,
    sum(a.answered)::BIGINT                               AS answered,
    sum(a.failed)::BIGINT                                 AS failed,
    sum(a.answered) / nullif(sum(a.attempts), 0)          AS asr,
    sum(a.ner_numerator) / nullif(sum(a.attempts), 0)     AS ner_proxy,
    any_value(w.window_start)                             AS window_start,
    any_value(w.window_end)                               AS window_end
FROM analytics.answer_rate_hourly AS a
CROSS JOIN data_window AS w
LEFT JOIN trunks_latest AS t ON t.project_id = a.project_id AND t.trunk_id = a.trunk_id
WHERE a.hour_start >= w.window_start AND a.hour_start < w.window_end
GROUP BY a.project_id, a.trunk_id, t.trunk_name, a.direction
ORDER BY attempts DESC, a.project_id, a.trunk_id, a.direction;
