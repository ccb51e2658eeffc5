-- Public subscription exports (issue 7): external subscription sources whose entries are
-- appended to the exports of users whose tariff names them.

CREATE TABLE external_subscriptions (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    url               TEXT NOT NULL,
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    interval_minutes  BIGINT NOT NULL DEFAULT 60,
    -- JSON list of share links from the last good fetch; a failed fetch keeps them.
    entries           TEXT NOT NULL DEFAULT '[]',
    entries_count     BIGINT NOT NULL DEFAULT 0,
    last_fetched_at   BIGINT,
    last_ok_at        BIGINT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX external_subscriptions_created_idx ON external_subscriptions (created_at);
