-- Usage data that does not grow without bound (issue 20): hourly rows are kept for a retention
-- the operator sets (`usage.hourlyRetentionDays` in `settings`, default 90 days), days for good.

-- Outbound traffic per UTC day (day = epoch ms of the day's start), written by
-- `/node/outbound-usage` in the transaction that writes the hours, as `traffic_daily` is: past
-- the retention the hours go and the days still hold every byte.
CREATE TABLE outbound_traffic_daily (
    day      BIGINT NOT NULL,
    node_id  TEXT NOT NULL,
    tag      TEXT NOT NULL,
    up       BIGINT NOT NULL DEFAULT 0,
    down     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, node_id, tag)
) WITH (fillfactor = 70);  -- room for in-place (HOT) updates as reports add up

INSERT INTO outbound_traffic_daily (day, node_id, tag, up, down)
SELECT hour - hour % 86400000, node_id, tag, SUM(up), SUM(down)
FROM outbound_traffic_hourly
GROUP BY hour - hour % 86400000, node_id, tag;

-- How far the retention pass has cleared hourly rows: none older than `kept_from` (a UTC
-- midnight) are read, even when the operator later keeps hours longer, since those are gone.
-- The pass moves it (never back) before it deletes.
CREATE TABLE usage_rollups (
    name        TEXT PRIMARY KEY,
    kept_from   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
