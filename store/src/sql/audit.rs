//! The audit log: appended inside the transaction of the change it records, read newest first.

use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::Access;
use logplane_model::page::PageRequest;
use logplane_model::{AuditEvent, AuditResult, Timestamp, ValidationErrors};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::dynamic;
use super::resource::paginate;
use super::{Conn, SqlStore};
use crate::context::{Ctx, Listed};
use crate::error::{StoreError, StoreResult};

pub(crate) async fn insert(conn: &mut Conn, event: &NewAuditEvent) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (time, tenant, actor, action, resource, result, reason, \
         request_id, client_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Timestamp::now().unix_micros())
    .bind(event.tenant.clone())
    .bind(event.actor.clone())
    .bind(event.action.clone())
    .bind(event.resource.clone())
    .bind(event.result.as_str())
    .bind(event.reason.clone())
    .bind(event.request_id.clone())
    .bind(event.client_address.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> StoreResult<AuditEvent> {
    let result: String = row.try_get("result")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        time: Timestamp::from_unix_micros(row.try_get("time")?),
        tenant: row.try_get("tenant")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        result: AuditResult::parse(&result)
            .ok_or_else(|| StoreError::internal(format!("unknown audit result {result:?}")))?,
        reason: row.try_get("reason")?,
        request_id: row.try_get("request_id")?,
        client_address: row.try_get("client_address")?,
    })
}

impl SqlStore {
    /// Writes one event in a transaction of its own (a denied request has no other transaction).
    pub(crate) async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()> {
        let _turn = self.take_write_turn().await;
        let mut conn = self.pool.acquire().await?;
        insert(&mut conn, event).await
    }

    pub(crate) async fn audit_events(
        &self,
        ctx: &Ctx,
        tenant: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Listed<AuditEvent>> {
        let resource = match tenant {
            Some(tenant) => format!("tenants/{tenant}/audit-events"),
            None => "audit-events".to_string(),
        };
        let access = if tenant.is_some() {
            Access::Admin
        } else {
            Access::Platform
        };
        self.authorize(ctx, tenant, access, "audit_event.list", &resource)
            .await?;
        if let Some(tenant) = tenant {
            let exists = sqlx::query("SELECT 1 FROM tenants WHERE name = $1")
                .bind(tenant.to_string())
                .fetch_optional(&self.pool)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("tenants/{tenant}")));
            }
        }
        let before = match &page.after {
            Some(cursor) => cursor.parse::<i64>().map_err(|_| {
                ValidationErrors::single("page_token", "is not a token of this list")
            })?,
            None => i64::MAX,
        };
        let limit = i64::from(page.size) + 1;
        let columns = "id, time, tenant, actor, action, resource, result, reason, request_id, \
            client_address";
        let mut conn = self.reader().await?;
        let rows = match tenant {
            Some(tenant) => {
                sqlx::query(dynamic(format!(
                    "SELECT {columns} FROM audit_events WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
                )))
                .bind(tenant.to_string())
                .bind(before)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query(dynamic(format!("SELECT {columns} FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2")))
                    .bind(before)
                    .bind(limit)
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        let events = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        paginate(events, page.size, |event| event.id.to_string())
    }
}
