//! A config's rollout and its status: which revision is rolling out to what share of the agents,
//! whether it was paused, and how the agents fare with each revision still in use.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_range};

/// Messages listed per revision in a status, most frequent first.
pub const MAX_STATUS_MESSAGES: usize = 20;

/// The body of `PUT …/collection-configs/{config}/rollout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// The share of the config's agents that get its current revision, 0–100. Raising it only
    /// adds agents; lowering it moves the ones above the new share back to the previous revision.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: i64,
}

impl RolloutRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("percent", check_range(self.percent, 0, 100));
        errors.into_result()
    }
}

/// The body of `POST …/collection-configs/{config}/rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The revision whose content becomes the config's new revision.
    #[schema(minimum = 1)]
    pub revision: i64,
}

/// How a config's current revision reaches its agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CollectionConfigRollout {
    /// The revision rolling out: the config's current one.
    pub revision: i64,
    /// The revision agents outside the rollout keep; null while the config has no earlier
    /// revision that was fully rolled out (those agents then do not run the config).
    pub previous_revision: Option<i64>,
    /// 0–100. A new revision starts at 0; a rollback at 100.
    pub percent: i64,
    /// A paused rollout reaches no agent that does not run `revision` yet, and refuses a new
    /// percentage until it is resumed or rolled back.
    pub paused: bool,
    /// Why it was paused; an automatic pause says how many of the updated agents failed.
    pub paused_reason: Option<String>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusMessageKind {
    /// Agents reported this message with a failed bundle.
    Failed,
    /// The agents' type cannot express the revision, so it was left out of their bundles.
    Skipped,
}

/// One message and how many agents share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusMessage {
    pub kind: StatusMessageKind,
    pub message: String,
    pub agents: i64,
}

/// How the agents fare with one revision of a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevisionStatus {
    pub revision: i64,
    /// Agents whose last bundle was meant to carry this revision (skipped ones included).
    pub targeted: i64,
    /// Agents that run it: their last applied bundle carries it.
    pub applied: i64,
    /// Agents that reported they are loading it.
    pub applying: i64,
    /// Agents that reported the bundle carrying it failed (they keep running their previous one).
    pub failed: i64,
    /// Agents whose type cannot express it.
    pub skipped: i64,
    /// At most 20, most frequent first.
    pub messages: Vec<StatusMessage>,
}

/// `GET …/collection-configs/{config}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CollectionConfigStatus {
    pub name: String,
    pub rollout: CollectionConfigRollout,
    /// Every revision an agent was sent or reported, newest first.
    pub revisions: Vec<RevisionStatus>,
}
