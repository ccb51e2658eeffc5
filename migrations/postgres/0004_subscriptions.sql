-- Billing (issue 5, second step): subscriptions and their links, a per-user ledger sequence, and
-- the outbox of node-facing changes.

-- Ledger rows of one user in the order they happened, even within one millisecond: the balance
-- row (locked by every movement) counts, the ledger row keeps the number. Older rows keep 0.
ALTER TABLE balances ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE balance_ledger ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
-- The subscription a charge, renewal or refund paid for, if any.
ALTER TABLE balance_ledger ADD COLUMN subscription_id TEXT;
CREATE INDEX balance_ledger_seq_idx ON balance_ledger (user_id, seq);

-- A user's access bought from a tariff. The tariff's terms of the current period (price,
-- currency, duration, traffic limit) are copied, so editing a tariff never changes what a user
-- has already paid for; its protocol and node permissions are read live.
-- Expiry is calendar months from an anchor: expires_at = anchor_at + duration_months * periods,
-- so renewals never drift (31 Jan -> 28 Feb -> 31 Mar). NULL expires_at: indefinite.
CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- No cascade: a tariff with subscriptions cannot be deleted, only retired.
    tariff_id            TEXT NOT NULL REFERENCES tariffs (id),
    status               TEXT NOT NULL CHECK (status IN ('active', 'expired', 'cancelled')),
    -- Why it is not active (time, traffic_limit, insufficient_funds, user, admin).
    status_reason        TEXT,
    price                BIGINT NOT NULL CHECK (price >= 0),
    currency             TEXT NOT NULL,
    duration_months      BIGINT,
    traffic_limit_bytes  BIGINT,
    traffic_used_bytes   BIGINT NOT NULL DEFAULT 0,
    auto_renew           BOOLEAN NOT NULL DEFAULT FALSE,
    anchor_at            BIGINT NOT NULL,
    periods              BIGINT NOT NULL DEFAULT 1,
    period_start         BIGINT NOT NULL,
    expires_at           BIGINT,
    -- The ledger row that paid the current period; NULL when it was free or given by an admin.
    charge_id            TEXT,
    renewals             BIGINT NOT NULL DEFAULT 0,
    idempotency_key      TEXT,
    ended_at             BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (user_id, idempotency_key)
) WITH (fillfactor = 70);  -- usage reports update traffic_used_bytes often: leave room for HOT
CREATE INDEX subscriptions_user_idx ON subscriptions (user_id, created_at);
CREATE INDEX subscriptions_due_idx ON subscriptions (status, expires_at);
CREATE INDEX subscriptions_tariff_idx ON subscriptions (tariff_id);

-- Links belong to a subscription (NULL: a Node Manager user's link). protocols and node_ids
-- narrow what the tariff permits (JSON lists; NULL: all of it).
ALTER TABLE subscription_links
    ADD COLUMN subscription_id TEXT REFERENCES subscriptions (id) ON DELETE CASCADE;
ALTER TABLE subscription_links ADD COLUMN protocols TEXT;
ALTER TABLE subscription_links ADD COLUMN node_ids TEXT;
CREATE INDEX subscription_links_subscription_idx ON subscription_links (subscription_id);

-- Outbox of changes that nodes must see (a link added, disabled, reset or deleted; a
-- subscription activated, expired or cancelled; a tariff's protocols or nodes edited). Written in
-- the transaction of the change; the node config builder takes unprocessed rows, bumps the
-- revisions of the nodes they touch and sets processed_at. (Take rows by processed_at, not by
-- seq: sequences may commit out of order.)
CREATE TABLE node_changes (
    seq              BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    user_id          TEXT,
    subscription_id  TEXT,
    link_id          TEXT,
    tariff_id        TEXT,
    detail           TEXT,
    created_at       BIGINT NOT NULL,
    processed_at     BIGINT
);
CREATE INDEX node_changes_pending_idx ON node_changes (processed_at, seq);
