-- Telegram notifications (issue 16): an outbox of messages to users and admins, written in the
-- transaction of the event that causes them and sent by the `notify` component's job; a per-user
-- opt-out; and the operator's own wording per kind of message.

-- Users who logged in with Telegram get messages unless they turn them off (PATCH /me/profile).
ALTER TABLE users ADD COLUMN telegram_notifications BOOLEAN NOT NULL DEFAULT TRUE;

-- The highest traffic alert (0, 80 or 100 percent) raised in the subscription's current period:
-- the usage count tells a crossing from a level already told without reading the old value.
ALTER TABLE subscriptions ADD COLUMN traffic_alerted BIGINT NOT NULL DEFAULT 0;

-- One row per message and recipient. The chat is the recipient's `telegram_id` at send time, so
-- a message follows an account that changed it and stops for one that opted out meanwhile.
CREATE TABLE notifications (
    id               BIGSERIAL PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    -- JSON object: the values of the kind's {placeholders}, ready to print.
    params           TEXT NOT NULL DEFAULT '{}',
    -- The event (e.g. `subscription.expiring:<id>:<expiry>:3d`): each fires once per recipient.
    dedupe_key       TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    -- When a sender took it (state `sending`); a claim older than the lease is a crashed sender's.
    claimed_at       BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    UNIQUE (dedupe_key, user_id)
);
CREATE INDEX notifications_due_idx ON notifications (state, next_attempt_at);
CREATE INDEX notifications_created_idx ON notifications (created_at);

-- The operator's text per kind; a kind without a row uses the built-in default.
CREATE TABLE notification_templates (
    kind        TEXT PRIMARY KEY,
    text        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
