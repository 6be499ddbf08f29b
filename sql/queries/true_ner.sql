-- true_ner: How effective is the network per trunk and direction over the last 7 days: the
-- true NER from the export's SIP/Q.850 codes beside the proxy from the call list?
-- True NER (ITU-T E.425) = (answered + user-ended) / calls with export details; calls without
-- a raw.call_details row are unknown and counted apart (details_calls vs attempts). Release
-- classes: docs/kpi-definitions.md "True NER: release classes".
-- Window: the 7 x 24 UTC hours ending at the end of the hour of the newest call (data_window).
-- Source: analytics.answer_rate_hourly (counts re-summed, rates re-derived, never averaged).
-- Parameters: none.
-- Columns:
--   project_id          VARCHAR  Sinch project
--   trunk_id            VARCHAR  trunk id ('UNKNOWN' when the record had none)
--   trunk_name          VARCHAR  trunk name from raw.trunks (NULL if unknown)
--   direction           VARCHAR  INBOUND | OUTBOUND
--   attempts            BIGINT   calls (distinct call_id)
--   details_calls       BIGINT   of which with export details (true NER denominator)
--   details_share       DOUBLE   details_calls / attempts, fraction 0-1 (coverage of the export)
--   ner_true_numerator  BIGINT   release class answered or user
--   network_failures    BIGINT   release class network
--   invalid_number      BIGINT   release class invalid (404/484..., Q.850 1/22/28)
--   cps_refused         BIGINT   SIP 603 on FAILED calls: refused over the trunk's callsPerSecond
--   unclassified        BIGINT   FAILED with details but no code
--   ner                 DOUBLE   ner_true_numerator / details_calls, fraction 0-1; NULL without details
--   ner_proxy           DOUBLE   (attempts - failed) / attempts, fraction 0-1 (call list only)
.read sql/views/all.sql
SELECT
    a.project_id,
    a.trunk_id,
    t.trunk_name,
    a.direction,
    sum(a.attempts)::BIGINT                                         AS attempts,
    coalesce(sum(a.details_calls), 0)::BIGINT                       AS details_calls,
    coalesce(sum(a.details_calls), 0) / nullif(sum(a.attempts), 0)  AS details_share,
    coalesce(sum(a.ner_true_numerator), 0)::BIGINT                  AS ner_true_numerator,
    coalesce(sum(a.network_failures), 0)::BIGINT                    AS network_failures,
    coalesce(sum(a.invalid_number), 0)::BIGINT                      AS invalid_number,
    coalesce(sum(a.cps_refused), 0)::BIGINT                         AS cps_refused,
    coalesce(sum(a.unclassified), 0)::BIGINT                        AS unclassified,
    sum(a.ner_true_numerator) / nullif(sum(a.details_calls), 0)     AS ner,
    sum(a.ner_numerator) / nullif(sum(a.attempts), 0)               AS ner_proxy
FROM analytics.answer_rate_hourly AS a
CROSS JOIN data_window AS w
LEFT JOIN trunks_latest AS t ON t.project_id = a.project_id AND t.trunk_id = a.trunk_id
WHERE a.hour_start >= w.window_start AND a.hour_start < w.window_end
GROUP BY a.project_id, a.trunk_id, t.trunk_name, a.direction
ORDER BY attempts DESC, a.project_id, a.trunk_id, a.direction;
