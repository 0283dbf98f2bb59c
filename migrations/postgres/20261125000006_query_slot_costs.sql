-- Tenants are charged for the slot time their queries really held: a request is tagged with its
-- cost hint, and when its slot is released (or expires, or the request is abandoned) the
-- difference between the time held and the hint is settled into the tenant's finish tag.
ALTER TABLE query_slots ADD COLUMN tagged_cost BIGINT NOT NULL DEFAULT 0;
ALTER TABLE query_slots ADD COLUMN granted_at BIGINT;
