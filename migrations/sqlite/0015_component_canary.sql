-- Canary activation (issue 17): while a name's canary runs, a share of its requests runs
-- another stored version beside the active one; every replica counts both and the canary ends
-- by itself (rolled back, or promoted at canary_until) or by an operator. All NULL when none
-- runs. Each start or end moves component_set's revision in its transaction, as activations do.
ALTER TABLE component_active ADD COLUMN canary_hash TEXT REFERENCES component_versions (hash);
-- 1..=99: the percent of the route's requests the canary serves.
ALTER TABLE component_active ADD COLUMN canary_percent BIGINT;
-- 0..=1: how far the canary's failure rate may exceed the active version's before it is
-- rolled back.
ALTER TABLE component_active ADD COLUMN canary_margin REAL;
-- Epoch ms: when it started (it names its shared counters, so a new canary starts at zero)
-- and when it is promoted unless it failed before.
ALTER TABLE component_active ADD COLUMN canary_started_at BIGINT;
ALTER TABLE component_active ADD COLUMN canary_until BIGINT;
-- The admin who started it; it becomes activated_by when the canary is promoted by itself.
ALTER TABLE component_active ADD COLUMN canary_by TEXT;
