//! An agent's bundle: the files of every config it should run, rendered for its type, and the
//! hash that names the whole. Rendering is per config and revision, so the server can cache
//! [`RenderedConfig`]s and assemble bundles for thousands of agents from them.

use logplane_model::{AgentType, BundleConfig, BundleFile, ConfigBundle};

use crate::render::{ConfigToRender, RenderContext, RenderError, render_config};
use crate::revision::bundle_hash;

/// One config at one revision, rendered for one agent type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedConfig {
    pub name: String,
    pub revision: i64,
    pub files: Vec<BundleFile>,
}

/// Builds the bundle from rendered configs: configs and files ordered by name, plus the main file
/// an agent type needs to load them (Fluent Bit's includes), and the hash over all of it.
pub fn assemble_bundle(agent_type: AgentType, mut configs: Vec<RenderedConfig>) -> ConfigBundle {
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    debug_assert!(
        configs.windows(2).all(|pair| pair[0].name != pair[1].name),
        "an agent runs each config at one revision"
    );
    let mut files: Vec<BundleFile> = configs
        .iter()
        .flat_map(|config| config.files.iter().cloned())
        .collect();
    if agent_type == AgentType::FluentBit {
        let included: Vec<String> = files.iter().map(|file| file.name.clone()).collect();
        files.push(crate::render::fluent_bit_main_file(&included));
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    debug_assert!(
        files.windows(2).all(|pair| pair[0].name != pair[1].name),
        "config names are unique and contain no dots, so file names cannot collide"
    );
    let configs: Vec<BundleConfig> = configs
        .into_iter()
        .map(|config| BundleConfig {
            name: config.name,
            revision: config.revision,
        })
        .collect();
    let hash = bundle_hash(&configs, &files);
    ConfigBundle {
        hash,
        configs,
        files,
    }
}

/// A config left out of an agent's bundle because the agent's type cannot express it. Binding
/// checks prevent this for the agents present at bind time; an agent joining a group later can
/// still meet it, and the server reports it in the config's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedConfig {
    pub name: String,
    pub revision: i64,
    pub error: RenderError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleOutcome {
    pub bundle: ConfigBundle,
    pub skipped: Vec<SkippedConfig>,
}

/// Renders and assembles in one step; for callers without a cache of rendered configs.
pub fn render_bundle(
    agent_type: AgentType,
    context: &RenderContext,
    configs: &[ConfigToRender<'_>],
) -> BundleOutcome {
    let mut rendered = Vec::new();
    let mut skipped = Vec::new();
    for config in configs {
        match render_config(agent_type, context, *config) {
            Ok(files) => rendered.push(RenderedConfig {
                name: config.name.to_string(),
                revision: config.revision,
                files,
            }),
            Err(error) => skipped.push(SkippedConfig {
                name: config.name.to_string(),
                revision: config.revision,
                error,
            }),
        }
    }
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    BundleOutcome {
        bundle: assemble_bundle(agent_type, rendered),
        skipped,
    }
}
