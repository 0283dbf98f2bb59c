//! What agents tell the control plane about themselves and what they receive: their attributes
//! (matched by machine-group selectors), the config bundle rendered for their type, and the state
//! of the bundle they last applied.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::labels::{Labels, check_labels};
use crate::network::{check_hostname, check_ip_address};
use crate::validation::{ValidationErrors, check_text};

pub const MAX_OS_CHARS: usize = 64;
pub const MAX_KUBERNETES_NAME_CHARS: usize = 253;
pub const MAX_SYNC_MESSAGE_CHARS: usize = 4096;
pub const MAX_BUNDLE_HASH_CHARS: usize = 128;

/// The kind of collector an agent runs; it decides how configs are rendered for it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AgentType {
    /// Logplane's own agent: receives the collection configs as JSON of the model.
    Native,
    /// Fluent Bit 3 or later, YAML configuration.
    FluentBit,
    /// Vector 0.40 or later, YAML configuration.
    Vector,
    /// OpenTelemetry Collector (contrib distribution), YAML configuration.
    OtelCollector,
}

impl AgentType {
    pub const ALL: [AgentType; 4] = [
        AgentType::Native,
        AgentType::FluentBit,
        AgentType::Vector,
        AgentType::OtelCollector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentType::Native => "native",
            AgentType::FluentBit => "fluent-bit",
            AgentType::Vector => "vector",
            AgentType::OtelCollector => "otel-collector",
        }
    }
}

impl std::fmt::Display for AgentType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Where an agent runs inside Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesAttributes {
    /// The cluster's name; at most 253 characters.
    #[serde(default)]
    #[schema(max_length = 253, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    pub cluster: String,
    /// The node's name; at most 253 characters.
    #[serde(default)]
    #[schema(max_length = 253, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    pub node: String,
}

/// What an agent reports about itself at enrollment and whenever it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentAttributes {
    /// The host's name (RFC 1123): letters, digits, `-` and `.`, at most 253 characters.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"
    )]
    pub hostname: String,
    /// The host's primary IPv4 or IPv6 address, or null when unknown.
    #[serde(default)]
    #[schema(max_length = 45, pattern = "^[0-9A-Fa-f:.]+$")]
    pub ip: Option<String>,
    /// The operating system, such as `linux` or `windows`; at most 64 characters.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    pub os: String,
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub labels: Labels,
    /// Present when the agent runs on a Kubernetes node.
    #[serde(default)]
    pub kubernetes: Option<KubernetesAttributes>,
}

impl AgentAttributes {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.validate_into("attributes", &mut errors);
        errors.into_result()
    }

    /// Checks the attributes, naming fields under `field` (`attributes.hostname`, ...).
    pub fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        errors.check(&format!("{field}.hostname"), check_hostname(&self.hostname));
        if let Some(ip) = &self.ip {
            errors.check(&format!("{field}.ip"), check_ip_address(ip).map(|_| ()));
        }
        errors.check(
            &format!("{field}.os"),
            check_single_line(&self.os, MAX_OS_CHARS),
        );
        check_labels(&format!("{field}.labels"), &self.labels, errors);
        if let Some(kubernetes) = &self.kubernetes {
            errors.check(
                &format!("{field}.kubernetes.cluster"),
                check_single_line(&kubernetes.cluster, MAX_KUBERNETES_NAME_CHARS),
            );
            errors.check(
                &format!("{field}.kubernetes.node"),
                check_single_line(&kubernetes.node, MAX_KUBERNETES_NAME_CHARS),
            );
        }
    }
}

fn check_single_line(value: &str, max_chars: usize) -> Result<(), String> {
    check_text(value, max_chars)?;
    if value.contains(['\n', '\t']) {
        return Err("must be a single line".to_string());
    }
    Ok(())
}

/// One collection config in a bundle, at the revision the agent should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BundleConfig {
    pub name: String,
    pub revision: i64,
}

/// One file of a bundle, rendered for the agent's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BundleFile {
    /// A file name without directories, unique within the bundle.
    pub name: String,
    /// `application/json` or `application/yaml`.
    pub content_type: String,
    pub body: String,
}

/// Everything an agent should run. `hash` changes whenever anything else in the bundle changes;
/// the agent sends it back in `If-None-Match` and the server answers 304 while it is current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigBundle {
    /// Lowercase hex SHA-256, 64 characters.
    pub hash: String,
    /// Ordered by name.
    pub configs: Vec<BundleConfig>,
    /// Ordered by name.
    pub files: Vec<BundleFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// The agent received the bundle and is loading it.
    Applying,
    /// The agent runs the bundle.
    Applied,
    /// The agent could not load the bundle; `message` says why. It keeps running its previous one.
    Failed,
}

/// What the agent did with the bundle of the given hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncStatus {
    /// The hash of the bundle this status is about.
    #[schema(min_length = 1, max_length = 128, pattern = "^[0-9a-f]+$")]
    pub hash: String,
    pub state: SyncState,
    /// Why the bundle failed, or any note; at most 4096 characters.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub message: String,
}

impl SyncStatus {
    pub fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        let hash_ok = !self.hash.is_empty()
            && self.hash.len() <= MAX_BUNDLE_HASH_CHARS
            && self
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hash_ok {
            errors.add(
                format!("{field}.hash"),
                format!("must be 1 to {MAX_BUNDLE_HASH_CHARS} lowercase hex digits"),
            );
        }
        errors.check(
            &format!("{field}.message"),
            check_text(&self.message, MAX_SYNC_MESSAGE_CHARS),
        );
    }
}

/// The body of an agent's sync call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSyncRequest {
    /// Increases by one with every call; a gap makes the server ask for the full state.
    #[schema(minimum = 0)]
    pub seq: i64,
    /// Present once the agent has applied something.
    #[serde(default)]
    pub status: Option<SyncStatus>,
    /// Present only when the attributes changed since the last call.
    #[serde(default)]
    pub attributes: Option<AgentAttributes>,
}

impl AgentSyncRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.seq < 0 {
            errors.add("seq", "must not be negative");
        }
        if let Some(status) = &self.status {
            status.validate_into("status", &mut errors);
        }
        if let Some(attributes) = &self.attributes {
            attributes.validate_into("attributes", &mut errors);
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_types_are_written_in_kebab_case() {
        for agent_type in AgentType::ALL {
            let written = serde_json::to_value(agent_type).unwrap();
            assert_eq!(written, serde_json::json!(agent_type.as_str()));
            let read: AgentType = serde_json::from_value(written).unwrap();
            assert_eq!(read, agent_type);
        }
        assert!(serde_json::from_str::<AgentType>(r#""fluentbit""#).is_err());
    }

    #[test]
    fn attributes_fill_defaults_and_name_bad_fields() {
        let attributes: AgentAttributes = serde_json::from_str(r#"{"hostname": "web-1"}"#).unwrap();
        assert_eq!(attributes.validate(), Ok(()));
        assert_eq!(
            serde_json::to_value(&attributes).unwrap(),
            serde_json::json!({"hostname": "web-1", "ip": null, "os": "", "labels": {}, "kubernetes": null})
        );
        let bad: AgentAttributes = serde_json::from_value(serde_json::json!({
            "hostname": "web 1",
            "ip": "10.0.0.300",
            "os": "linux\n",
            "kubernetes": {"cluster": "c".repeat(254), "node": "n1"}
        }))
        .unwrap();
        let fields: Vec<_> = bad
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "attributes.hostname",
                "attributes.ip",
                "attributes.os",
                "attributes.kubernetes.cluster"
            ]
        );
    }

    #[test]
    fn sync_requests_reject_unknown_fields_and_bad_hashes() {
        assert!(serde_json::from_str::<AgentSyncRequest>(r#"{"seq": 1, "state": "x"}"#).is_err());
        let request: AgentSyncRequest = serde_json::from_str(
            r#"{"seq": 3, "status": {"hash": "ABC", "state": "failed", "message": "bad"}}"#,
        )
        .unwrap();
        let errors = request.validate().unwrap_err();
        assert_eq!(errors.errors[0].field, "status.hash");
    }
}
