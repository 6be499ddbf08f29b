-- sip_failure_causes: Why do calls fail? The final SIP responses and Q.850 causes of the
-- calls that were not answered, per trunk and direction, most frequent first, last 7 days.
-- From the export (raw.call_details); calls without details are not here. SIP codes: RFC 3261
-- §21; Q.850 causes: ITU-T Q.850; release class: docs/kpi-definitions.md.
-- Window: the 7 x 24 UTC hours ending at the end of the hour of the newest call (data_window).
-- Source: analytics.sip_causes_hourly (release_class <> 'answered').
-- Parameters: none.
-- Columns:
--   project_id         VARCHAR  Sinch project
--   trunk_id           VARCHAR  trunk id
--   trunk_name         VARCHAR  trunk name from raw.trunks (NULL if unknown)
--   direction          VARCHAR  INBOUND | OUTBOUND
--   sip_response_code  INTEGER  final SIP status (NULL = not exported)
--   cause_code         INTEGER  Q.850 cause (NULL = not exported)
--   sip_class          VARCHAR  '3xx'...'6xx', 'none'
--   release_class      VARCHAR  user | invalid | cps_refused | network | unclassified
--   calls              BIGINT   calls with this outcome
--   share_of_failures  DOUBLE   calls / all unanswered calls with details of the trunk and direction
--   share_of_details   DOUBLE   calls / all calls with details of the trunk and direction
.read sql/views/all.sql
WITH per_code AS (
    SELECT
        s.project_id, s.trunk_id, s.direction, s.sip_response_code, s.cause_code,
        any_value(s.sip_class) AS sip_class, s.release_class, sum(s.calls) AS calls
    FROM analytics.sip_causes_hourly AS s
    CROSS JOIN data_window AS w
    WHERE s.hour_start >= w.window_start AND s.hour_start < w.window_end
    GROUP BY ALL
),
totals AS (
    SELECT
        project_id, trunk_id, direction,
        sum(calls) AS details_calls,
        sum(calls) FILTER (WHERE release_class <> 'answered') AS failures
    FROM per_code
    GROUP BY ALL
)
SELECT
    p.project_id,
    p.trunk_id,
    t.trunk_name,
    p.direction,
    p.sip_response_code,
    p.cause_code,
    p.sip_class,
    p.release_class,
    p.calls::BIGINT                        AS calls,
    p.calls / nullif(o.failures, 0)        AS share_of_failures,
    p.calls / o.details_calls              AS share_of_details
FROM per_code AS p
JOIN totals AS o USING (project_id, trunk_id, direction)
LEFT JOIN trunks_latest AS t ON t.project_id = p.project_id AND t.trunk_id = p.trunk_id
WHERE p.release_class <> 'answered'
ORDER BY calls DESC, p.project_id, p.trunk_id, p.direction, p.sip_response_code NULLS LAST,
    p.cause_code NULLS LAST, p.release_class;
