-- Leader leases: leader-only work (scheduling, rollouts, auto-split) runs on the replica that
-- holds the lease. Taking over increments the epoch; every leader write checks the epoch it was
-- elected with (a fencing token), so a paused former leader can never write. Expiry is judged by
-- the database's clock, never a replica's, so clock skew between replicas cannot make two
-- leaders.
CREATE TABLE leader_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT   NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
