//! The token-signing secret shared by every replica, the bootstrap admin key, and looking up the
//! key behind a presented secret or token.

use std::collections::HashMap;

use logplane_model::quota::ApiRate;
use logplane_model::{Caller, QuotaSpec, Role, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, dynamic, placeholders};
use crate::context::KeyIdentity;
use crate::error::{StoreError, StoreResult};

/// The one signing key's id. Rotation would add keys beside it; verification would then try the
/// `kid` a token names.
const PRIMARY_KID: &str = "primary";
pub(crate) const BOOTSTRAP_KEY_ID: &str = "bootstrap-admin";

impl SqlStore {
    pub(crate) async fn signing_key(&self, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        // Every replica races to insert its candidate; exactly one wins and all read the winner.
        sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING")
            .bind(PRIMARY_KID)
            .bind(hex::encode(candidate))
            .bind(Timestamp::now().unix_micros())
            .execute(&self.pool)
            .await?;
        let secret: String = sqlx::query_scalar("SELECT secret FROM signing_keys WHERE kid = $1")
            .bind(PRIMARY_KID)
            .fetch_one(&self.pool)
            .await?;
        hex::decode(secret)
            .map_err(|e| StoreError::internal(format!("stored signing key is not hex: {e}")))
    }

    /// Creates the bootstrap platform-admin key, or points it at a new secret when the configured
    /// one changed (so rotating `LOGPLANE_BOOTSTRAP_ADMIN_KEY` and restarting revokes the old one).
    pub(crate) async fn bootstrap_key(&self, secret_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, scope, tenant, name, role, secret_hash, created_at) \
             VALUES ($1, '', NULL, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash",
        )
        .bind(BOOTSTRAP_KEY_ID)
        .bind(Role::PlatformAdmin.as_str())
        .bind(secret_hash.to_string())
        .bind(Timestamp::now().unix_micros())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The key, or the agent (whose id is its key id), with this id or secret hash.
    pub(crate) async fn key_caller(
        &self,
        column: &str,
        value: &str,
    ) -> StoreResult<Option<Caller>> {
        debug_assert!(
            column == "id" || column == "secret_hash",
            "keys are looked up by id or hash only"
        );
        let row = sqlx::query(dynamic(format!(
            "SELECT id, role, tenant FROM api_keys WHERE {column} = $1 \
             UNION ALL SELECT id, 'agent' AS role, tenant FROM agents WHERE {column} = $1"
        )))
        .bind(value.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(caller_from_row).transpose()
    }
}

fn caller_from_row(row: &AnyRow) -> StoreResult<Caller> {
    let role: String = row.try_get("role")?;
    Ok(Caller {
        key_id: row.try_get("id")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::internal(format!("unknown role {role:?}")))?,
        tenant: row.try_get("tenant")?,
    })
}

impl SqlStore {
    /// The key (or agent) behind a token, with its tenant's API rate. This runs on every
    /// authenticated request, so lookups that come together are answered by one query: when a
    /// change wakes a fleet, ten thousand agents call back within a second.
    pub(crate) async fn key_identity(&self, key_id: &str) -> StoreResult<Option<KeyIdentity>> {
        self.key_lookups
            .submit(key_id.to_string(), |ids| {
                let store = self.clone();
                async move { store.key_identities(ids).await }
            })
            .await
    }

    /// One result per id, in order; when the shared query fails, each id is looked up alone.
    async fn key_identities(&self, ids: Vec<String>) -> Vec<StoreResult<Option<KeyIdentity>>> {
        match self.read_key_identities(&ids).await {
            Ok(found) => ids.iter().map(|id| Ok(found.get(id).cloned())).collect(),
            Err(error) if ids.len() == 1 => vec![Err(error)],
            Err(error) => {
                tracing::debug!(%error, size = ids.len(), "a batch of key lookups failed; looking each up alone");
                let mut results = Vec::with_capacity(ids.len());
                for id in &ids {
                    let alone = self.read_key_identities(std::slice::from_ref(id)).await;
                    results.push(alone.map(|mut found| found.remove(id)));
                }
                results
            }
        }
    }

    async fn read_key_identities(
        &self,
        ids: &[String],
    ) -> StoreResult<HashMap<String, KeyIdentity>> {
        let list = placeholders(1, ids.len());
        let sql = format!(
            "SELECT k.id, k.role, k.tenant, q.spec AS quota FROM api_keys k \
             LEFT JOIN tenant_quotas q ON q.tenant = k.tenant WHERE k.id IN ({list}) \
             UNION ALL SELECT a.id, 'agent' AS role, a.tenant, q.spec AS quota FROM agents a \
             LEFT JOIN tenant_quotas q ON q.tenant = a.tenant WHERE a.id IN ({list})"
        );
        let mut query = sqlx::query(dynamic(sql));
        for id in ids {
            query = query.bind(id.clone());
        }
        let mut found = HashMap::with_capacity(ids.len());
        for row in query.fetch_all(&self.pool).await? {
            let identity = self.identity_from_row(&row)?;
            found.insert(identity.caller.key_id.clone(), identity);
        }
        Ok(found)
    }

    fn identity_from_row(&self, row: &AnyRow) -> StoreResult<KeyIdentity> {
        let caller = caller_from_row(row)?;
        let api_rate = match caller.tenant {
            None => None,
            Some(_) => {
                let overrides: Option<String> = row.try_get("quota")?;
                let spec: QuotaSpec = match overrides {
                    Some(text) => serde_json::from_str(&text).map_err(StoreError::internal)?,
                    None => QuotaSpec::default(),
                };
                let quota = spec.over(&self.quota_defaults);
                Some(ApiRate {
                    per_sec: quota.api_requests_per_sec,
                    burst: quota.api_burst,
                })
            }
        };
        Ok(KeyIdentity { caller, api_rate })
    }
}
