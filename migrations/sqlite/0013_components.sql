-- Components live in the database (issue 17): every version stored once by the SHA-256 of its
-- bytes, the active version per name, and one revision of the active set that every activation
-- moves in the same transaction, so each Core replica can tell with one row read that it must
-- load the set again.
CREATE TABLE component_versions (
    hash         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    wasm         BLOB NOT NULL,
    -- [{"method","path","auth"}] and [{"name","intervalMs"}], as the component declared them.
    routes       TEXT NOT NULL,
    jobs         TEXT NOT NULL,
    -- A bundled component from COMPONENTS_DIR (registered at start), not an operator's upload.
    factory      BOOLEAN NOT NULL,
    -- The admin who uploaded it; NULL for a factory version.
    uploaded_by  TEXT,
    uploaded_at  BIGINT NOT NULL
);
CREATE INDEX component_versions_name_idx ON component_versions (name, uploaded_at);

CREATE TABLE component_active (
    name           TEXT PRIMARY KEY,
    hash           TEXT NOT NULL REFERENCES component_versions (hash),
    -- What rollback goes back to (no foreign key: deleting that version clears it).
    previous_hash  TEXT,
    -- NULL when the Core activated a factory version at start.
    activated_by   TEXT,
    activated_at   BIGINT NOT NULL
);

-- One row (id 1), created by the first activation: an empty table reads as revision 0, so a
-- fresh database stays empty for `nexuma restore`.
CREATE TABLE component_set (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);
