-- Each tenant's recent query demand (a time-weighted moving average of its outstanding queries),
-- which the arbiter uses to keep room for tenants below their share. idle_from is when the
-- average falls below the activity threshold, so dispatch loads only the tenants active now.
ALTER TABLE query_tenant_tags ADD COLUMN demand_average REAL NOT NULL DEFAULT 0;
ALTER TABLE query_tenant_tags ADD COLUMN demand_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE query_tenant_tags ADD COLUMN idle_from BIGINT NOT NULL DEFAULT 0;
CREATE INDEX query_tenant_tags_by_idle_from ON query_tenant_tags (idle_from);
