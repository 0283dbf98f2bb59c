//! What the store hands the agent protocol: everything a tenant's agents' bundles are computed
//! from (one snapshot per generation, shared by every waiting agent of the tenant), what an agent
//! reported at the start of a sync, and what it was sent.

use std::sync::Arc;

use logplane_collect::Rollout;
use logplane_model::{AgentAttributes, AgentSelector, AgentType, CollectionConfigSpec};

/// A tenant's machine groups, bindings and configs with their live revisions, as of
/// `generation`. Read in that order (the generation first), so the data is at least as new as
/// the generation says.
#[derive(Debug, Clone)]
pub struct TenantDistribution {
    pub tenant: String,
    pub generation: i64,
    pub groups: Vec<GroupSelection>,
    pub configs: Vec<ConfigDistribution>,
}

/// A machine group with the configs bound to it.
#[derive(Debug, Clone)]
pub struct GroupSelection {
    pub project: String,
    pub name: String,
    pub selector: AgentSelector,
    /// Names of collection configs of the same project, by name.
    pub configs: Vec<String>,
}

/// A config, its rollout, and the specs of the revisions the rollout can hand out.
#[derive(Debug, Clone)]
pub struct ConfigDistribution {
    pub project: String,
    pub name: String,
    pub rollout: Rollout,
    pub revisions: Vec<RevisionSpec>,
}

impl ConfigDistribution {
    pub fn revision(&self, revision: i64) -> Option<&RevisionSpec> {
        self.revisions.iter().find(|r| r.revision == revision)
    }
}

#[derive(Debug, Clone)]
pub struct RevisionSpec {
    pub revision: i64,
    pub content_hash: String,
    pub spec: Arc<CollectionConfigSpec>,
}

/// The name a config has in a bundle: `<project>_<config>`. An agent may run configs of several
/// projects of its tenant and config names are unique only within a project; project names
/// never contain `_`, so the first `_` separates the two.
pub fn bundle_config_name(project: &str, config: &str) -> String {
    debug_assert!(!project.contains('_'), "project names have no underscore");
    format!("{project}_{config}")
}

/// A config an agent runs: the revision from its last report of an applied bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedConfig {
    pub project: String,
    pub config: String,
    pub revision: i64,
}

/// An agent as its bundle is computed for it.
#[derive(Debug, Clone)]
pub struct SyncingAgent {
    pub id: String,
    pub tenant: String,
    pub agent_type: AgentType,
    /// As reported, with the enrollment token's labels laid over `labels`: what selectors see.
    pub attributes: AgentAttributes,
    pub applied: Vec<AppliedConfig>,
}

impl SyncingAgent {
    pub fn applied_revision(&self, project: &str, config: &str) -> Option<i64> {
        self.applied
            .iter()
            .find(|applied| applied.project == project && applied.config == config)
            .map(|applied| applied.revision)
    }
}

/// What recording a sync call's report found.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub agent: SyncingAgent,
    /// The tenant's generation when the report was recorded: the bundle must be computed from a
    /// snapshot at least this new.
    pub generation: i64,
    /// The call's `seq` did not follow the previous one: the agent must send its full state.
    pub full_state_requested: bool,
    /// What was last recorded as sent, to tell whether a computed bundle is news.
    pub sent: SentSignature,
}

/// The identity of what an agent was sent: the bundle's hash and the configs left out of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentSignature {
    pub hash: Option<String>,
    pub skipped: Option<String>,
}

/// A bundle as sent to an agent, with the configs left out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBundle {
    pub hash: String,
    pub configs: Vec<SentConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentConfig {
    pub project: String,
    pub config: String,
    pub revision: i64,
    /// Why the agent's type could not run it; `None` when it is in the bundle.
    pub skipped: Option<String>,
}

impl SentBundle {
    pub fn signature(&self) -> SentSignature {
        let skipped: Vec<String> = self
            .configs
            .iter()
            .filter(|config| config.skipped.is_some())
            .map(|config| format!("{}/{}@{}", config.project, config.config, config.revision))
            .collect();
        SentSignature {
            hash: Some(self.hash.clone()),
            skipped: (!skipped.is_empty()).then(|| skipped.join("\n")),
        }
    }
}
