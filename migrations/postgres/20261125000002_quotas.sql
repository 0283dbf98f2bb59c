-- Per-tenant quota overrides. A tenant without a row follows the server's defaults; a row holds
-- only the fields set for the tenant (JSON text, as written), laid over the defaults when read.
CREATE TABLE tenant_quotas (
    tenant      TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    spec        TEXT   NOT NULL,
    etag        TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);
