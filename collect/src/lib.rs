//! The pure core of collection-config distribution: which agents belong to a machine group,
//! content hashes of configs and bundles, percentage rollouts, rendering configs for each agent
//! type, assembling an agent's bundle, and previewing what a config makes of sample lines.
//!
//! Nothing here does I/O or reads a clock; the API crate wires it to the store and to time.

pub mod bundle;
pub mod preview;
pub mod render;
pub mod revision;
pub mod rollout;
pub mod selector;

pub use bundle::{BundleOutcome, RenderedConfig, SkippedConfig, assemble_bundle, render_bundle};
pub use preview::preview;
pub use render::{
    ConfigToRender, RenderContext, RenderError, Unsupported, check_supported, render_config,
};
pub use revision::{bundle_hash, config_content_hash};
pub use rollout::{
    Reach, Rollout, RolloutError, revision_for_agent, rollout_bucket, should_auto_pause,
};
pub use selector::{AgentFacts, SelectorMatcher, agent_matches};
