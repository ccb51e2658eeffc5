-- Billing (issue 5, first step): tariffs, the balance ledger and the audit log.
-- Money is BIGINT minor units; arrays and before/after snapshots are JSON TEXT.

CREATE TABLE tariffs (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    price                BIGINT NOT NULL CHECK (price >= 0),
    currency             TEXT NOT NULL,
    duration_months      BIGINT,
    traffic_limit_bytes  BIGINT,
    protocols            TEXT NOT NULL,
    node_ids             TEXT NOT NULL,
    external_source_ids  TEXT NOT NULL,
    active               BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX tariffs_created_idx ON tariffs (created_at);

-- One row per user with money; never negative. Changed only together with a ledger row.
CREATE TABLE balances (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    amount      BIGINT NOT NULL CHECK (amount >= 0),
    updated_at  BIGINT NOT NULL
);

-- Every balance change: amount is signed (+ in, - out), balance_after is the balance it left.
CREATE TABLE balance_ledger (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('deposit', 'withdrawal', 'charge', 'refund', 'renewal')),
    amount           BIGINT NOT NULL,
    balance_after    BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    reason           TEXT,
    actor_id         TEXT,
    reverses_id      TEXT,
    idempotency_key  TEXT,
    created_at       BIGINT NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX balance_ledger_user_idx ON balance_ledger (user_id, created_at);
CREATE INDEX balance_ledger_reverses_idx ON balance_ledger (reverses_id);

-- Who did what, when, from where; before/after are JSON snapshots.
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT,
    target_id    TEXT,
    ip           TEXT,
    before       TEXT,
    after        TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, created_at);
