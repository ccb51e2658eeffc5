-- The deep admin lists page by keyset (issue 20): a page after a cursor continues strictly after
-- the last row of the one before in the list's order, so each is a range of an index on that
-- order, behind the column a common filter fixes. Where an older index is a prefix of a new one,
-- the new one replaces it (the same lookups use it; one index less to write). As PostgreSQL's.

-- GET /admin/users?status=: oldest first within the status (the unfiltered list has 0016's).
DROP INDEX users_status_idx;
CREATE INDEX users_status_idx ON users (status, created_at, id);

-- GET /admin/subscriptions: newest first, (created_at, id), unfiltered or behind userId,
-- tariffId or status. The user's index also serves a user's own list and the cascade; the
-- tariff's the "tariff has subscriptions" check.
CREATE INDEX subscriptions_created_idx ON subscriptions (created_at, id);
DROP INDEX subscriptions_user_idx;
CREATE INDEX subscriptions_user_idx ON subscriptions (user_id, created_at, id);
DROP INDEX subscriptions_tariff_idx;
CREATE INDEX subscriptions_tariff_idx ON subscriptions (tariff_id, created_at, id);
CREATE INDEX subscriptions_status_created_idx ON subscriptions (status, created_at, id);

-- GET /admin/logs: newest first, (created_at, id), unfiltered (since/until are a range of it
-- too) or behind actorId, targetId or action.
DROP INDEX audit_log_created_idx;
CREATE INDEX audit_log_created_idx ON audit_log (created_at, id);
DROP INDEX audit_log_actor_idx;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at, id);
DROP INDEX audit_log_target_idx;
CREATE INDEX audit_log_target_idx ON audit_log (target_id, created_at, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at, id);

-- GET /admin/usage?nodeId= (hourly) and ?userId= (daily): the node's (user's) rows in the
-- list's order, the filtered column left out of the cursor's comparison. Hourly rows behind
-- userId use traffic_hourly's key (user_id, hour, node_id, link_id).
DROP INDEX traffic_hourly_node_idx;
CREATE INDEX traffic_hourly_node_idx ON traffic_hourly (node_id, hour, user_id, link_id);
DROP INDEX traffic_daily_user_idx;
CREATE INDEX traffic_daily_user_idx ON traffic_daily (user_id, day, node_id, link_id);
