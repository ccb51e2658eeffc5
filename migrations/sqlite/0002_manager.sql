-- Node Manager: VPN nodes (agents), users' subscription links (the VPN credential), which user
-- is on which node with its traffic, and hourly traffic buckets for the dashboard chart.
-- A manager user is an ordinary row of `users` (no email or password); billing can take it over.

CREATE TABLE subscription_links (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    uuid        TEXT NOT NULL UNIQUE,
    name        TEXT,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX subscription_links_user_idx ON subscription_links (user_id);

CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    api_url       TEXT NOT NULL UNIQUE,
    access_key    TEXT NOT NULL,
    cert_sha256   TEXT,
    address       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'disabled', 'maintenance', 'error')),
    online        BOOLEAN NOT NULL DEFAULT FALSE,
    agent_status  TEXT,
    cpu_load      BIGINT,
    memory_load   BIGINT,
    inbounds      TEXT,
    last_seen_at  BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Traffic in KiB as the agents count it; last_check_* are the agent's cumulative counters at the
-- previous poll, so a poll adds only the difference (a counter below its last check was reset).
CREATE TABLE node_users (
    node_id               TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connected             BOOLEAN NOT NULL DEFAULT FALSE,
    total_incoming        BIGINT NOT NULL DEFAULT 0,
    total_outcoming       BIGINT NOT NULL DEFAULT 0,
    last_check_incoming   BIGINT NOT NULL DEFAULT 0,
    last_check_outcoming  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, user_id)
);
CREATE INDEX node_users_user_idx ON node_users (user_id);

-- `hour` is the epoch milliseconds of the hour's start.
CREATE TABLE usage_hourly (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    hour       BIGINT NOT NULL,
    incoming   BIGINT NOT NULL DEFAULT 0,
    outcoming  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, node_id, hour)
);
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);
