-- short_duration_ratio: Which trunks have many very short answered calls (a fraud / bad-route
-- signal), over the last 7 days?
-- SDR = answered calls with conversation < 10 s / answered calls (tau = 10 s, Twilio Voice
-- Insights "short_duration_calls_percentage"; > 15 % on outbound is typically low trust).
-- Shown with the long-call share (conversation >= 60 s). Per trunk and direction.
-- Window: last 7 days ending at the newest call in the file (view data_window).
-- Parameters: none (tau = 10 s, long = 60 s, flag threshold = 0.15 are constants here).
-- Columns:
--   project_id, trunk_id, trunk_name, direction  VARCHAR
--   answered         BIGINT   COMPLETED calls with answer and end time
--   short_calls      BIGINT   of which conversation_seconds < 10
--   sdr              DOUBLE   short_calls / answered, fraction 0-1
--   long_calls       BIGINT   of which conversation_seconds >= 60
--   long_share       DOUBLE   long_calls / answered, fraction 0-1
--   acd_seconds      DOUBLE   s, average conversation of answered calls
--   sdr_flag         BOOLEAN  sdr > 0.15 (review the trunk)
.read sql/views/all.sql
SELECT
    c.project_id,
    c.trunk_id,
    any_value(c.trunk_name)                                        AS trunk_name,
    c.direction,
    count(*)                                                       AS answered,
    count(*) FILTER (WHERE c.conversation_seconds < 10)            AS short_calls,
    count(*) FILTER (WHERE c.conversation_seconds < 10) / count(*) AS sdr,
    count(*) FILTER (WHERE c.conversation_seconds >= 60)           AS long_calls,
    count(*) FILTER (WHERE c.conversation_seconds >= 60) / count(*) AS long_share,
    avg(c.conversation_seconds)                                    AS acd_seconds,
    count(*) FILTER (WHERE c.conversation_seconds < 10) / count(*) > 0.15 AS sdr_flag
FROM calls_enriched AS c
CROSS JOIN data_window AS w
WHERE c.conversation_seconds IS NOT NULL
  AND c.create_time >= w.window_start AND c.create_time < w.window_end
GROUP BY c.project_id, c.trunk_id, c.direction
ORDER BY sdr DESC, c.project_id, c.trunk_id, c.direction;
