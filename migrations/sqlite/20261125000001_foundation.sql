-- Tenants, projects, logstores, shards, API keys, signing keys and the audit log.
-- SQLite compares TEXT bytewise (BINARY), as PostgreSQL does with the "C" collation.
-- Times are microseconds since the Unix epoch (BIGINT), identical on both backends.
-- Specs are the client's writable fields as JSON text: TEXT keeps key order, so what a client
-- wrote is echoed exactly (jsonb would reorder it).

CREATE TABLE tenants (
    name        TEXT PRIMARY KEY,
    spec        TEXT   NOT NULL,
    etag        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE projects (
    tenant      TEXT NOT NULL REFERENCES tenants (name),
    name        TEXT NOT NULL,
    spec        TEXT   NOT NULL,
    etag        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE logstores (
    tenant      TEXT NOT NULL,
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    spec        TEXT   NOT NULL,
    etag        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, project, name),
    FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name)
);

CREATE TABLE shards (
    tenant               TEXT NOT NULL,
    project              TEXT NOT NULL,
    logstore             TEXT NOT NULL,
    shard_id             BIGINT NOT NULL,
    inclusive_begin_key  TEXT   NOT NULL,
    exclusive_end_key    TEXT   NOT NULL,
    status               TEXT   NOT NULL CHECK (status IN ('readwrite', 'readonly')),
    created_at           BIGINT NOT NULL,
    PRIMARY KEY (tenant, project, logstore, shard_id),
    FOREIGN KEY (tenant, project, logstore) REFERENCES logstores (tenant, project, name) ON DELETE CASCADE
);

-- scope is '' for platform keys and the tenant's name for tenant keys, so that key names are
-- unique per scope (a NULL tenant would make every platform key name distinct).
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    scope        TEXT NOT NULL,
    tenant       TEXT REFERENCES tenants (name) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    role         TEXT   NOT NULL,
    secret_hash  TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    UNIQUE (scope, name),
    CHECK ((tenant IS NULL AND scope = '') OR scope = tenant)
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    secret      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        BIGINT NOT NULL,
    tenant      TEXT,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    resource    TEXT   NOT NULL,
    result      TEXT   NOT NULL,
    reason      TEXT,
    request_id  TEXT
);

CREATE INDEX audit_events_by_tenant ON audit_events (tenant, id DESC);
