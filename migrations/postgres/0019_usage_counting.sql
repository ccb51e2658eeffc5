-- The usage count's costs (issue 20: counting keeps up with 100 nodes' reports a minute).

-- A waiting report's size in bytes, written with it: the count claims reports up to a byte
-- bound, and reading `LENGTH(entries)` decompressed every waiting report's entries (~0.5 MB
-- each) on every claim: 137 ms a pass with 50 reports waiting, 0.3 ms with this column.
ALTER TABLE usage_inbox ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE usage_inbox SET size = OCTET_LENGTH(entries);

-- Counting one node's usage report writes thousands of hourly and daily rows, and each row's
-- foreign key check on `users` cost ~40% of a new row's insert (measured: 10,000 rows, 252 ms
-- with the check, 157 ms without). The rows still go with their user: a trigger deletes them
-- once per deleted user instead of a check per written row. SQLite keeps its foreign keys (it
-- cannot drop one without rebuilding the table, and its embedded scale does not need this).
--
-- Counts only add to links that exist, joined in the counting statement; a count racing the
-- deletion of a user who has a subscription waits on that subscription's row, so its rows are
-- committed before this trigger's delete reads.
ALTER TABLE traffic_hourly DROP CONSTRAINT traffic_hourly_user_id_fkey;
ALTER TABLE traffic_daily DROP CONSTRAINT traffic_daily_user_id_fkey;

CREATE FUNCTION delete_user_traffic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM traffic_hourly WHERE user_id = OLD.id;
    DELETE FROM traffic_daily WHERE user_id = OLD.id;
    RETURN OLD;
END
$$;

-- Named to fire after the foreign keys' cascades (AFTER triggers run in name order; theirs
-- start with "RI_"), so a deleted subscription's count has committed first.
CREATE TRIGGER users_traffic_gone AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION delete_user_traffic();

-- The billing lifecycle job (every 2 s) looks for active subscriptions that are due by time or
-- by traffic. The time arm has its index (`subscriptions_due_idx`); the traffic arm had none, so
-- every tick read every subscription: 600 ms with two parallel workers at a million, most of a
-- vCPU taken from the requests. Only subscriptions with a limit can run out of traffic: this
-- index holds those. Its columns and condition are ones the usage count never writes, so the
-- count's updates of `traffic_used_bytes` stay in-place (HOT).
CREATE INDEX subscriptions_limited_idx ON subscriptions (updated_at, id)
    WHERE status = 'active' AND traffic_limit_bytes IS NOT NULL;
