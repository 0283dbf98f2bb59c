-- The address of the client whose request an audit event records, after trusted proxies
-- (`--trusted-proxies`); null for events no request caused (expiry, the rollout guard) and for
-- events written before this column.
ALTER TABLE audit_events ADD COLUMN client_address TEXT;
