-- The worker pool and the shard scheduler's state.
--
-- Liveness is judged by the database's clock: a worker's lease runs until lease_expires_at
-- (microseconds, set from the database's clock at each heartbeat); past it, the worker is dead.
-- Only the scheduler's leader writes shard_placements, worker_assignments and scheduler_state,
-- each time in a transaction that first checks its leader lease (epoch fencing).

CREATE TABLE workers (
    id                          TEXT COLLATE "C" PRIMARY KEY,
    -- The registration as the worker sent it (JSON text, echoed as written).
    spec                        TEXT   NOT NULL,
    etag                        TEXT   NOT NULL,
    state                       TEXT   NOT NULL CHECK (state IN ('active', 'cordoned', 'draining')),
    -- Declared query slots when the worker has the query role, else 0: summed for the arbiter.
    query_slots                 BIGINT NOT NULL,
    lease_expires_at            BIGINT NOT NULL,
    last_heartbeat_at           BIGINT,
    applied_assignment_version  BIGINT NOT NULL DEFAULT 0,
    -- The last heartbeat's per-shard loads and handover reports (JSON text): the leader reads
    -- them; each heartbeat replaces them, and a worker repeats a report until it takes effect.
    shard_load                  TEXT   NOT NULL DEFAULT '[]',
    reports                     TEXT   NOT NULL DEFAULT '{"ready":[],"released":[]}',
    registered_by               TEXT   NOT NULL,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

-- Each worker's published assignment, rendered by the leader. `version` is the scheduler
-- generation that last changed it, so versions only grow, also across leaders and a worker's
-- re-registration.
CREATE TABLE worker_assignments (
    worker         TEXT COLLATE "C" PRIMARY KEY REFERENCES workers (id) ON DELETE CASCADE,
    version        BIGINT NOT NULL,
    written_epoch  BIGINT NOT NULL,
    assignment     TEXT   NOT NULL,
    ingest_shards  BIGINT NOT NULL,
    query_shards   BIGINT NOT NULL,
    -- Its share of each hosted tenant's ingest limit (JSON text); changes without a new version.
    tenant_limits  TEXT   NOT NULL DEFAULT '[]'
);

-- What each worker last reported per tenant, summed into the tenant's usage.
CREATE TABLE worker_tenant_usage (
    worker                 TEXT COLLATE "C" NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    tenant                 TEXT COLLATE "C" NOT NULL,
    ingest_bytes_per_sec   BIGINT NOT NULL,
    ingest_events_per_sec  BIGINT NOT NULL,
    storage_bytes          BIGINT NOT NULL,
    reported_at            BIGINT NOT NULL,
    PRIMARY KEY (worker, tenant)
);
CREATE INDEX worker_tenant_usage_by_tenant ON worker_tenant_usage (tenant);

-- Per shard: the acknowledged ingest owner and any handover in flight (the scheduler's
-- IngestOwnership), and the query replicas. Readonly shards keep their row: `retired` is set
-- once their last owner released them, which lets their split or merged children take writes.
CREATE TABLE shard_placements (
    tenant            TEXT COLLATE "C" NOT NULL,
    project           TEXT COLLATE "C" NOT NULL,
    logstore          TEXT COLLATE "C" NOT NULL,
    shard_id          BIGINT NOT NULL,
    owner             TEXT COLLATE "C",
    owner_lost        BIGINT NOT NULL DEFAULT 0,
    epoch             BIGINT NOT NULL DEFAULT 0,
    last_handover     BIGINT NOT NULL DEFAULT 0,
    handover_number   BIGINT,
    handover_to       TEXT COLLATE "C",
    handover_phase    TEXT CHECK (handover_phase IN ('preparing', 'releasing', 'retiring')),
    next_target       TEXT COLLATE "C",
    retired           BIGINT NOT NULL DEFAULT 0,
    query_replicas    TEXT   NOT NULL DEFAULT '[]',
    written_epoch     BIGINT NOT NULL,
    PRIMARY KEY (tenant, project, logstore, shard_id),
    FOREIGN KEY (tenant, project, logstore, shard_id)
        REFERENCES shards (tenant, project, logstore, shard_id) ON DELETE CASCADE
);

-- One row: the latest assignment generation, the epoch of the leader that wrote it, and what
-- its reconciliation could not place.
CREATE TABLE scheduler_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    generation      BIGINT NOT NULL,
    written_epoch   BIGINT NOT NULL,
    reconciled_at   BIGINT,
    unplaced        TEXT   NOT NULL DEFAULT '[]',
    unplaced_total  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO scheduler_state (id, generation, written_epoch) VALUES (1, 0, 0);
