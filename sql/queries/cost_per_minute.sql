-- cost_per_minute: What does a billed minute cost, per currency (overall and per trunk and
-- direction), over the last 7 days?
-- Effective rate = sum(price) / (sum(billing_duration_seconds) / 60), per currency, never
-- across currencies; list rate = billed-minute-weighted average of pricePerMinute.
-- Rows with trunk_id = 'ALL' are the currency totals.
-- Window: last 7 days ending at the newest call in the file (view data_window).
-- Source: calls_enriched (calls with a price only).
-- Parameters: none.
-- Columns:
--   currency                VARCHAR        ISO 4217
--   trunk_id, trunk_name, direction  VARCHAR  ('ALL' on totals)
--   priced_calls            BIGINT         calls with a price
--   billed_minutes          DOUBLE         min, sum(billing_duration_seconds) / 60
--   cost                    DECIMAL(38,6)  sum(price), in currency
--   cost_per_billed_minute  DOUBLE         cost / billed_minutes, currency per min
--   list_price_per_minute   DOUBLE         weighted pricePerMinute (same currency only)
--   cost_per_call           DOUBLE         cost / priced_calls, currency per call
.read sql/views/all.sql
SELECT
    c.price_currency                                         AS currency,
    coalesce(c.trunk_id, 'ALL')                              AS trunk_id,
    CASE WHEN c.trunk_id IS NULL THEN 'ALL'
         ELSE any_value(c.trunk_name) END                    AS trunk_name,
    coalesce(c.direction, 'ALL')                             AS direction,
    count(*)                                                 AS priced_calls,
    sum(c.billed_seconds) / 60.0                             AS billed_minutes,
    sum(c.price)::DECIMAL(38, 6)                             AS cost,
    sum(c.price) / nullif(sum(c.billed_seconds) / 60.0, 0)   AS cost_per_billed_minute,
    sum(c.price_per_minute * c.billed_seconds)
        FILTER (WHERE c.price_per_minute_currency = c.price_currency)
        / nullif(sum(c.billed_seconds)
        FILTER (WHERE c.price_per_minute_currency = c.price_currency), 0) AS list_price_per_minute,
    sum(c.price) / count(*)                                  AS cost_per_call
FROM calls_enriched AS c
CROSS JOIN data_window AS w
WHERE c.price IS NOT NULL
  AND c.create_time >= w.window_start AND c.create_time < w.window_end
GROUP BY GROUPING SETS ((c.price_currency), (c.price_currency, c.trunk_id, c.direction))
ORDER BY currency, trunk_id = 'ALL' DESC, cost DESC, trunk_id, direction;
