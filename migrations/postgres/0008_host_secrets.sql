-- Secrets the host generates when the environment sets none (development only): kept in the
-- database so every replica signs and verifies with the same ones, and restarts keep sessions.
CREATE TABLE host_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
