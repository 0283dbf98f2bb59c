//! What workers report about a tenant — ingest rates on its shards and the bytes it stores —
//! summed over the live workers' latest heartbeats, for the tenant's usage report.

use logplane_model::Timestamp;
use sqlx::Row;

use super::{Conn, SqlStore, dynamic};
use crate::error::StoreResult;

/// A tenant's reported usage, over every live worker that reported it.
pub(crate) struct ReportedTotals {
    pub ingest_bytes_per_sec: i64,
    pub ingest_events_per_sec: i64,
    pub storage_bytes: i64,
    /// The latest report among them.
    pub reported_at: Timestamp,
}

impl ReportedTotals {
    /// The reported value of a quota field, where workers report one.
    pub fn value_of(&self, quota: &str) -> Option<i64> {
        match quota {
            "ingest_bytes_per_sec" => Some(self.ingest_bytes_per_sec),
            "ingest_events_per_sec" => Some(self.ingest_events_per_sec),
            "storage_bytes" => Some(self.storage_bytes),
            _ => None,
        }
    }
}

impl SqlStore {
    /// `None` until a live worker has reported on the tenant. A dead worker's last report is left
    /// out: its shards are someone else's now, and that worker reports them.
    pub(crate) async fn reported_totals(
        &self,
        conn: &mut Conn,
        tenant: &str,
    ) -> StoreResult<Option<ReportedTotals>> {
        let now = self.backend.now_micros_sql();
        let sql = format!(
            "SELECT COUNT(*) AS reports, \
             CAST(COALESCE(SUM(u.ingest_bytes_per_sec), 0) AS BIGINT) AS bytes, \
             CAST(COALESCE(SUM(u.ingest_events_per_sec), 0) AS BIGINT) AS events, \
             CAST(COALESCE(SUM(u.storage_bytes), 0) AS BIGINT) AS storage, \
             CAST(COALESCE(MAX(u.reported_at), 0) AS BIGINT) AS reported_at \
             FROM worker_tenant_usage u JOIN workers w ON w.id = u.worker \
             WHERE u.tenant = $1 AND w.lease_expires_at >= {now}"
        );
        let row = sqlx::query(dynamic(sql))
            .bind(tenant.to_string())
            .fetch_one(&mut *conn)
            .await?;
        if row.try_get::<i64, _>("reports")? == 0 {
            return Ok(None);
        }
        Ok(Some(ReportedTotals {
            ingest_bytes_per_sec: row.try_get("bytes")?,
            ingest_events_per_sec: row.try_get("events")?,
            storage_bytes: row.try_get("storage")?,
            reported_at: Timestamp::from_unix_micros(row.try_get("reported_at")?),
        }))
    }
}
