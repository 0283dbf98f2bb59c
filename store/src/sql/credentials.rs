//! The token-signing secret shared by every replica, the bootstrap admin key, and looking up the
//! key behind a presented secret or token.

use std::collections::HashMap;

use logplane_model::quota::ApiRate;
use logplane_model::{Caller, QuotaSpec, Role, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::batching::each_alone_if_together_fails;
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

/// A credential looked up for a request, in a batch with others. A batch answers by lookup: one
/// id may be looked up both ways in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyLookup {
    /// An API key or an agent with this id.
    Any(String),
    /// An agent: its row only, without its tenant's API rate (agents are held to budgets of
    /// their own). Agents are most of the lookups when a fleet wakes, so they get the cheaper
    /// query.
    Agent(String),
}

impl KeyLookup {
    fn id(&self) -> &str {
        match self {
            KeyLookup::Any(id) | KeyLookup::Agent(id) => id,
        }
    }
}

impl SqlStore {
    /// The key (or agent) behind a token, with its tenant's API rate. This runs on every
    /// authenticated request, so lookups that come together are answered by one query: when a
    /// change wakes a fleet, ten thousand agents call back within a second.
    pub(crate) async fn key_identity(&self, lookup: KeyLookup) -> StoreResult<Option<KeyIdentity>> {
        self.key_lookups
            .submit(lookup, |lookups| {
                let store = self.clone();
                async move { store.key_identities(lookups).await }
            })
            .await
    }

    /// One result per lookup, in order; when a shared query fails, each is looked up alone.
    async fn key_identities(
        &self,
        lookups: Vec<KeyLookup>,
    ) -> Vec<StoreResult<Option<KeyIdentity>>> {
        each_alone_if_together_fails(lookups.len(), "key lookup", |range| {
            let part = &lookups[range];
            async move {
                // One lookup may be in a batch twice: each gets its answer.
                let found = self.read_key_identities(part).await?;
                Ok(part
                    .iter()
                    .map(|lookup| Ok(found.get(lookup).cloned()))
                    .collect())
            }
        })
        .await
    }

    /// What `lookups` found, by lookup.
    async fn read_key_identities(
        &self,
        lookups: &[KeyLookup],
    ) -> StoreResult<HashMap<KeyLookup, KeyIdentity>> {
        let (agents, any): (Vec<&KeyLookup>, Vec<&KeyLookup>) = lookups
            .iter()
            .partition(|lookup| matches!(lookup, KeyLookup::Agent(_)));
        let mut found = HashMap::with_capacity(lookups.len());
        if !any.is_empty() {
            let list = placeholders(1, any.len());
            let sql = format!(
                "SELECT k.id, k.role, k.tenant, q.spec AS quota FROM api_keys k \
                 LEFT JOIN tenant_quotas q ON q.tenant = k.tenant WHERE k.id IN ({list}) \
                 UNION ALL SELECT a.id, 'agent' AS role, a.tenant, q.spec AS quota FROM agents a \
                 LEFT JOIN tenant_quotas q ON q.tenant = a.tenant WHERE a.id IN ({list})"
            );
            let mut query = sqlx::query(dynamic(sql));
            for lookup in &any {
                query = query.bind(lookup.id().to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let identity = self.identity_from_row(&row)?;
                found.insert(KeyLookup::Any(identity.caller.key_id.clone()), identity);
            }
        }
        if !agents.is_empty() {
            let sql = format!(
                "SELECT id, 'agent' AS role, tenant FROM agents WHERE id IN ({})",
                placeholders(1, agents.len())
            );
            let mut query = sqlx::query(dynamic(sql));
            for lookup in &agents {
                query = query.bind(lookup.id().to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let caller = caller_from_row(&row)?;
                found.insert(
                    KeyLookup::Agent(caller.key_id.clone()),
                    KeyIdentity {
                        caller,
                        api_rate: None,
                    },
                );
            }
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
