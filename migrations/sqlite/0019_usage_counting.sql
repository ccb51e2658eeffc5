-- The usage count's costs (issue 20; PostgreSQL's migration also drops the per-row foreign key
-- checks of the traffic tables, which SQLite keeps).

-- A waiting report's size in bytes, written with it: the count claims reports up to a byte
-- bound without reading every waiting report's entries.
ALTER TABLE usage_inbox ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE usage_inbox SET size = LENGTH(CAST(entries AS BLOB));

-- The billing lifecycle job's traffic arm: only active subscriptions with a limit can run out
-- of traffic (without it, every tick read every subscription).
CREATE INDEX subscriptions_limited_idx ON subscriptions (updated_at, id)
    WHERE status = 'active' AND traffic_limit_bytes IS NOT NULL;
