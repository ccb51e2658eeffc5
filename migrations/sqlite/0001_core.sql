-- Core accounts, sessions, settings and node credentials.
-- Times are BIGINT epoch milliseconds and ids are TEXT, so the same SQL runs on SQLite too.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT UNIQUE,
    password_hash     TEXT,
    name              TEXT,
    role              TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending', 'rejected')),
    blocked           BOOLEAN NOT NULL DEFAULT FALSE,
    telegram_id       TEXT UNIQUE,
    telegram_username TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX users_status_idx ON users (status, created_at);

-- One row per issued refresh token; tokens rotated from one login share a family.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Operator settings, values are JSON text.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Node agents authenticate with x-node-auth-key; the host keeps only its SHA-256 (hex).
CREATE TABLE node_credentials (
    key_hash    TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
