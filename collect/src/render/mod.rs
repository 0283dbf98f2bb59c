//! Rendering a collection config for one agent type. The output depends only on the config (name,
//! revision, spec), the agent type and the [`RenderContext`] — never on the agent — so the server
//! renders each revision once per agent type and shares the files among thousands of agents.
//!
//! Where an agent type cannot express a feature the config uses, rendering fails with an
//! [`Unsupported`] naming the feature's JSON path, the agent type and why; nothing is dropped
//! silently. [`check_supported`] runs the same checks without producing files, for binding a
//! config to a machine group (422 naming the field).

mod fluent_bit;
pub use fluent_bit::{
    MAIN_FILE_NAME as FLUENT_BIT_MAIN_FILE_NAME, main_file as fluent_bit_main_file,
};
mod native;
mod otel;
pub mod regex_dialect;
pub mod time_layout;
mod vector;
mod yaml;

use logplane_model::collection_config::CollectionConfigSpec;
use logplane_model::validation::ValidationErrors;
use logplane_model::{AgentType, BundleFile};
use url::Url;

pub const JSON_CONTENT_TYPE: &str = "application/json";
pub const YAML_CONTENT_TYPE: &str = "application/yaml";
/// The environment variable agents keep their access token in. Rendered configs refer to it, so
/// files carry no secret and are the same for every agent.
pub const TOKEN_ENV_VAR: &str = "LOGPLANE_AGENT_TOKEN";

/// Where agents send records. Fixed per deployment, so it does not break sharing of rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    ingest_base_url: Url,
    tenant: String,
    project: String,
}

impl RenderContext {
    /// `ingest_base_url` is the ingest service's `http` or `https` base URL, such as
    /// `https://ingest.logs.example.com`.
    pub fn new(ingest_base_url: &str, tenant: &str, project: &str) -> Result<Self, String> {
        let url = Url::parse(ingest_base_url)
            .map_err(|error| format!("ingest base URL {ingest_base_url:?}: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "ingest base URL {ingest_base_url:?} must be http(s) with a host"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "ingest base URL {ingest_base_url:?} must have no query or fragment"
            ));
        }
        Ok(Self {
            ingest_base_url: url,
            tenant: tenant.to_string(),
            project: project.to_string(),
        })
    }

    /// The URL records of a logstore are posted to, as newline-delimited JSON. The ingest
    /// protocol is not settled yet; this is the one place that decides it.
    pub fn ingest_url(&self, logstore: &str) -> Url {
        let mut url = self.ingest_base_url.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have path segments")
            .pop_if_empty()
            .extend(["v1", "ingest", &self.tenant, &self.project, logstore]);
        url
    }

    /// The URL for OTLP/HTTP logs (the OpenTelemetry Collector's native export).
    pub fn otlp_logs_url(&self, logstore: &str) -> Url {
        let mut url = self.ingest_url(logstore);
        url.path_segments_mut()
            .expect("http(s) URLs have path segments")
            .extend(["otlp", "v1", "logs"]);
        url
    }
}

/// A config as it is rendered: its name, the revision and that revision's spec.
#[derive(Debug, Clone, Copy)]
pub struct ConfigToRender<'a> {
    pub name: &'a str,
    pub revision: i64,
    pub spec: &'a CollectionConfigSpec,
}

/// A feature of a config an agent type cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {agent_type} cannot express {feature}: {reason}")]
pub struct Unsupported {
    /// The JSON path of the feature in the spec, such as `sources[1].kubernetes.pod_labels`.
    pub field: String,
    pub agent_type: AgentType,
    /// A short name of the feature, such as `pod label selection`.
    pub feature: String,
    pub reason: String,
}

/// Every feature of a config an agent type cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct RenderError {
    pub problems: Vec<Unsupported>,
}

impl RenderError {
    /// As field errors for a 422 problem, each naming the field, the agent type and the reason.
    pub fn to_validation_errors(&self) -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        for problem in &self.problems {
            errors.add(
                problem.field.clone(),
                format!(
                    "{} cannot express {}: {}",
                    problem.agent_type, problem.feature, problem.reason
                ),
            );
        }
        errors
    }
}

/// Collects the unsupported features found while rendering, so one answer lists them all.
#[derive(Debug)]
pub(crate) struct Problems {
    agent_type: AgentType,
    found: Vec<Unsupported>,
}

impl Problems {
    pub(crate) fn new(agent_type: AgentType) -> Self {
        Self {
            agent_type,
            found: Vec::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        field: impl Into<String>,
        feature: &str,
        reason: impl Into<String>,
    ) {
        self.found.push(Unsupported {
            field: field.into(),
            agent_type: self.agent_type,
            feature: feature.to_string(),
            reason: reason.into(),
        });
    }

    /// A translated pattern, or a recorded problem and an empty placeholder.
    pub(crate) fn pattern(&mut self, field: &str, translated: Result<String, String>) -> String {
        translated.unwrap_or_else(|reason| {
            self.add(field, "this regular expression", reason);
            String::new()
        })
    }

    /// The rendered value, or every problem found, in the order of the spec's fields (renderers
    /// visit stages in their own order).
    pub(crate) fn finish<T>(mut self, rendered: T) -> Result<T, RenderError> {
        if self.found.is_empty() {
            return Ok(rendered);
        }
        self.found
            .sort_by_key(|problem| spec_field_rank(&problem.field));
        Err(RenderError {
            problems: self.found,
        })
    }
}

/// The position of a field's top-level key among the spec's fields.
fn spec_field_rank(field: &str) -> usize {
    const ORDER: [&str; 7] = [
        "sources",
        "multiline",
        "parser",
        "timestamp",
        "severity",
        "processors",
        "destination",
    ];
    let top = field.split(['.', '[']).next().unwrap_or_default();
    ORDER
        .iter()
        .position(|name| *name == top)
        .unwrap_or(ORDER.len())
}

/// Renders one config for one agent type: one file named `<config>.json` or `<config>.yaml`.
pub fn render_config(
    agent_type: AgentType,
    context: &RenderContext,
    config: ConfigToRender<'_>,
) -> Result<Vec<BundleFile>, RenderError> {
    let file = match agent_type {
        AgentType::Native => native::render(config),
        AgentType::FluentBit => fluent_bit::render(context, config)?,
        AgentType::Vector => vector::render(context, config)?,
        AgentType::OtelCollector => otel::render(context, config)?,
    };
    Ok(vec![file])
}

/// Whether an agent type can express every feature of a spec, without rendering files the caller
/// would discard. The context only shapes URLs, which never fail, so a fixed one serves.
pub fn check_supported(
    agent_type: AgentType,
    spec: &CollectionConfigSpec,
) -> Result<(), RenderError> {
    let context = RenderContext::new("http://check.invalid", "tenant", "project")
        .expect("a fixed, valid URL");
    let config = ConfigToRender {
        name: "check",
        revision: 1,
        spec,
    };
    render_config(agent_type, &context, config).map(|_| ())
}

/// The name rendered components carry: `lp_<config>`. Config names are `[a-z0-9_-]`, which every
/// agent accepts in identifiers and tags.
pub(crate) fn component_prefix(config_name: &str) -> String {
    format!("lp_{config_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_urls_are_built_by_segments() {
        let context =
            RenderContext::new("https://ingest.example.com/base/", "acme", "web").unwrap();
        assert_eq!(
            context.ingest_url("nginx").as_str(),
            "https://ingest.example.com/base/v1/ingest/acme/web/nginx"
        );
        assert_eq!(
            context.otlp_logs_url("nginx").as_str(),
            "https://ingest.example.com/base/v1/ingest/acme/web/nginx/otlp/v1/logs"
        );
        for bad in ["ftp://x", "not a url", "https://x/?a=1", "unix:/run/sock"] {
            assert!(RenderContext::new(bad, "t", "p").is_err(), "{bad}");
        }
    }
}
