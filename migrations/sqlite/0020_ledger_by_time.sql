-- The ledger by time, for the money summary of the last days (GET /admin/billing/summary):
-- without it every summary reads the whole ledger.
CREATE INDEX balance_ledger_created_idx ON balance_ledger (created_at);
