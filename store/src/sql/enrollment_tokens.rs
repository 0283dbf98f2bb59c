//! Enrollment tokens: secrets a tenant admin hands to a fleet's installer. Only their hash is
//! stored; they expire, and revoking one stops further enrollments (agents enrolled with it keep
//! their own credentials).

use logplane_model::authz::Access;
use logplane_model::page::PageRequest;
use logplane_model::quota::QuotaExceeded;
use logplane_model::{EnrollmentToken, EnrollmentTokenRequest, Labels, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::agents::{parse_json, render_json};
use super::quotas::count;
use super::resource::paginate;
use super::{SqlStore, commit, retrying};
use crate::context::{Ctx, Listed};
use crate::error::{StoreError, StoreResult};

/// Unexpired tokens a tenant may hold at once. A token enrolls any number of agents, so a
/// handful serve any fleet; the bound keeps a script that creates one per host from piling up
/// secrets.
pub const MAX_ENROLLMENT_TOKENS: i64 = 100;

fn new_token_id() -> String {
    format!("et-{:016x}", rand::random::<u64>())
}

fn tokens_path(tenant: &str) -> String {
    format!("tenants/{tenant}/agent-enrollment-tokens")
}

fn from_row(row: &AnyRow) -> StoreResult<EnrollmentToken> {
    let labels: Labels = parse_json(&row.try_get::<String, _>("labels")?, "token labels")?;
    Ok(EnrollmentToken {
        id: row.try_get("id")?,
        labels,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
        expires_at: Timestamp::from_unix_micros(row.try_get("expires_at")?),
    })
}

impl SqlStore {
    pub(crate) async fn create_token(
        &self,
        ctx: &Ctx,
        tenant: &str,
        request: &EnrollmentTokenRequest,
        secret_hash: &str,
    ) -> StoreResult<EnrollmentToken> {
        let path = tokens_path(tenant);
        self.authorize(
            ctx,
            Some(tenant),
            Access::Admin,
            "enrollment_token.create",
            &path,
        )
        .await?;
        request.validate()?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            self.require_tenant(&mut tx, tenant, true).await?;
            let now = Timestamp::now();
            // Expired tokens enroll nobody; they go when a new one is made.
            sqlx::query(
                "DELETE FROM agent_enrollment_tokens WHERE tenant = $1 AND expires_at <= $2",
            )
            .bind(tenant.to_string())
            .bind(now.unix_micros())
            .execute(&mut *tx)
            .await?;
            let held = count(&mut tx, "agent_enrollment_tokens", "tenant = $1", &[tenant]).await?;
            if held >= MAX_ENROLLMENT_TOKENS {
                return Err(StoreError::QuotaExceeded(QuotaExceeded {
                    quota: "max_enrollment_tokens",
                    limit: MAX_ENROLLMENT_TOKENS,
                    usage: held,
                }));
            }
            let token = EnrollmentToken {
                id: new_token_id(),
                labels: request.labels.clone(),
                created_at: now,
                expires_at: Timestamp::from_unix_micros(
                    now.unix_micros() + request.expires_in_s * 1_000_000,
                ),
            };
            sqlx::query(
                "INSERT INTO agent_enrollment_tokens (id, tenant, secret_hash, labels, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token.id.clone())
            .bind(tenant.to_string())
            .bind(secret_hash.to_string())
            .bind(render_json(&token.labels)?)
            .bind(token.created_at.unix_micros())
            .bind(token.expires_at.unix_micros())
            .execute(&mut *tx)
            .await?;
            let resource = format!("{path}/{}", token.id);
            self.audit_success(
                &mut tx,
                ctx,
                Some(tenant),
                "enrollment_token.create",
                &resource,
            )
            .await?;
            commit(tx).await?;
            Ok(token)
        })
        .await
    }

    pub(crate) async fn tokens_of(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: &PageRequest,
    ) -> StoreResult<Listed<EnrollmentToken>> {
        let path = tokens_path(tenant);
        self.authorize(
            ctx,
            Some(tenant),
            Access::Admin,
            "enrollment_token.list",
            &path,
        )
        .await?;
        let mut conn = self.reader().await?;
        self.require_tenant(&mut conn, tenant, false).await?;
        let rows = sqlx::query(
            "SELECT id, labels, created_at, expires_at FROM agent_enrollment_tokens \
             WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(i64::from(page.size) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let tokens = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        paginate(tokens, page.size, |token| token.id.clone())
    }

    pub(crate) async fn revoke_token(&self, ctx: &Ctx, tenant: &str, id: &str) -> StoreResult<()> {
        let path = format!("{}/{id}", tokens_path(tenant));
        self.authorize(
            ctx,
            Some(tenant),
            Access::Admin,
            "enrollment_token.delete",
            &path,
        )
        .await?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let deleted =
                sqlx::query("DELETE FROM agent_enrollment_tokens WHERE tenant = $1 AND id = $2")
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound(path.clone()));
            }
            self.audit_success(&mut tx, ctx, Some(tenant), "enrollment_token.delete", &path)
                .await?;
            commit(tx).await
        })
        .await
    }
}
