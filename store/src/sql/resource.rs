//! The life cycle every named resource shares (tenants, projects, logstores, machine groups and
//! collection configs): authorize, create or replace under a precondition, detect a no-op, refuse
//! to delete a parent with children, audit every change in the same transaction. Each kind
//! supplies its table, its parent and children, and its own rules through [`Kind`].

use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::{Access, Denial, Role};
use logplane_model::page::PageRequest;
use logplane_model::{AuditResult, Quota, ResourceMeta, Timestamp, ValidationErrors};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::dynamic;
use super::{Backend, Conn, SqlStore, audit, commit, retrying};
use crate::context::{Ctx, Listed, Precondition, PutOutcome};
use crate::error::{StoreError, StoreResult};

/// A table of named resources. Its key columns are the names of its ancestors, outermost first
/// (`tenant`, `project`), followed by `name`.
#[derive(Debug)]
pub(crate) struct Table {
    pub sql_name: &'static str,
    /// The singular noun used in audit actions and messages (`project`).
    pub kind: &'static str,
    pub key_columns: &'static [&'static str],
    /// The URL segment of each key column (`tenants`, `projects`, …), for resource paths.
    pub path_segments: &'static [&'static str],
}

impl Table {
    fn where_key(&self, first_placeholder: usize) -> String {
        self.key_columns
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", first_placeholder + i))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// `tenants/acme/projects/web`: how audit events and messages name a resource.
    pub fn resource_path(&self, key: &[&str]) -> String {
        self.path_segments
            .iter()
            .zip(key)
            .map(|(segment, name)| format!("{segment}/{name}"))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Rows that must be gone before a resource can be deleted: those of `sql_name` whose
/// `parent_columns` hold the resource's key. Foreign keys without cascade back the check, so a
/// child created concurrently makes the delete retry and see it.
#[derive(Debug)]
pub(crate) struct Children {
    pub sql_name: &'static str,
    /// How messages name them (`logstores`, `collection configs sending to it`).
    pub noun: &'static str,
    /// The columns holding the resource's key, in the key's order.
    pub parent_columns: &'static [&'static str],
}

/// What differs between kinds of named resources.
pub(crate) trait Kind: Send + Sync {
    type Spec: Serialize + DeserializeOwned + PartialEq + Clone + Send + Sync;
    type Resource: Send;
    /// What the server derives from a write and stores beside the spec (a collection config's
    /// revision); `()` for most kinds.
    type Derived: Default + Clone + Send + Sync;

    const TABLE: Table;
    /// The table holding this kind's parent, whose key is this key without its last element.
    const PARENT: Option<Table>;
    /// Rows that must be gone before this resource can be deleted.
    const CHILDREN: &'static [Children];
    /// What a caller needs to create, replace or delete one.
    const WRITE_ACCESS: Access;
    /// The columns holding [`Kind::Derived`], selected with every row (`, revision, content_hash`).
    const DERIVED_COLUMNS: &'static str = "";

    fn validate(spec: &Self::Spec) -> Result<(), ValidationErrors>;
    fn build(meta: ResourceMeta, spec: Self::Spec, derived: Self::Derived) -> Self::Resource;

    fn read_derived(_row: &AnyRow) -> StoreResult<Self::Derived> {
        Ok(Self::Derived::default())
    }

    /// Rules that need the database (a referenced resource exists), checked in the writing
    /// transaction before anything is written, on create and on change.
    fn check_in_tx(
        _conn: &mut Conn,
        _backend: Backend,
        _key: &[&str],
        _spec: &Self::Spec,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }

    /// Rules on replacing `stored` with `spec`, such as immutable fields.
    fn check_update(_spec: &Self::Spec, _stored: &Self::Spec) -> Result<(), ValidationErrors> {
        Ok(())
    }

    /// Refuses a create that a count quota does not allow. Runs in the creating transaction,
    /// after the parent row is locked, so concurrent creates are counted one after another.
    fn check_quota(
        _conn: &mut Conn,
        _key: &[&str],
        _spec: &Self::Spec,
        _quota: &Quota,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }

    /// Whether creating one of this kind is counted by a quota (so the quota must be read).
    const COUNTED: bool = false;

    /// Writes what a change brings with it (a logstore's reshard to a new `shard_count`), in the
    /// changing transaction, after the row is updated.
    fn after_update(
        _store: &SqlStore,
        _conn: &mut Conn,
        _key: &[&str],
        _spec: &Self::Spec,
        _stored: &Self::Spec,
        _now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }

    /// Writes what a create or a change brings with it (a logstore's shards, a config's new
    /// revision), in the writing transaction, and returns the derived values to store and show.
    /// `stored` is what the row held before a change; `None` on create.
    fn after_write(
        _conn: &mut Conn,
        _key: &[&str],
        _spec: &Self::Spec,
        _stored: Option<&Self::Derived>,
        _now: Timestamp,
    ) -> impl Future<Output = StoreResult<Self::Derived>> + Send {
        async { Ok(Self::Derived::default()) }
    }

    /// Runs in the deleting transaction, after the children check, before the row goes.
    fn before_delete(
        _conn: &mut Conn,
        _key: &[&str],
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }

    /// Runs after a committed create, change or delete: wakes whoever depends on it.
    fn after_commit(_store: &SqlStore, _key: &[&str]) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A resource row as stored, with what its kind derived.
pub(crate) struct StoredRow<D> {
    pub name: String,
    pub spec: String,
    pub etag: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub derived: D,
}

impl<D> StoredRow<D> {
    fn from_row<K: Kind<Derived = D>>(row: &AnyRow) -> StoreResult<Self> {
        Ok(Self {
            name: row.try_get("name")?,
            spec: row.try_get("spec")?,
            etag: row.try_get("etag")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            derived: K::read_derived(row)?,
        })
    }

    fn into_resource<K: Kind<Derived = D>>(self) -> StoreResult<K::Resource> {
        let spec = parse_spec::<K>(&self.spec)?;
        let meta = self.meta();
        Ok(K::build(meta, spec, self.derived))
    }

    pub(crate) fn meta(&self) -> ResourceMeta {
        ResourceMeta {
            name: self.name.clone(),
            created_at: Timestamp::from_unix_micros(self.created_at),
            updated_at: Timestamp::from_unix_micros(self.updated_at),
            etag: self.etag.clone(),
        }
    }
}

pub(crate) fn parse_spec<K: Kind>(text: &str) -> StoreResult<K::Spec> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::internal(format!("stored {} spec does not parse: {e}", K::TABLE.kind))
    })
}

pub(crate) fn render_spec<K: Kind>(spec: &K::Spec) -> StoreResult<String> {
    serde_json::to_string(spec).map_err(StoreError::internal)
}

/// A fresh entity tag: random, so that a deleted and recreated resource never matches an old one.
pub(crate) fn new_etag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl SqlStore {
    /// Checks `access` for the caller and, when it is refused, records the denial and answers
    /// 404 (another tenant's resource) or 403 (the caller's own tenant).
    pub(crate) async fn authorize(
        &self,
        ctx: &Ctx,
        tenant: Option<&str>,
        access: Access,
        action: &str,
        resource: &str,
    ) -> StoreResult<()> {
        let Err(denial) = ctx.caller.authorize(tenant, access) else {
            return Ok(());
        };
        let (reason, error) = match denial {
            Denial::Hidden => (
                "not visible to the caller",
                StoreError::NotFound(resource.to_string()),
            ),
            Denial::Forbidden => (
                "the caller's role does not allow this",
                StoreError::Forbidden(format!(
                    "role {} may not {action} {resource}",
                    ctx.caller.role.as_str()
                )),
            ),
        };
        let event = NewAuditEvent {
            // Denials are filed under the caller's own tenant: a tenant must not learn of
            // another's probing, and must see its own keys being used against others.
            tenant: ctx.caller.tenant.clone(),
            actor: ctx.caller.actor(),
            action: action.to_string(),
            resource: resource.to_string(),
            result: AuditResult::Denied,
            reason: Some(reason.to_string()),
            request_id: ctx.request_id.clone(),
            client_address: ctx.client_address.clone(),
        };
        if let Err(record_error) = self.insert_audit_event(&event).await {
            tracing::warn!(error = %record_error, action, "could not record a denied request");
        }
        Err(error)
    }

    pub(crate) async fn put_resource<K: Kind>(
        &self,
        ctx: &Ctx,
        key: &[&str],
        spec: K::Spec,
        precondition: Precondition,
    ) -> StoreResult<PutOutcome<K::Resource>> {
        let path = K::TABLE.resource_path(key);
        let action = format!("{}.put", K::TABLE.kind);
        self.authorize(ctx, Some(key[0]), K::WRITE_ACCESS, &action, &path)
            .await?;
        K::validate(&spec)?;
        if let Some(unchanged) = self
            .unchanged_resource::<K>(key, &spec, &precondition)
            .await?
        {
            return Ok(PutOutcome::Unchanged(unchanged));
        }
        let rendered = render_spec::<K>(&spec)?;
        retrying(|| self.put_resource_once::<K>(ctx, key, &spec, &rendered, &precondition, &path))
            .await
    }

    /// The stored resource when a PUT of `spec` would change nothing, read without a write
    /// transaction: idempotent re-applies (every Terraform plan, every operator resync) are the
    /// common case and should cost a read, not a row lock. Ordering the PUT just before any
    /// concurrent change is linearizable, so a plain read is enough.
    async fn unchanged_resource<K: Kind>(
        &self,
        key: &[&str],
        spec: &K::Spec,
        precondition: &Precondition,
    ) -> StoreResult<Option<K::Resource>> {
        let mut conn = self.reader().await?;
        let Some(row) = select_row::<K>(&mut conn, self.backend, key, false).await? else {
            return Ok(None);
        };
        if check_existing_precondition(precondition, &row.etag, "").is_err() {
            return Ok(None);
        }
        let stored = parse_spec::<K>(&row.spec)?;
        if stored != *spec {
            return Ok(None);
        }
        Ok(Some(K::build(row.meta(), stored, row.derived)))
    }

    async fn put_resource_once<K: Kind>(
        &self,
        ctx: &Ctx,
        key: &[&str],
        spec: &K::Spec,
        rendered: &str,
        precondition: &Precondition,
        path: &str,
    ) -> StoreResult<PutOutcome<K::Resource>> {
        let mut tx = self.begin_write().await?;
        let existing = select_row::<K>(&mut tx, self.backend, key, true).await?;
        let now = Timestamp::now();
        let outcome = match existing {
            None => {
                // A missing parent is the more useful answer, so it is checked first.
                if let Some(parent) = &K::PARENT {
                    let parent_key = &key[..key.len() - 1];
                    if !row_exists(&mut tx, self.backend, parent, parent_key, true).await? {
                        return Err(StoreError::NotFound(parent.resource_path(parent_key)));
                    }
                }
                if matches!(
                    precondition,
                    Precondition::IfMatch(_) | Precondition::Contradictory
                ) {
                    return Err(StoreError::PreconditionFailed(format!(
                        "{path} does not exist"
                    )));
                }
                if K::COUNTED {
                    let quota = self.quota_in_tx(&mut tx, key[0]).await?;
                    K::check_quota(&mut tx, key, spec, &quota).await?;
                }
                K::check_in_tx(&mut tx, self.backend, key, spec).await?;
                let etag = new_etag();
                insert_row(&mut tx, &K::TABLE, key, rendered, &etag, now).await?;
                let derived = K::after_write(&mut tx, key, spec, None, now).await?;
                self.audit_success(
                    &mut tx,
                    ctx,
                    Some(key[0]),
                    &format!("{}.create", K::TABLE.kind),
                    path,
                )
                .await?;
                let meta = ResourceMeta {
                    name: key[key.len() - 1].to_string(),
                    created_at: now,
                    updated_at: now,
                    etag,
                };
                PutOutcome::Created(K::build(meta, spec.clone(), derived))
            }
            Some(row) => {
                check_existing_precondition(precondition, &row.etag, path)?;
                let stored = parse_spec::<K>(&row.spec)?;
                if stored == *spec {
                    return Ok(PutOutcome::Unchanged(K::build(
                        row.meta(),
                        stored,
                        row.derived,
                    )));
                }
                K::check_update(spec, &stored)?;
                K::check_in_tx(&mut tx, self.backend, key, spec).await?;
                let etag = new_etag();
                update_row(&mut tx, &K::TABLE, key, rendered, &etag, now, &row.etag).await?;
                let derived = K::after_write(&mut tx, key, spec, Some(&row.derived), now).await?;
                K::after_update(self, &mut tx, key, spec, &stored, now).await?;
                self.audit_success(
                    &mut tx,
                    ctx,
                    Some(key[0]),
                    &format!("{}.update", K::TABLE.kind),
                    path,
                )
                .await?;
                let meta = ResourceMeta {
                    updated_at: now,
                    etag,
                    ..row.meta()
                };
                PutOutcome::Replaced(K::build(meta, spec.clone(), derived))
            }
        };
        commit(tx).await?;
        K::after_commit(self, key).await;
        Ok(outcome)
    }

    pub(crate) async fn get_resource<K: Kind>(
        &self,
        ctx: &Ctx,
        key: &[&str],
    ) -> StoreResult<K::Resource> {
        let path = K::TABLE.resource_path(key);
        self.authorize(
            ctx,
            Some(key[0]),
            Access::Read,
            &format!("{}.get", K::TABLE.kind),
            &path,
        )
        .await?;
        let mut conn = self.reader().await?;
        match select_row::<K>(&mut conn, self.backend, key, false).await? {
            Some(row) => row.into_resource::<K>(),
            None => Err(StoreError::NotFound(path)),
        }
    }

    pub(crate) async fn delete_resource<K: Kind>(
        &self,
        ctx: &Ctx,
        key: &[&str],
        precondition: Precondition,
    ) -> StoreResult<()> {
        let path = K::TABLE.resource_path(key);
        let action = format!("{}.delete", K::TABLE.kind);
        self.authorize(ctx, Some(key[0]), K::WRITE_ACCESS, &action, &path)
            .await?;
        retrying(|| self.delete_resource_once::<K>(ctx, key, &precondition, &path, &action))
            .await?;
        K::after_commit(self, key).await;
        Ok(())
    }

    async fn delete_resource_once<K: Kind>(
        &self,
        ctx: &Ctx,
        key: &[&str],
        precondition: &Precondition,
        path: &str,
        action: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let Some(row) = select_row::<K>(&mut tx, self.backend, key, true).await? else {
            return Err(StoreError::NotFound(path.to_string()));
        };
        check_existing_precondition(precondition, &row.etag, path)?;
        for children in K::CHILDREN {
            if has_children(&mut tx, children, key).await? {
                return Err(StoreError::Conflict(format!(
                    "{path} still has {}; delete them first",
                    children.noun
                )));
            }
        }
        K::before_delete(&mut tx, key).await?;
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            K::TABLE.sql_name,
            K::TABLE.where_key(1)
        );
        bind_key(sqlx::query(dynamic(sql)), key)
            .execute(&mut *tx)
            .await?;
        self.audit_success(&mut tx, ctx, Some(key[0]), action, path)
            .await?;
        commit(tx).await
    }

    /// Lists the resources under `parent_key` (empty for tenants) in name order.
    pub(crate) async fn list_resources<K: Kind>(
        &self,
        ctx: &Ctx,
        parent_key: &[&str],
        page: &PageRequest,
    ) -> StoreResult<Listed<K::Resource>> {
        if let (Some(parent), Some(tenant)) = (&K::PARENT, parent_key.first()) {
            let path = parent.resource_path(parent_key);
            self.authorize(
                ctx,
                Some(tenant),
                Access::Read,
                &format!("{}.list", K::TABLE.kind),
                &path,
            )
            .await?;
            let mut conn = self.reader().await?;
            if !row_exists(&mut conn, self.backend, parent, parent_key, false).await? {
                return Err(StoreError::NotFound(path));
            }
        }
        let parent_columns = &K::TABLE.key_columns[..parent_key.len()];
        let mut conditions: Vec<String> = parent_columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect();
        let mut values: Vec<&str> = parent_key.to_vec();
        // Tenants are the one top-level list: a tenant-scoped caller sees only its own tenant.
        if K::PARENT.is_none() && ctx.caller.role != Role::PlatformAdmin {
            let Some(own) = ctx.caller.tenant.as_deref() else {
                return Ok(Listed {
                    items: Vec::new(),
                    next_cursor: None,
                });
            };
            values.push(own);
            conditions.push(format!("name = ${}", values.len()));
        }
        let after_placeholder = values.len() + 1;
        conditions.push(format!("name > ${after_placeholder}"));
        let sql = format!(
            "SELECT name, spec, etag, created_at, updated_at{} FROM {} WHERE {} ORDER BY name LIMIT ${}",
            K::DERIVED_COLUMNS,
            K::TABLE.sql_name,
            conditions.join(" AND "),
            after_placeholder + 1
        );
        let mut conn = self.reader().await?;
        let rows = bind_key(sqlx::query(dynamic(sql)), &values)
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *conn)
            .await?;
        let items = rows
            .iter()
            .map(StoredRow::from_row::<K>)
            .collect::<StoreResult<Vec<_>>>()?;
        paginate(items, page.size, |row| row.name.clone())?.try_map(|row| row.into_resource::<K>())
    }

    pub(crate) async fn audit_success(
        &self,
        conn: &mut Conn,
        ctx: &Ctx,
        tenant: Option<&str>,
        action: &str,
        resource: &str,
    ) -> StoreResult<()> {
        let event = NewAuditEvent {
            tenant: tenant.map(str::to_string),
            actor: ctx.caller.actor(),
            action: action.to_string(),
            resource: resource.to_string(),
            result: AuditResult::Success,
            reason: None,
            request_id: ctx.request_id.clone(),
            client_address: ctx.client_address.clone(),
        };
        audit::insert(conn, &event).await
    }
}

/// Cuts a fetched `size + 1` rows down to `size`, remembering where the next page starts.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    size: u32,
    cursor_of: impl Fn(&T) -> String,
) -> StoreResult<Listed<T>> {
    let size = size as usize;
    let next_cursor = if items.len() > size {
        items.truncate(size);
        items.last().map(&cursor_of)
    } else {
        None
    };
    Ok(Listed { items, next_cursor })
}

impl<T> Listed<T> {
    pub(crate) fn try_map<U>(self, f: impl Fn(T) -> StoreResult<U>) -> StoreResult<Listed<U>> {
        let items = self
            .items
            .into_iter()
            .map(f)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Listed {
            items,
            next_cursor: self.next_cursor,
        })
    }
}

fn check_existing_precondition(
    precondition: &Precondition,
    etag: &str,
    path: &str,
) -> StoreResult<()> {
    match precondition {
        Precondition::Contradictory => Err(StoreError::PreconditionFailed(
            "If-Match and If-None-Match: * cannot both hold".to_string(),
        )),
        Precondition::IfAbsent => Err(StoreError::PreconditionFailed(format!(
            "{path} already exists"
        ))),
        Precondition::IfMatch(Some(expected)) if expected != etag => {
            Err(StoreError::PreconditionFailed(format!(
                "{path} has changed: its ETag is no longer {expected:?}"
            )))
        }
        _ => Ok(()),
    }
}

pub(crate) fn bind_key<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    key: &[&str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for value in key {
        query = query.bind(value.to_string());
    }
    query
}

pub(crate) async fn select_row<K: Kind>(
    conn: &mut Conn,
    backend: Backend,
    key: &[&str],
    lock: bool,
) -> StoreResult<Option<StoredRow<K::Derived>>> {
    let sql = format!(
        "SELECT name, spec, etag, created_at, updated_at{} FROM {} WHERE {}{}",
        K::DERIVED_COLUMNS,
        K::TABLE.sql_name,
        K::TABLE.where_key(1),
        if lock { backend.for_update() } else { "" }
    );
    let row = bind_key(sqlx::query(dynamic(sql)), key)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(StoredRow::from_row::<K>).transpose()
}

/// Whether a row of `table` has this key; with `lock`, holds it for the transaction.
pub(crate) async fn row_exists(
    conn: &mut Conn,
    backend: Backend,
    table: &Table,
    key: &[&str],
    lock: bool,
) -> StoreResult<bool> {
    let sql = format!(
        "SELECT 1 FROM {} WHERE {}{}",
        table.sql_name,
        table.where_key(1),
        if lock { backend.for_update() } else { "" }
    );
    let row = bind_key(sqlx::query(dynamic(sql)), key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

async fn insert_row(
    conn: &mut Conn,
    table: &Table,
    key: &[&str],
    spec: &str,
    etag: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let n = key.len();
    let sql = format!(
        "INSERT INTO {} ({}, spec, etag, created_at, updated_at) VALUES ({}, ${}, ${}, ${}, ${})",
        table.sql_name,
        table.key_columns.join(", "),
        (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
        n + 1,
        n + 2,
        n + 3,
        n + 3
    );
    bind_key(sqlx::query(dynamic(sql)), key)
        .bind(spec.to_string())
        .bind(etag.to_string())
        .bind(now.unix_micros())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) async fn update_row(
    conn: &mut Conn,
    table: &Table,
    key: &[&str],
    spec: &str,
    etag: &str,
    now: Timestamp,
    expected_etag: &str,
) -> StoreResult<()> {
    let n = key.len();
    // The ETag condition is a second line of defence behind the row lock: an update never
    // lands on a version other than the one this transaction read.
    let sql = format!(
        "UPDATE {} SET spec = ${}, etag = ${}, updated_at = ${} WHERE {} AND etag = ${}",
        table.sql_name,
        n + 1,
        n + 2,
        n + 3,
        table.where_key(1),
        n + 4
    );
    let result = bind_key(sqlx::query(dynamic(sql)), key)
        .bind(spec.to_string())
        .bind(etag.to_string())
        .bind(now.unix_micros())
        .bind(expected_etag.to_string())
        .execute(&mut *conn)
        .await?;
    if result.rows_affected() != 1 {
        return Err(StoreError::Transient(format!(
            "{} changed while being updated",
            table.kind
        )));
    }
    Ok(())
}

async fn has_children(
    conn: &mut Conn,
    children: &Children,
    parent_key: &[&str],
) -> StoreResult<bool> {
    debug_assert_eq!(
        children.parent_columns.len(),
        parent_key.len(),
        "children name the whole key of their parent"
    );
    let conditions: Vec<String> = children
        .parent_columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let sql = format!(
        "SELECT 1 FROM {} WHERE {} LIMIT 1",
        children.sql_name,
        conditions.join(" AND ")
    );
    let row = bind_key(sqlx::query(dynamic(sql)), parent_key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}
