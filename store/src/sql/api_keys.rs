//! API keys of the platform and of tenants. Deleting a key revokes it: tokens minted from it are
//! checked against this table on every request, so they stop working at once.

use logplane_model::authz::Access;
use logplane_model::page::PageRequest;
use logplane_model::{ApiKey, ApiKeyRequest, KeyScope, Role, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::dynamic;
use super::quotas::{check_count, count};
use super::resource::paginate;
use super::{SqlStore, commit, retrying};
use crate::context::{Ctx, Listed};
use crate::error::{StoreError, StoreResult};

fn scope_column(scope: &KeyScope) -> &str {
    scope.tenant().unwrap_or("")
}

fn scope_path(scope: &KeyScope) -> String {
    match scope {
        KeyScope::Platform => "api-keys".to_string(),
        KeyScope::Tenant(tenant) => format!("tenants/{tenant}/api-keys"),
    }
}

fn access_for(scope: &KeyScope) -> Access {
    match scope {
        KeyScope::Platform => Access::Platform,
        KeyScope::Tenant(_) => Access::Admin,
    }
}

fn new_key_id() -> String {
    format!("key-{:016x}", rand::random::<u64>())
}

fn from_row(row: &AnyRow) -> StoreResult<ApiKey> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::internal(format!("unknown role {role:?}")))?,
        tenant: row.try_get("tenant")?,
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

const COLUMNS: &str = "id, name, role, tenant, created_at";

impl SqlStore {
    pub(crate) async fn create_key(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        request: &ApiKeyRequest,
        secret_hash: &str,
    ) -> StoreResult<ApiKey> {
        let path = scope_path(scope);
        self.authorize(
            ctx,
            scope.tenant(),
            access_for(scope),
            "api_key.create",
            &path,
        )
        .await?;
        request.validate(scope)?;
        retrying(|| self.create_key_once(ctx, scope, request, secret_hash, &path)).await
    }

    async fn create_key_once(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        request: &ApiKeyRequest,
        secret_hash: &str,
        path: &str,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.begin_write().await?;
        if let Some(tenant) = scope.tenant() {
            // Locking the tenant row serializes key creation per tenant, so the count below
            // and the insert it allows cannot interleave with another create.
            self.require_tenant(&mut tx, tenant, true).await?;
            let quota = self.quota_in_tx(&mut tx, tenant).await?;
            let keys = count(&mut tx, "api_keys", "tenant = $1", &[tenant]).await?;
            check_count("max_api_keys", quota.max_api_keys, keys, 1)?;
        }
        let taken = sqlx::query("SELECT 1 FROM api_keys WHERE scope = $1 AND name = $2")
            .bind(scope_column(scope).to_string())
            .bind(request.name.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "{path}: a key named {:?} already exists",
                request.name
            )));
        }
        let key = ApiKey {
            id: new_key_id(),
            name: request.name.clone(),
            role: request.role,
            tenant: scope.tenant().map(str::to_string),
            created_at: Timestamp::now(),
        };
        sqlx::query(
            "INSERT INTO api_keys (id, scope, tenant, name, role, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.id.clone())
        .bind(scope_column(scope).to_string())
        .bind(key.tenant.clone())
        .bind(key.name.clone())
        .bind(key.role.as_str())
        .bind(secret_hash.to_string())
        .bind(key.created_at.unix_micros())
        .execute(&mut *tx)
        .await?;
        let resource = format!("{path}/{}", key.id);
        self.audit_success(&mut tx, ctx, scope.tenant(), "api_key.create", &resource)
            .await?;
        commit(tx).await?;
        Ok(key)
    }

    pub(crate) async fn get_key(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        id: &str,
    ) -> StoreResult<ApiKey> {
        let path = format!("{}/{id}", scope_path(scope));
        self.authorize(ctx, scope.tenant(), access_for(scope), "api_key.get", &path)
            .await?;
        let row = sqlx::query(dynamic(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE scope = $1 AND id = $2"
        )))
        .bind(scope_column(scope).to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(StoreError::NotFound(path)),
        }
    }

    pub(crate) async fn delete_key(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        id: &str,
    ) -> StoreResult<()> {
        let path = format!("{}/{id}", scope_path(scope));
        self.authorize(
            ctx,
            scope.tenant(),
            access_for(scope),
            "api_key.delete",
            &path,
        )
        .await?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM api_keys WHERE scope = $1 AND id = $2")
                .bind(scope_column(scope).to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound(path.clone()));
            }
            self.audit_success(&mut tx, ctx, scope.tenant(), "api_key.delete", &path)
                .await?;
            commit(tx).await
        })
        .await
    }

    pub(crate) async fn list_keys(
        &self,
        ctx: &Ctx,
        scope: &KeyScope,
        page: &PageRequest,
    ) -> StoreResult<Listed<ApiKey>> {
        let path = scope_path(scope);
        self.authorize(
            ctx,
            scope.tenant(),
            access_for(scope),
            "api_key.list",
            &path,
        )
        .await?;
        if let Some(tenant) = scope.tenant() {
            let mut conn = self.reader().await?;
            self.require_tenant(&mut conn, tenant, false).await?;
        }
        let rows = sqlx::query(dynamic(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE scope = $1 AND name > $2 ORDER BY name LIMIT $3"
        )))
        .bind(scope_column(scope).to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(i64::from(page.size) + 1)
        .fetch_all(&self.pool)
        .await?;
        let keys = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        paginate(keys, page.size, |key| key.name.clone())
    }
}
