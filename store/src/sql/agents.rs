//! Agents: enrolled with an enrollment token, each its own credential (role `agent`, its id the
//! key id), listed with what they reported and whether they are online, and removed (which
//! revokes their credential at once).

use std::time::Duration;

use logplane_collect::{AgentFacts, SelectorMatcher};
use logplane_model::audit::NewAuditEvent;
use logplane_model::authz::Access;
use logplane_model::page::PageRequest;
use logplane_model::{
    Agent, AgentAttributes, AgentEnrollRequest, AgentSelector, AgentType, AuditResult, Labels,
    SyncState, SyncStatus, Timestamp,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::agent_expiry::expire_silent;
use super::audit;
use super::machine_groups::MachineGroupKind;
use super::quotas::{check_count, count};
use super::resource::paginate;
use super::{Conn, SqlStore, commit, dynamic, retrying};
use crate::context::{Ctx, EnrolledAgent, Listed};
use crate::error::{StoreError, StoreResult};

/// Agents read per statement when a list filters them by a selector.
const MEMBER_SCAN_CHUNK: i64 = 500;

pub(crate) const AGENT_COLUMNS: &str = "id, tenant, agent_type, attributes, enrollment_labels, \
     enrolled_at, last_seen_at, desired_hash, applied_hash, status_hash, status_state, \
     status_message";

fn new_agent_id() -> String {
    format!("agent-{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn parse_agent_type(text: &str) -> StoreResult<AgentType> {
    AgentType::ALL
        .into_iter()
        .find(|t| t.as_str() == text)
        .ok_or_else(|| StoreError::internal(format!("unknown agent type {text:?}")))
}

pub(crate) fn parse_sync_state(text: &str) -> StoreResult<SyncState> {
    match text {
        "applying" => Ok(SyncState::Applying),
        "applied" => Ok(SyncState::Applied),
        "failed" => Ok(SyncState::Failed),
        other => Err(StoreError::internal(format!(
            "unknown sync state {other:?}"
        ))),
    }
}

pub(crate) fn sync_state_text(state: SyncState) -> &'static str {
    match state {
        SyncState::Applying => "applying",
        SyncState::Applied => "applied",
        SyncState::Failed => "failed",
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::internal(format!("stored {what} does not parse: {e}")))
}

pub(crate) fn render_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::internal)
}

/// What selectors see: the reported attributes with the enrollment token's labels laid over
/// their labels (the token's win, so a host cannot report its way into a group).
pub(crate) fn selected_attributes(
    attributes: &AgentAttributes,
    enrollment_labels: &Labels,
) -> AgentAttributes {
    let mut merged = attributes.clone();
    for (key, value) in enrollment_labels {
        merged.labels.insert(key.clone(), value.clone());
    }
    merged
}

/// An agent row's identity and what selectors match against.
pub(crate) struct AgentFactsRow {
    pub id: String,
    pub selected: AgentAttributes,
}

fn facts_from_row(row: &AnyRow) -> StoreResult<AgentFactsRow> {
    let attributes: AgentAttributes =
        parse_json(&row.try_get::<String, _>("attributes")?, "agent attributes")?;
    let labels: Labels = parse_json(
        &row.try_get::<String, _>("enrollment_labels")?,
        "enrollment labels",
    )?;
    Ok(AgentFactsRow {
        id: row.try_get("id")?,
        selected: selected_attributes(&attributes, &labels),
    })
}

/// Which of `types` have at least one agent of `tenant` selected by one of `groups`, each with
/// the first such group. Binding checks use it: only these types must be able to run a config.
pub(crate) async fn agent_types_present(
    conn: &mut Conn,
    tenant: &str,
    types: &[AgentType],
    groups: &[(String, AgentSelector)],
) -> StoreResult<Vec<(AgentType, String)>> {
    let matchers: Vec<(&str, SelectorMatcher)> = groups
        .iter()
        .map(|(name, selector)| (name.as_str(), SelectorMatcher::new(selector)))
        .collect();
    let mut present = Vec::new();
    for agent_type in types {
        let rows = sqlx::query(
            "SELECT id, attributes, enrollment_labels FROM agents \
             WHERE tenant = $1 AND agent_type = $2",
        )
        .bind(tenant.to_string())
        .bind(agent_type.as_str())
        .fetch_all(&mut *conn)
        .await?;
        'agents: for row in &rows {
            let agent = facts_from_row(row)?;
            let facts = AgentFacts {
                agent_id: &agent.id,
                attributes: &agent.selected,
            };
            for (group, matcher) in &matchers {
                if matcher.matches(facts) {
                    present.push((*agent_type, group.to_string()));
                    break 'agents;
                }
            }
        }
    }
    Ok(present)
}

impl SqlStore {
    fn agent_from_row(&self, row: &AnyRow, now: Timestamp) -> StoreResult<Agent> {
        let last_seen_at = Timestamp::from_unix_micros(row.try_get("last_seen_at")?);
        let silence = Duration::from_micros(
            u64::try_from(now.unix_micros() - last_seen_at.unix_micros()).unwrap_or(0),
        );
        let status_hash: Option<String> = row.try_get("status_hash")?;
        let status_state: Option<String> = row.try_get("status_state")?;
        let status = match (status_hash, status_state) {
            (Some(hash), Some(state)) => Some(SyncStatus {
                hash,
                state: parse_sync_state(&state)?,
                message: row
                    .try_get::<Option<String>, _>("status_message")?
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Agent {
            id: row.try_get("id")?,
            agent_type: parse_agent_type(&row.try_get::<String, _>("agent_type")?)?,
            attributes: parse_json(&row.try_get::<String, _>("attributes")?, "agent attributes")?,
            enrollment_labels: parse_json(
                &row.try_get::<String, _>("enrollment_labels")?,
                "enrollment labels",
            )?,
            enrolled_at: Timestamp::from_unix_micros(row.try_get("enrolled_at")?),
            last_seen_at,
            online: silence <= self.agent_settings.offline_after,
            desired_hash: row.try_get("desired_hash")?,
            applied_hash: row.try_get("applied_hash")?,
            status,
        })
    }

    /// Enrolls an agent with the enrollment token whose secret hashes to `token_hash`; `None`
    /// when there is no such token or it expired (the caller answers 401).
    pub(crate) async fn enroll(
        &self,
        token_hash: &str,
        request: &AgentEnrollRequest,
        secret_hash: &str,
        request_id: Option<String>,
    ) -> StoreResult<Option<EnrolledAgent>> {
        request.validate()?;
        retrying(|| self.enroll_once(token_hash, request, secret_hash, request_id.clone())).await
    }

    async fn enroll_once(
        &self,
        token_hash: &str,
        request: &AgentEnrollRequest,
        secret_hash: &str,
        request_id: Option<String>,
    ) -> StoreResult<Option<EnrolledAgent>> {
        let mut tx = self.begin_write().await?;
        let now = Timestamp::now();
        let token = sqlx::query(
            "SELECT id, tenant, labels FROM agent_enrollment_tokens \
             WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_string())
        .bind(now.unix_micros())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(token) = token else {
            return Ok(None);
        };
        let token_id: String = token.try_get("id")?;
        let tenant: String = token.try_get("tenant")?;
        let labels: String = token.try_get("labels")?;
        // Locking the tenant row serializes enrollments per tenant, so the count below and the
        // insert it allows cannot interleave with another enrollment.
        self.require_tenant(&mut tx, &tenant, true).await?;
        let quota = self.quota_in_tx(&mut tx, &tenant).await?;
        let mut agents = count(&mut tx, "agents", "tenant = $1", &[&tenant]).await?;
        if agents >= quota.max_agents
            && let Some(cutoff) = self.agent_expiry_cutoff()
        {
            // Gone hosts must not hold the quota until the next sweep.
            let expired = expire_silent(&mut tx, cutoff, Some(&tenant)).await?;
            agents -= i64::try_from(expired).unwrap_or(i64::MAX);
        }
        check_count("max_agents", quota.max_agents, agents, 1)?;
        let agent_id = new_agent_id();
        sqlx::query(
            "INSERT INTO agents (id, tenant, agent_type, attributes, enrollment_labels, \
             secret_hash, enrolled_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(agent_id.clone())
        .bind(tenant.clone())
        .bind(request.agent_type.as_str())
        .bind(render_json(&request.attributes)?)
        .bind(labels)
        .bind(secret_hash.to_string())
        .bind(now.unix_micros())
        .execute(&mut *tx)
        .await?;
        let event = NewAuditEvent {
            tenant: Some(tenant.clone()),
            actor: format!("enrollment-token:{token_id}"),
            action: "agent.enroll".to_string(),
            resource: format!("tenants/{tenant}/agents/{agent_id}"),
            result: AuditResult::Success,
            reason: None,
            request_id,
            client_address: None,
        };
        audit::insert(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(Some(EnrolledAgent { agent_id, tenant }))
    }

    pub(crate) async fn agents_of(
        &self,
        ctx: &Ctx,
        tenant: &str,
        page: &PageRequest,
    ) -> StoreResult<Listed<Agent>> {
        let path = format!("tenants/{tenant}/agents");
        self.authorize(ctx, Some(tenant), Access::Read, "agent.list", &path)
            .await?;
        let mut conn = self.reader().await?;
        self.require_tenant(&mut conn, tenant, false).await?;
        let rows = sqlx::query(dynamic(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(tenant.to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(i64::from(page.size) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let now = Timestamp::now();
        let agents = rows
            .iter()
            .map(|row| self.agent_from_row(row, now))
            .collect::<StoreResult<Vec<_>>>()?;
        paginate(agents, page.size, |agent| agent.id.clone())
    }

    /// Removes an agent; its credential stops working at once (every request looks it up).
    pub(crate) async fn remove_agent(&self, ctx: &Ctx, tenant: &str, id: &str) -> StoreResult<()> {
        let path = format!("tenants/{tenant}/agents/{id}");
        self.authorize(ctx, Some(tenant), Access::Admin, "agent.delete", &path)
            .await?;
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM agents WHERE tenant = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound(path.clone()));
            }
            self.audit_success(&mut tx, ctx, Some(tenant), "agent.delete", &path)
                .await?;
            commit(tx).await
        })
        .await
    }

    /// The agents a machine group selects now, by id. Membership is computed, not stored, so the
    /// list scans the tenant's agents (bounded by its `max_agents` quota) from the cursor on.
    pub(crate) async fn group_members(
        &self,
        ctx: &Ctx,
        key: &[&str],
        page: &PageRequest,
    ) -> StoreResult<Listed<Agent>> {
        let group = self.get_resource::<MachineGroupKind>(ctx, key).await?;
        let matcher = SelectorMatcher::new(&group.selector);
        let wanted = page.size as usize + 1;
        let mut after = page.after.clone().unwrap_or_default();
        let mut members = Vec::new();
        let mut conn = self.reader().await?;
        let now = Timestamp::now();
        loop {
            let rows = sqlx::query(dynamic(format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3"
            )))
            .bind(key[0].to_string())
            .bind(after.clone())
            .bind(MEMBER_SCAN_CHUNK)
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                let agent = self.agent_from_row(row, now)?;
                let selected = selected_attributes(&agent.attributes, &agent.enrollment_labels);
                let facts = AgentFacts {
                    agent_id: &agent.id,
                    attributes: &selected,
                };
                if matcher.matches(facts) {
                    members.push(agent);
                    if members.len() == wanted {
                        return paginate(members, page.size, |agent| agent.id.clone());
                    }
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == MEMBER_SCAN_CHUNK => {
                    after = last.try_get("id")?;
                }
                _ => return paginate(members, page.size, |agent| agent.id.clone()),
            }
        }
    }
}
