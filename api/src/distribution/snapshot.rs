//! One tenant's distribution at one generation, ready to compute bundles: selectors compiled,
//! configs indexed, and the bundles already assembled for this generation kept by what they
//! contain (agents of one type running the same configs at the same revisions share one).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use logplane_collect::{AgentFacts, RenderedConfig, SelectorMatcher, assemble_bundle};
use logplane_model::{AgentType, ConfigBundle};
use logplane_store::distribution::{
    ConfigDistribution, SentBundle, SentConfig, SyncingAgent, TenantDistribution,
    bundle_config_name,
};

use super::cache::BoundedCache;
use super::renders::Renders;

/// Bundles kept per snapshot. Agents of one tenant mostly share a handful of bundles; a tenant
/// whose agents all differ just assembles the rest each time.
const BUNDLES_PER_SNAPSHOT: usize = 1024;

/// What a bundle is made of: the agent type and each config's name and revision, in order.
type BundleKey = (AgentType, Vec<(String, String, i64)>);

/// A bundle as an agent receives it, and what is recorded as sent (skipped configs included).
#[derive(Debug)]
pub struct ComputedBundle {
    pub bundle: ConfigBundle,
    /// `bundle` as JSON, serialized once: thousands of agents woken by one change are sent the
    /// same few bundles.
    pub body: bytes::Bytes,
    pub sent: SentBundle,
}

pub struct Snapshot {
    pub generation: i64,
    tenant: String,
    groups: Vec<(String, Vec<String>, SelectorMatcher)>,
    configs: HashMap<(String, String), ConfigDistribution>,
    bundles: Mutex<BoundedCache<BundleKey, Arc<ComputedBundle>>>,
}

impl Snapshot {
    pub fn new(distribution: TenantDistribution) -> Self {
        let groups = distribution
            .groups
            .into_iter()
            .map(|group| {
                let matcher = SelectorMatcher::new(&group.selector);
                (group.project, group.configs, matcher)
            })
            .collect();
        let configs = distribution
            .configs
            .into_iter()
            .map(|config| ((config.project.clone(), config.name.clone()), config))
            .collect();
        Self {
            generation: distribution.generation,
            tenant: distribution.tenant,
            groups,
            configs,
            bundles: Mutex::new(BoundedCache::new(BUNDLES_PER_SNAPSHOT)),
        }
    }

    /// The configs the agent's groups bind, each at the revision its rollout gives the agent.
    fn selection(&self, agent: &SyncingAgent) -> Vec<(String, String, i64)> {
        let facts = AgentFacts {
            agent_id: &agent.id,
            attributes: &agent.attributes,
        };
        let mut bound: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (project, configs, matcher) in &self.groups {
            if matcher.matches(facts) {
                bound.extend(configs.iter().map(|c| (project.as_str(), c.as_str())));
            }
        }
        let mut selection = Vec::with_capacity(bound.len());
        for (project, config) in bound {
            let Some(distribution) = self.configs.get(&(project.to_string(), config.to_string()))
            else {
                continue;
            };
            let name = bundle_config_name(project, config);
            let running = agent.applied_revision(project, config);
            if let Some(revision) = distribution.rollout.revision_for(&agent.id, &name, running) {
                selection.push((project.to_string(), config.to_string(), revision));
            }
        }
        selection
    }

    pub fn bundle_for(&self, agent: &SyncingAgent, renders: &Renders) -> Arc<ComputedBundle> {
        let key = (agent.agent_type, self.selection(agent));
        if let Some(bundle) = self.lock_bundles().get(&key) {
            return bundle;
        }
        let computed = Arc::new(self.assemble(key.0, &key.1, renders));
        self.lock_bundles().insert(key, computed.clone());
        computed
    }

    fn lock_bundles(
        &self,
    ) -> std::sync::MutexGuard<'_, BoundedCache<BundleKey, Arc<ComputedBundle>>> {
        self.bundles.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn assemble(
        &self,
        agent_type: AgentType,
        selection: &[(String, String, i64)],
        renders: &Renders,
    ) -> ComputedBundle {
        let mut rendered = Vec::with_capacity(selection.len());
        let mut sent = Vec::with_capacity(selection.len());
        for (project, config, revision) in selection {
            let mut record = SentConfig {
                project: project.clone(),
                config: config.clone(),
                revision: *revision,
                skipped: None,
            };
            let revision_spec = self
                .configs
                .get(&(project.clone(), config.clone()))
                .and_then(|distribution| distribution.revision(*revision));
            let Some(revision_spec) = revision_spec else {
                // The snapshot carries every revision a rollout can hand out; reaching this means
                // a bug, which must not cost the agent its other configs.
                tracing::error!(tenant = %self.tenant, project, config, revision, "a rollout named a revision the snapshot lacks");
                record.skipped = Some(format!("revision {revision} is not available"));
                sent.push(record);
                continue;
            };
            let name = bundle_config_name(project, config);
            match renders.render(&self.tenant, project, &name, revision_spec, agent_type) {
                Ok(files) => rendered.push(RenderedConfig {
                    name,
                    revision: *revision,
                    files,
                }),
                Err(error) => record.skipped = Some(error.to_string()),
            }
            sent.push(record);
        }
        let bundle = assemble_bundle(agent_type, rendered);
        // A bundle is strings and lists of them: serializing it cannot fail.
        let body = serde_json::to_vec(&bundle).map_or_else(|_| bytes::Bytes::new(), Into::into);
        ComputedBundle {
            sent: SentBundle {
                hash: bundle.hash.clone(),
                configs: sent,
            },
            body,
            bundle,
        }
    }
}
