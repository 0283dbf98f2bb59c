//! One tenant's distribution at one generation, ready to compute bundles: selectors compiled,
//! configs indexed, and the bundles already assembled for this generation kept by what they
//! contain (agents of one type running the same configs at the same revisions share one).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use logplane_collect::{AgentFacts, Reach, RenderedConfig, SelectorMatcher, assemble_bundle};
use logplane_model::{AgentSelector, AgentType, ConfigBundle};
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

/// Everything of a snapshot that an agent's bundle is computed from, and nothing else: two
/// snapshots with equal effects give every agent the same bundle. A change that leaves the
/// effect as it was (a revision stored at 0 %, a group without configs, a config bound nowhere
/// changing its description) need not wake the agents waiting for one.
#[derive(Debug, PartialEq, Eq)]
pub struct Effect {
    /// Groups that bind configs: project, selector and the configs' names.
    groups: Vec<(String, AgentSelector, Vec<String>)>,
    /// Configs: project, name, who gets which revision, and the revisions that can be handed
    /// out with their content hashes (a config deleted and made again starts its numbers over).
    configs: Vec<ConfigEffect>,
}

/// A config's project and name, who gets which revision, and those revisions' numbers and
/// content hashes.
type ConfigEffect = (String, String, Reach, Vec<(i64, String)>);

impl Effect {
    fn of(distribution: &TenantDistribution) -> Self {
        let groups = distribution
            .groups
            .iter()
            .filter(|group| !group.configs.is_empty())
            .map(|group| {
                let mut configs = group.configs.clone();
                configs.sort();
                (group.project.clone(), group.selector.clone(), configs)
            })
            .collect();
        let mut configs: Vec<_> = distribution
            .configs
            .iter()
            .map(|config| {
                let reach = config.rollout.reach();
                let reachable = |revision: i64| match reach {
                    Reach::Uniform(given) => given == Some(revision),
                    Reach::Split(rollout) => {
                        revision == rollout.new_revision
                            || Some(revision) == rollout.previous_revision
                    }
                };
                let mut revisions: Vec<(i64, String)> = config
                    .revisions
                    .iter()
                    .filter(|revision| reachable(revision.revision))
                    .map(|revision| (revision.revision, revision.content_hash.clone()))
                    .collect();
                revisions.sort();
                (
                    config.project.clone(),
                    config.name.clone(),
                    reach,
                    revisions,
                )
            })
            .collect();
        configs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Self { groups, configs }
    }
}

pub struct Snapshot {
    pub generation: i64,
    /// Compared between generations: see [`Effect`].
    pub effect: Effect,
    tenant: String,
    groups: Vec<(String, Vec<String>, SelectorMatcher)>,
    configs: HashMap<(String, String), ConfigDistribution>,
    bundles: Mutex<BoundedCache<BundleKey, Arc<ComputedBundle>>>,
}

impl Snapshot {
    pub fn new(distribution: TenantDistribution) -> Self {
        let effect = Effect::of(&distribution);
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
            effect,
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use logplane_collect::Rollout;
    use logplane_model::CollectionConfigSpec;
    use logplane_store::distribution::{
        AppliedConfig, ConfigDistribution, GroupSelection, RevisionSpec,
    };

    pub(in crate::distribution) fn revision(revision: i64, path: &str) -> RevisionSpec {
        let spec: CollectionConfigSpec = serde_json::from_value(serde_json::json!({
            "sources": [{"file": {"include": [path]}}],
            "destination": {"logstore": "nginx"}
        }))
        .unwrap();
        RevisionSpec {
            revision,
            content_hash: format!("hash-of-{path}"),
            spec: Arc::new(spec),
        }
    }

    pub(in crate::distribution) fn distribution(
        generation: i64,
        rollout: Rollout,
        revisions: Vec<RevisionSpec>,
        bound: &[&str],
    ) -> TenantDistribution {
        TenantDistribution {
            tenant: "acme".into(),
            generation,
            groups: vec![GroupSelection {
                project: "web".into(),
                name: "frontends".into(),
                selector: AgentSelector::default(),
                configs: bound.iter().map(|c| c.to_string()).collect(),
            }],
            configs: vec![ConfigDistribution {
                project: "web".into(),
                name: "nginx".into(),
                rollout,
                revisions,
            }],
        }
    }

    pub(in crate::distribution) fn rollout(
        previous: Option<i64>,
        new_revision: i64,
        percent: u8,
    ) -> Rollout {
        Rollout {
            previous_revision: previous,
            new_revision,
            percent,
            paused: false,
        }
    }

    /// Config `nginx`, bound to a group, at its first revision for every agent.
    pub(in crate::distribution) fn first_revision_everywhere(
        generation: i64,
    ) -> TenantDistribution {
        distribution(
            generation,
            rollout(None, 1, 100),
            vec![revision(1, "/a")],
            &["nginx"],
        )
    }

    /// `nginx`'s second revision rolling out at `percent` over the first.
    pub(in crate::distribution) fn second_revision_at(
        generation: i64,
        percent: u8,
    ) -> TenantDistribution {
        distribution(
            generation,
            rollout(Some(1), 2, percent),
            vec![revision(1, "/a"), revision(2, "/b")],
            &["nginx"],
        )
    }

    #[test]
    fn a_revision_stored_at_zero_percent_changes_no_bundle() {
        let before = first_revision_everywhere(1);
        let stored = second_revision_at(2, 0);
        assert_eq!(Effect::of(&before), Effect::of(&stored));
        // And indeed: every agent, of every type, whatever it runs, gets the bundle it had.
        let renders = Renders::new("http://ingest.example").unwrap();
        let (before, stored) = (Snapshot::new(before), Snapshot::new(stored));
        for (at, agent_type) in [
            AgentType::Native,
            AgentType::FluentBit,
            AgentType::Vector,
            AgentType::OtelCollector,
        ]
        .into_iter()
        .enumerate()
        {
            for running in [None, Some(1), Some(2)] {
                let agent = SyncingAgent {
                    id: format!("agent-{at}"),
                    tenant: "acme".into(),
                    agent_type,
                    attributes: Default::default(),
                    applied: running
                        .map(|revision| AppliedConfig {
                            project: "web".into(),
                            config: "nginx".into(),
                            revision,
                        })
                        .into_iter()
                        .collect(),
                };
                assert_eq!(
                    before.bundle_for(&agent, &renders).bundle.hash,
                    stored.bundle_for(&agent, &renders).bundle.hash
                );
            }
        }
    }

    #[test]
    fn changes_that_reach_agents_change_the_effect() {
        let base = first_revision_everywhere(1);
        let rolled = second_revision_at(2, 10);
        let unbound = distribution(2, rollout(None, 1, 100), vec![revision(1, "/a")], &[]);
        // A config deleted and made again numbers its revisions from 1 again.
        let remade = distribution(
            2,
            rollout(None, 1, 100),
            vec![revision(1, "/c")],
            &["nginx"],
        );
        let mut narrowed = base.clone();
        narrowed.groups[0].selector.hostnames = vec!["web-1".into()];
        for changed in [rolled, unbound, remade, narrowed] {
            assert_ne!(Effect::of(&base), Effect::of(&changed), "{changed:?}");
        }
    }
}
