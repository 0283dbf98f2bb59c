//! Rendered configs, cached per (config revision, agent type): the output depends on nothing
//! else, so a revision is rendered once per agent type however many agents receive it.

use std::sync::{Arc, Mutex};

use logplane_collect::{ConfigToRender, RenderContext, RenderError, render_config};
use logplane_model::{AgentType, BundleFile};
use logplane_store::distribution::RevisionSpec;

use super::cache::BoundedCache;

/// Revisions kept rendered, over all tenants and agent types. A rendered config is a few
/// kilobytes, so this is a few tens of megabytes at most.
const RENDERED_REVISIONS: usize = 8192;

/// Tenant, bundle config name, revision, content hash, agent type. The content hash is part of
/// the key because a config deleted and created again starts its revisions at 1 anew.
type RenderKey = (String, String, i64, String, AgentType);

pub type Rendered = Result<Arc<Vec<BundleFile>>, RenderError>;

pub struct Renders {
    ingest_base_url: String,
    cache: Mutex<BoundedCache<RenderKey, Rendered>>,
}

impl Renders {
    /// Refuses an ingest URL rendered configs could not use, so rendering never meets one.
    pub fn new(ingest_base_url: &str) -> Result<Self, String> {
        RenderContext::new(ingest_base_url, "tenant", "project")?;
        Ok(Self {
            ingest_base_url: ingest_base_url.to_string(),
            cache: Mutex::new(BoundedCache::new(RENDERED_REVISIONS)),
        })
    }

    pub fn render(
        &self,
        tenant: &str,
        project: &str,
        bundle_name: &str,
        revision: &RevisionSpec,
        agent_type: AgentType,
    ) -> Result<Vec<BundleFile>, RenderError> {
        let key = (
            tenant.to_string(),
            bundle_name.to_string(),
            revision.revision,
            revision.content_hash.clone(),
            agent_type,
        );
        let cached = self.lock().get(&key);
        let rendered = match cached {
            Some(rendered) => rendered,
            None => {
                let rendered =
                    self.render_uncached(tenant, project, bundle_name, revision, agent_type);
                self.lock().insert(key, rendered.clone());
                rendered
            }
        };
        rendered.map(|files| files.as_ref().clone())
    }

    fn render_uncached(
        &self,
        tenant: &str,
        project: &str,
        bundle_name: &str,
        revision: &RevisionSpec,
        agent_type: AgentType,
    ) -> Rendered {
        let context = RenderContext::new(&self.ingest_base_url, tenant, project)
            .expect("Renders::new checked the URL, and names never make it invalid");
        let config = ConfigToRender {
            name: bundle_name,
            revision: revision.revision,
            spec: &revision.spec,
        };
        render_config(agent_type, &context, config).map(Arc::new)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoundedCache<RenderKey, Rendered>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
