//! What the control plane knows about each enrolled agent, as tenants see it: what it reported
//! about itself, when it was last heard from, what it was sent and what it runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agent::{AgentAttributes, AgentType, SyncStatus};
use crate::labels::Labels;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: String,
    pub agent_type: AgentType,
    /// As the agent last reported them.
    pub attributes: AgentAttributes,
    /// The labels of the enrollment token the agent joined with; machine groups see them laid
    /// over `attributes.labels`.
    pub enrollment_labels: Labels,
    pub enrolled_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// False once the agent has not synced for longer than the server's offline threshold.
    pub online: bool,
    /// The hash of the bundle last sent to the agent; null before its first sync.
    pub desired_hash: Option<String>,
    /// The hash of the bundle the agent last reported applied.
    pub applied_hash: Option<String>,
    /// The agent's last report, about the bundle named by its hash.
    pub status: Option<SyncStatus>,
}
