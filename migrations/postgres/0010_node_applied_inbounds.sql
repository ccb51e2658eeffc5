-- Exports list only what a node's agent confirmed it runs (issue 14): each built revision keeps
-- the inbound specs it was built from, and a node keeps those of the revision its agent last
-- confirmed applying. JSON text; NULL: nothing confirmed yet (the node is left out of exports).
ALTER TABLE node_configs ADD COLUMN inbounds TEXT NOT NULL DEFAULT '[]';
ALTER TABLE nodes ADD COLUMN applied_inbounds TEXT;

-- Existing revisions were built from the node's inbounds as they are now (the revision job
-- rebuilds on every edit); a node already running its latest revision keeps its exports.
UPDATE node_configs SET inbounds = (SELECT n.inbounds FROM nodes n WHERE n.id = node_configs.node_id);
UPDATE nodes SET applied_inbounds = inbounds WHERE applied_revision = revision;
