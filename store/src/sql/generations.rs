//! Distribution generations: one counter per tenant, incremented in the transaction of every
//! change that can alter an agent's bundle (machine groups, collection configs and their
//! rollouts, bindings). After the commit the replica publishes the new value to its waiting
//! agents at once; every replica also polls the counters now and then, which is how its waiting
//! agents learn of changes committed by other replicas.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::Row;
use tokio::sync::watch;

use super::{Conn, SqlStore, dynamic};

/// Tenants read per statement when polling; keeps statements well under parameter limits.
const POLL_CHUNK: usize = 500;
use crate::error::StoreResult;

pub(crate) async fn bump_generation(conn: &mut Conn, tenant: &str) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO distribution_generations (tenant, generation) VALUES ($1, 1) \
         ON CONFLICT (tenant) DO UPDATE SET generation = distribution_generations.generation + 1 \
         RETURNING generation",
    )
    .bind(tenant.to_string())
    .fetch_one(&mut *conn)
    .await?)
}

/// The tenant's generation; 0 before its first change.
pub(crate) async fn read_generation(conn: &mut Conn, tenant: &str) -> StoreResult<i64> {
    let generation: Option<i64> =
        sqlx::query_scalar("SELECT generation FROM distribution_generations WHERE tenant = $1")
            .bind(tenant.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(generation.unwrap_or(0))
}

/// One watch channel per tenant with waiting agents on this replica. A receiver is a pointer and
/// a version number, so ten thousand waiters cost a few hundred kilobytes.
#[derive(Debug, Default)]
pub(crate) struct GenerationWatch {
    senders: Mutex<HashMap<String, watch::Sender<i64>>>,
}

impl GenerationWatch {
    pub(crate) fn subscribe(&self, tenant: &str) -> watch::Receiver<i64> {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders
            .entry(tenant.to_string())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// Raises the tenant's published generation; waiters wake only when it grows, so a poll that
    /// reads an older value than a publish already made cannot wake anyone for nothing.
    pub(crate) fn publish(&self, tenant: &str, generation: i64) {
        let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = senders.get(tenant) {
            sender.send_if_modified(|current| {
                if generation > *current {
                    *current = generation;
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Forgets tenants nobody waits on and returns the others.
    fn watched(&self) -> Vec<String> {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders.retain(|_, sender| sender.receiver_count() > 0);
        senders.keys().cloned().collect()
    }
}

impl SqlStore {
    /// Tells this replica's waiting agents of `tenant` about a committed change.
    pub(crate) async fn publish_generation(&self, tenant: &str) {
        let read = async {
            let mut conn = self.reader().await?;
            read_generation(&mut conn, tenant).await
        };
        match read.await {
            Ok(generation) => self.generations.publish(tenant, generation),
            // The waiters still see the change at the next poll.
            Err(error) => {
                tracing::warn!(%error, tenant, "could not read a distribution generation")
            }
        }
    }

    /// Reads the generations of the tenants with waiting agents here and publishes them.
    /// Returns how many tenants were looked at.
    pub(crate) async fn poll_generations(&self) -> StoreResult<usize> {
        let watched = self.generations.watched();
        if watched.is_empty() {
            return Ok(0);
        }
        let mut conn = self.reader().await?;
        for chunk in watched.chunks(POLL_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT tenant, generation FROM distribution_generations WHERE tenant IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(dynamic(sql));
            for tenant in chunk {
                query = query.bind(tenant.clone());
            }
            for row in query.fetch_all(&mut *conn).await? {
                let tenant: String = row.try_get("tenant")?;
                self.generations
                    .publish(&tenant, row.try_get::<i64, _>("generation")?);
            }
        }
        Ok(watched.len())
    }
}
