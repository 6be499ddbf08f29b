-- top_destination_countries: Which countries do outbound calls go to, by billed minutes, and
-- what do they cost, per currency, over the last 7 days?
-- Country = longest E.164 prefix match of to_e164 (view calls_enriched, table country_codes
-- from phonenumbers; NANP split into US/CA/... by area code). Costs are never added across
-- currencies: one row per country and currency ('NONE' = calls without a price).
-- Window: last 7 days ending at the newest call in the file (view data_window).
-- Parameters: none.
-- Columns:
--   to_country              VARCHAR        ISO 3166-1 alpha-2 ('??' = number not E.164)
--   currency                VARCHAR        ISO 4217 of price
--   calls                   BIGINT         outbound calls (attempts)
--   answered                BIGINT         of which COMPLETED
--   conversation_minutes    DOUBLE         min, sum(end_time - answer_time) / 60
--   billed_minutes          DOUBLE         min, sum(billing_duration_seconds) / 60
--   cost                    DECIMAL(38,6)  sum(price) in currency
--   cost_per_billed_minute  DOUBLE         cost / billed_minutes, currency per minute
.read sql/views/all.sql
SELECT
    coalesce(c.to_country, '??')                      AS to_country,
    coalesce(c.price_currency, 'NONE')                AS currency,
    count(*)                                          AS calls,
    count(*) FILTER (WHERE c.answered)                AS answered,
    coalesce(sum(c.conversation_seconds), 0) / 60.0   AS conversation_minutes,
    coalesce(sum(c.billed_seconds), 0) / 60.0         AS billed_minutes,
    coalesce(sum(c.price), 0)::DECIMAL(38, 6)         AS cost,
    sum(c.price) / nullif(sum(c.billed_seconds) / 60.0, 0) AS cost_per_billed_minute
FROM calls_enriched AS c
CROSS JOIN data_window AS w
WHERE c.direction = 'OUTBOUND'
  AND c.create_time >= w.window_start AND c.create_time < w.window_end
GROUP BY ALL
ORDER BY billed_minutes DESC, to_country, currency
LIMIT 25;
