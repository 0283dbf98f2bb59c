-- Query slots: the cluster-wide query-concurrency arbiter's state. Every decision runs in a
-- transaction that first locks the single query_arbiter row, so any number of replicas share
-- one arbiter and none can grant past a limit.
CREATE TABLE query_arbiter (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    -- Start-time fair queuing's virtual time: the start tag of the last request granted.
    virtual_time  BIGINT NOT NULL
);
INSERT INTO query_arbiter (id, virtual_time) VALUES (1, 0);

-- Each tenant's last finish tag, where its next request's start tag begins (or later).
CREATE TABLE query_tenant_tags (
    tenant       TEXT PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    last_finish  BIGINT NOT NULL
);

CREATE TABLE query_slots (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    project           TEXT NOT NULL,
    -- The API key of the query frontend that asked; only it may renew or release the slot.
    holder            TEXT   NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('queued', 'granted')),
    start_tag         BIGINT NOT NULL,
    enqueued_at       BIGINT NOT NULL,
    -- Queued: when the waiter gives up. Granted: when the lease ends unless renewed.
    expires_at        BIGINT NOT NULL,
    FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name) ON DELETE CASCADE
);
CREATE INDEX query_slots_by_state_and_tag ON query_slots (state, start_tag);
CREATE INDEX query_slots_by_tenant ON query_slots (tenant, state);
CREATE INDEX query_slots_by_expiry ON query_slots (expires_at);
