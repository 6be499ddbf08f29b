-- billing_audit: Are calls billed as the price list says, per trunk, destination country and
-- currency over the last 7 local days: billed vs talked seconds, price vs price_per_minute x
-- billed / 60, calls off by more than 0.000001, and the billing increment observed?
-- docs/kpi-definitions.md "Billing audit" (exact decimals; increment "initial/step" inferred
-- from divisibility of billed seconds by 60, 30, 10, 6; read it with billed_calls).
-- Window: local dates (report TZ) of the 7 x 24 UTC hours ending at the newest call's hour
--   (data_window); a day is in once it ended.
-- Source: analytics.billing_audit_daily (counts and sums re-summed, the increment re-derived).
-- Parameters: none.
-- Columns:
--   project_id            VARCHAR        Sinch project
--   trunk_id              VARCHAR        trunk id
--   trunk_name            VARCHAR        trunk name from raw.trunks (NULL if unknown)
--   destination_country   VARCHAR        ISO 3166-1 alpha-2 of the called number; 'UNKNOWN'
--   currency              VARCHAR        ISO 4217; 'UNKNOWN' when no price
--   calls                 BIGINT         calls (both directions)
--   billed_calls          BIGINT         billed more than 0 s
--   billing_overhead      DOUBLE         audited billed s / audited conversation s - 1 (answered calls)
--   cost                  DECIMAL(38,6)  sum(price) of calls priced in one currency
--   expected_cost         DECIMAL(38,6)  sum(price_per_minute x billed s) / 60
--   cost_difference       DECIMAL(38,6)  cost - expected_cost
--   price_mismatch        BIGINT         calls whose price differs by more than 0.000001
--   currency_mismatch     BIGINT         calls priced in another currency than their list price
--   increment_observed    VARCHAR        e.g. '60/60', '60/6', '1/1'; NULL without billed calls
.read sql/views/all.sql
WITH sums AS (
    SELECT
        b.project_id, b.trunk_id, b.destination_country, b.currency,
        sum(b.calls) AS calls, sum(b.billed_calls) AS billed_calls,
        sum(b.audited_billed_seconds) AS audited_billed,
        sum(b.audited_conversation_seconds) AS audited_conv,
        sum(b.cost) AS cost, sum(b.expected_cost) AS expected_cost,
        sum(b.price_mismatch) AS price_mismatch, sum(b.currency_mismatch) AS currency_mismatch,
        sum(b.billed_below_60) AS below_60, sum(b.billed_div_60) AS d60,
        sum(b.billed_div_30) AS d30, sum(b.billed_div_10) AS d10, sum(b.billed_div_6) AS d6
    FROM analytics.billing_audit_daily AS b
    CROSS JOIN data_window AS w
    WHERE b.report_date >= CAST(timezone(w.report_tz, w.window_start) AS DATE)
      AND b.report_date < CAST(timezone(w.report_tz, w.window_end) AS DATE)
    GROUP BY ALL
),
steps AS (
    SELECT *,
        CASE WHEN d60 = billed_calls THEN 60 WHEN d30 = billed_calls THEN 30
             WHEN d10 = billed_calls THEN 10 WHEN d6 = billed_calls THEN 6 ELSE 1 END AS step
    FROM sums
)
SELECT
    s.project_id,
    s.trunk_id,
    t.trunk_name,
    s.destination_country,
    s.currency,
    s.calls::BIGINT                                       AS calls,
    s.billed_calls::BIGINT                                AS billed_calls,
    s.audited_billed / nullif(s.audited_conv, 0) - 1      AS billing_overhead,
    s.cost::DECIMAL(38, 6)                                AS cost,
    s.expected_cost::DECIMAL(38, 6)                       AS expected_cost,
    (s.cost - s.expected_cost)::DECIMAL(38, 6)            AS cost_difference,
    s.price_mismatch::BIGINT                              AS price_mismatch,
    s.currency_mismatch::BIGINT                           AS currency_mismatch,
    CASE WHEN s.billed_calls > 0 THEN
        (CASE WHEN s.below_60 = 0 AND s.step < 60 THEN 60 ELSE s.step END)::VARCHAR
        || '/' || s.step::VARCHAR
    END                                                   AS increment_observed
FROM steps AS s
LEFT JOIN trunks_latest AS t ON t.project_id = s.project_id AND t.trunk_id = s.trunk_id
ORDER BY price_mismatch DESC, calls DESC, s.project_id, s.trunk_id, s.destination_country,
    s.currency;
