-- What a node's proxy core can run, as its agent reported it (docs/node-protocol.md,
-- `capabilities`): JSON text, NULL while nothing was reported (inbounds beyond what every core
-- runs are then held back from the node and from exports).
ALTER TABLE nodes ADD COLUMN core_capabilities TEXT;
