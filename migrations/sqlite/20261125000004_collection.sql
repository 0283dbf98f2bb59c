-- Collection-config distribution (issue 5): machine groups, collection configs with their
-- immutable revisions and their rollout, bindings between the two, enrollment tokens, agents and
-- what each agent was sent and runs.

CREATE TABLE machine_groups (
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

-- The row carries the current revision (its number and hash are written with the revision row,
-- in one transaction) and the rollout of that revision over previous_revision.
CREATE TABLE collection_configs (
    tenant                 TEXT NOT NULL,
    project                TEXT NOT NULL,
    name                   TEXT NOT NULL,
    spec                   TEXT   NOT NULL,
    etag                   TEXT   NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    revision               BIGINT NOT NULL DEFAULT 0,
    content_hash           TEXT   NOT NULL DEFAULT '',
    -- The current spec's destination.logstore: the foreign key keeps a logstore that a config
    -- sends to from being deleted.
    destination_logstore   TEXT,
    previous_revision      BIGINT,
    rollout_percent        BIGINT NOT NULL DEFAULT 0 CHECK (rollout_percent BETWEEN 0 AND 100),
    rollout_state          TEXT   NOT NULL DEFAULT 'running' CHECK (rollout_state IN ('running', 'paused')),
    rollout_paused_reason  TEXT,
    rollout_updated_at     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, project, name),
    FOREIGN KEY (tenant, project) REFERENCES projects (tenant, name),
    FOREIGN KEY (tenant, project, destination_logstore) REFERENCES logstores (tenant, project, name)
);
CREATE INDEX collection_configs_by_destination ON collection_configs (tenant, project, destination_logstore);

CREATE TABLE collection_config_revisions (
    tenant             TEXT NOT NULL,
    project            TEXT NOT NULL,
    collection_config  TEXT NOT NULL,
    revision           BIGINT NOT NULL,
    content_hash       TEXT   NOT NULL,
    spec               TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant, project, collection_config, revision),
    FOREIGN KEY (tenant, project, collection_config) REFERENCES collection_configs (tenant, project, name) ON DELETE CASCADE
);

-- No cascades: a group or config with bindings cannot be deleted (409), and the foreign keys make
-- that check race-free.
CREATE TABLE collection_config_bindings (
    tenant             TEXT NOT NULL,
    project            TEXT NOT NULL,
    machine_group      TEXT NOT NULL,
    collection_config  TEXT NOT NULL,
    etag               TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant, project, machine_group, collection_config),
    FOREIGN KEY (tenant, project, machine_group) REFERENCES machine_groups (tenant, project, name),
    FOREIGN KEY (tenant, project, collection_config) REFERENCES collection_configs (tenant, project, name)
);
CREATE INDEX collection_config_bindings_by_config
    ON collection_config_bindings (tenant, project, collection_config, machine_group);

-- Grows by one with every change that can alter an agent's bundle (groups, configs, bindings,
-- rollouts). Waiting agents compare it with what their bundle was computed from; replicas poll it
-- to notice changes made by other replicas.
CREATE TABLE distribution_generations (
    tenant      TEXT PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    generation  BIGINT NOT NULL
);

CREATE TABLE agent_enrollment_tokens (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    secret_hash  TEXT   NOT NULL UNIQUE,
    labels       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX agent_enrollment_tokens_by_tenant ON agent_enrollment_tokens (tenant, id);

-- An agent is its own credential (role agent): secret_hash is its API key's hash.
CREATE TABLE agents (
    id                 TEXT PRIMARY KEY,
    tenant             TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    agent_type         TEXT   NOT NULL,
    attributes         TEXT   NOT NULL,
    enrollment_labels  TEXT   NOT NULL,
    secret_hash        TEXT   NOT NULL UNIQUE,
    enrolled_at        BIGINT NOT NULL,
    last_seen_at       BIGINT NOT NULL,
    -- The seq of the last sync; null before the first.
    last_seq           BIGINT,
    -- What the agent was last sent: the bundle's hash and the configs left out of it (their
    -- names, revisions and reasons), so a change in either is recorded.
    desired_hash       TEXT,
    desired_skipped    TEXT,
    applied_hash       TEXT,
    status_hash        TEXT,
    status_state       TEXT CHECK (status_state IN ('applying', 'applied', 'failed')),
    status_message     TEXT,
    status_at          BIGINT
);
CREATE INDEX agents_by_tenant ON agents (tenant, id);

-- Per agent and config: the revision in the last bundle sent (or skipped, with why), the last
-- report about it, and the revision the agent runs. Rollout status and automatic pauses count
-- these rows.
CREATE TABLE agent_configs (
    agent_id           TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    tenant             TEXT NOT NULL,
    project            TEXT NOT NULL,
    collection_config  TEXT NOT NULL,
    desired_revision   BIGINT,
    skipped_reason     TEXT,
    reported_revision  BIGINT,
    reported_state     TEXT CHECK (reported_state IN ('applying', 'applied', 'failed')),
    reported_message   TEXT,
    applied_revision   BIGINT,
    PRIMARY KEY (agent_id, project, collection_config),
    FOREIGN KEY (tenant, project, collection_config) REFERENCES collection_configs (tenant, project, name) ON DELETE CASCADE
);
CREATE INDEX agent_configs_by_config ON agent_configs (tenant, project, collection_config);
