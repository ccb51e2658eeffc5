-- The read side of traffic and presence (issue 16, the `usage` component).

-- /admin/usage pages all users' hourly rows in time order: a range of this index per page, the
-- keyset cursor (hour, user, node, link) continuing strictly after the last row. Its columns
-- never change once a row exists, so the usage count's in-place (HOT) updates keep working.
CREATE INDEX traffic_hourly_time_idx ON traffic_hourly (hour, user_id, node_id, link_id);

-- The same traffic per UTC day (day = epoch ms of the day's start), written by the usage count
-- in the transaction that writes the hours. Sums over days read a row per link and day instead
-- of 24 (a day of 10,000 users: 10,000 rows, not 240,000); ranges that do not start or end on
-- a UTC midnight add their edge hours from traffic_hourly. Key first by day: /admin/usage pages
-- daily rows in this order.
CREATE TABLE traffic_daily (
    day      BIGINT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id  TEXT NOT NULL,
    link_id  TEXT NOT NULL,
    up       BIGINT NOT NULL DEFAULT 0,
    down     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, user_id, node_id, link_id)
) WITH (fillfactor = 70);  -- room for in-place (HOT) updates as passes add up
-- A user's days, and the cascade on user deletion.
CREATE INDEX traffic_daily_user_idx ON traffic_daily (user_id, day);

INSERT INTO traffic_daily (day, user_id, node_id, link_id, up, down)
SELECT hour - hour % 86400000, user_id, node_id, link_id, SUM(up), SUM(down)
FROM traffic_hourly
GROUP BY hour - hour % 86400000, user_id, node_id, link_id;

-- A user's presence is looked up through their links.
CREATE INDEX link_presence_link_idx ON link_presence (link_id);
