//! A logstore's shards as tenants see them: key ranges and status, with the worker accepting
//! each `readwrite` shard's writes and the workers serving its queries.

use std::collections::{BTreeSet, HashMap};

use logplane_model::{Shard, ShardStatus, ShardWorker, Timestamp};
use sqlx::Row;

use super::resource::bind_key;
use super::workers::parse_worker_spec;
use super::{Conn, dynamic};
use crate::error::{StoreError, StoreResult};

/// Every shard of the logstore `key` (tenant, project, logstore), by id.
pub(crate) async fn read_shards(conn: &mut Conn, key: &[&str]) -> StoreResult<Vec<Shard>> {
    let rows = bind_key(
        sqlx::query(
            "SELECT s.shard_id, s.inclusive_begin_key, s.exclusive_end_key, s.status, s.created_at, \
             p.owner, p.owner_lost, p.query_replicas FROM shards s \
             LEFT JOIN shard_placements p ON p.tenant = s.tenant AND p.project = s.project \
             AND p.logstore = s.logstore AND p.shard_id = s.shard_id \
             WHERE s.tenant = $1 AND s.project = $2 AND s.logstore = $3 ORDER BY s.shard_id",
        ),
        key,
    )
    .fetch_all(&mut *conn)
    .await?;
    struct Listed {
        shard: Shard,
        owner: Option<String>,
        replicas: Vec<String>,
    }
    let mut listed = Vec::with_capacity(rows.len());
    let mut named: BTreeSet<String> = BTreeSet::new();
    for row in &rows {
        let status: String = row.try_get("status")?;
        let status = ShardStatus::parse(&status)
            .ok_or_else(|| StoreError::internal(format!("unknown shard status {status:?}")))?;
        let lost = row.try_get::<Option<i64>, _>("owner_lost")?.unwrap_or(0) != 0;
        // Only a readwrite shard takes writes, and a lost owner takes none.
        let owner = row
            .try_get::<Option<String>, _>("owner")?
            .filter(|_| status == ShardStatus::Readwrite && !lost);
        let replicas: Vec<String> = match row.try_get::<Option<String>, _>("query_replicas")? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                StoreError::internal(format!("stored query replicas do not parse: {e}"))
            })?,
            None => Vec::new(),
        };
        named.extend(owner.iter().cloned());
        named.extend(replicas.iter().cloned());
        listed.push(Listed {
            shard: Shard {
                id: row.try_get("shard_id")?,
                inclusive_begin_key: row.try_get("inclusive_begin_key")?,
                exclusive_end_key: row.try_get("exclusive_end_key")?,
                status,
                created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
                ingest_owner: None,
                query_replicas: Vec::new(),
            },
            owner,
            replicas,
        });
    }
    let addresses = worker_addresses(conn, &named).await?;
    // A worker forgotten since the placement was written is left out until the next one.
    let shard_worker = |id: &String| {
        addresses.get(id).map(|address| ShardWorker {
            worker: id.clone(),
            address: address.clone(),
        })
    };
    Ok(listed
        .into_iter()
        .map(|entry| Shard {
            ingest_owner: entry.owner.as_ref().and_then(shard_worker),
            query_replicas: entry.replicas.iter().filter_map(shard_worker).collect(),
            ..entry.shard
        })
        .collect())
}

async fn worker_addresses(
    conn: &mut Conn,
    ids: &BTreeSet<String>,
) -> StoreResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, spec FROM workers WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(dynamic(sql));
    for id in ids {
        query = query.bind(id.clone());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let spec = parse_worker_spec(&id, &row.try_get::<String, _>("spec")?)?;
            Ok((id, spec.address))
        })
        .collect()
}
