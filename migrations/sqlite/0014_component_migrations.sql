-- Components bring their own schema (issue 17): each step a component version declares is run
-- once, in the transaction that activates the version, and recorded here. The row is inserted
-- before the step's SQL runs, so a replica activating the same step at the same moment waits on
-- it (the primary key) and then finds it done.
CREATE TABLE component_migrations (
    component   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT NOT NULL,
    -- SHA-256 of the SQL run on this backend: a released step never changes.
    checksum    TEXT NOT NULL,
    -- The component version (hash) whose activation ran it.
    applied_by  TEXT NOT NULL,
    applied_at  BIGINT NOT NULL,
    PRIMARY KEY (component, version)
);

-- Which contract (nexuma:core@x.y.z) each version targets, and the steps it declares
-- ([{"version","name"}]); NULL for versions stored before this migration.
ALTER TABLE component_versions ADD COLUMN contract TEXT;
ALTER TABLE component_versions ADD COLUMN migrations TEXT;
