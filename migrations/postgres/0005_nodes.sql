-- Nodes of the Core (issue 6): registered node agents in pull mode, their protocol, routing and
-- outbound configuration, built configs with revisions, routing rule sets, and traffic.
-- The Node Manager's push-mode agents keep their own table, renamed to make room.

ALTER TABLE nodes RENAME TO manager_nodes;

CREATE TABLE nodes (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    -- The host clients connect to (subscriptions use it).
    address            TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'disabled', 'maintenance', 'error')),
    -- JSON: inbound specs (protocols, transports, TLS / REALITY, masking), extra outbounds,
    -- routing rule set ids in order, node routing options.
    inbounds           TEXT NOT NULL DEFAULT '[]',
    outbounds          TEXT NOT NULL DEFAULT '[]',
    rule_set_ids       TEXT NOT NULL DEFAULT '[]',
    routing            TEXT NOT NULL DEFAULT '{}',
    -- The latest built config's revision and hash; it moves only when the content changes.
    revision           BIGINT NOT NULL DEFAULT 0,
    config_hash        TEXT,
    applied_revision   BIGINT,
    sync_error         TEXT,
    sync_at            BIGINT,
    -- What the agent said last.
    last_heartbeat_at  BIGINT,
    agent_status       TEXT,
    agent_version      TEXT,
    core_version       TEXT,
    core_flavor        TEXT,
    hostname           TEXT,
    cpu_load           BIGINT,
    memory_load        BIGINT,
    clients            BIGINT,
    last_error         TEXT,
    last_error_kind    TEXT,
    last_error_at      BIGINT,
    -- JSON list of operations (restart-core, resync) the agent has not reported done.
    pending_ops        TEXT NOT NULL DEFAULT '[]',
    registered_at      BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX nodes_created_idx ON nodes (created_at);

-- The config each node gets for its revision, stored whole so a revision always serves the
-- content it was counted for.
CREATE TABLE node_configs (
    node_id     TEXT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    revision    BIGINT NOT NULL,
    body        TEXT NOT NULL,
    clients     BIGINT NOT NULL,
    built_at    BIGINT NOT NULL
);
-- Bodies run to megabytes and are written whole on every revision: store them out of line
-- without compressing them (pglz costs more time than the space is worth here).
ALTER TABLE node_configs ALTER COLUMN body SET STORAGE EXTERNAL;

-- One-time registration codes, stored as SHA-256 hex.
CREATE TABLE node_registration_codes (
    code_hash   TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_by  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX node_registration_codes_node_idx ON node_registration_codes (node_id);
CREATE INDEX node_credentials_node_idx ON node_credentials (node_id);

CREATE TABLE routing_rule_sets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    rules       TEXT NOT NULL DEFAULT '[]',
    balancers   TEXT NOT NULL DEFAULT '[]',
    blocking    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Usage reports already counted (idempotency by report id).
CREATE TABLE node_reports (
    node_id      TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    report_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (node_id, report_id)
);
CREATE INDEX node_reports_received_idx ON node_reports (received_at);

-- Usage reports taken but not yet counted: `POST /node/usage` stores a report here (after its
-- id passed `node_reports`) and answers at once; the `usage` job counts the waiting reports
-- together and deletes them in the same transaction, so each is counted exactly once.
CREATE TABLE usage_inbox (
    seq          BIGSERIAL PRIMARY KEY,
    node_id      TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    -- JSON [[link id, up, down], ...]
    entries      TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);

-- Hourly traffic per user, node and link (hour = epoch ms of the hour's start). History stays
-- when a link or node goes; it goes with its user.
CREATE TABLE traffic_hourly (
    hour     BIGINT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id  TEXT NOT NULL,
    link_id  TEXT NOT NULL,
    up       BIGINT NOT NULL DEFAULT 0,
    down     BIGINT NOT NULL DEFAULT 0,
    -- User first: a user's series and the cascade on user deletion use this index too.
    PRIMARY KEY (user_id, hour, node_id, link_id)
) WITH (fillfactor = 70);  -- room for in-place (HOT) updates as reports add up
CREATE INDEX traffic_hourly_node_idx ON traffic_hourly (node_id, hour);

CREATE TABLE outbound_traffic_hourly (
    hour     BIGINT NOT NULL,
    node_id  TEXT NOT NULL,
    tag      TEXT NOT NULL,
    up       BIGINT NOT NULL DEFAULT 0,
    down     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, node_id, tag)
);

-- Whether a link is active on a node now, from the agents' session events.
CREATE TABLE link_presence (
    node_id     TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    link_id     TEXT NOT NULL,
    online      BOOLEAN NOT NULL,
    changed_at  BIGINT NOT NULL,
    PRIMARY KEY (node_id, link_id)
);

CREATE TABLE node_errors (
    id          TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX node_errors_node_idx ON node_errors (node_id, created_at);

-- Node-facing changes of one node (its own config edited) name it.
ALTER TABLE node_changes ADD COLUMN node_id TEXT;
