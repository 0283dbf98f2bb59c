//! Collection configs: what agents collect, how they parse it and which logstore it goes to.
//! The spec is written by tenants, validated here with the JSON path of every bad field, and
//! rendered for each agent type by `logplane-collect`.
//!
//! Every source, the parser and every processor is an object with exactly one key naming its kind
//! (serde's externally tagged enums), so the JSON reads the way it is documented:
//! `{"sources": [{"file": {"include": ["/var/log/nginx/*.log"]}}], "parser": {"regex": {...}},
//! "processors": [{"drop_fields": {"fields": ["x"]}}], "destination": {"logstore": "nginx"}}`.

pub mod field;
pub mod parser;
pub mod pattern;
pub mod preview;
pub mod processor;
pub mod rollout;
pub mod source;
pub mod time_format;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::ResourceMeta;
use crate::names::LOGSTORE_NAME;
use crate::timestamp::Timestamp;
use crate::validation::ValidationErrors;

pub use field::{MESSAGE_FIELD, check_field_name};
pub use parser::{
    DelimiterParser, JsonParser, Multiline, Parser, RegexParser, SeverityRule, TimestampRule,
};
pub use pattern::compile_pattern;
pub use preview::{PreviewEntry, PreviewOutcome, PreviewRecord, PreviewRequest, PreviewResponse};
pub use processor::{AddFields, DropFields, KeepIf, Processor};
pub use rollout::{
    CollectionConfigRollout, CollectionConfigStatus, RevisionStatus, RollbackRequest,
    RolloutRequest, StatusMessage, StatusMessageKind,
};
pub use source::{
    ContainerStream, FileSource, JournaldSource, KubernetesSource, Source, StartAt, SyslogFormat,
    SyslogProtocol, SyslogSource,
};
pub use time_format::{TimeFormatItem, parse_time_format};

pub const MAX_SOURCES: usize = 16;

/// Where the records go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// A logstore of the same project.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9_-]*[a-z0-9]$"
    )]
    pub logstore: String,
}

/// The writable fields of a collection config. Records flow through the stages in the order of
/// the fields: sources → multiline → parser → timestamp → severity → processors → destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfigSpec {
    /// 1 to 16 sources.
    #[schema(min_items = 1, max_items = 16)]
    pub sources: Vec<Source>,
    /// Null: every line is a record.
    #[serde(default)]
    pub multiline: Option<Multiline>,
    /// Null: records carry the line in `message` and nothing else.
    #[serde(default)]
    pub parser: Option<Parser>,
    #[serde(default)]
    pub timestamp: Option<TimestampRule>,
    #[serde(default)]
    pub severity: Option<SeverityRule>,
    /// At most 32, applied in order.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub processors: Vec<Processor>,
    pub destination: Destination,
}

impl CollectionConfigSpec {
    /// Checks everything that needs no other resource; whether the logstore exists is the
    /// store's question.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.sources.is_empty() || self.sources.len() > MAX_SOURCES {
            errors.add(
                "sources",
                format!(
                    "must have 1 to {MAX_SOURCES} sources, got {}",
                    self.sources.len()
                ),
            );
        } else {
            for (index, source) in self.sources.iter().enumerate() {
                source.validate_into(&format!("sources[{index}]"), &mut errors);
            }
        }
        if let Some(multiline) = &self.multiline {
            multiline.validate_into(&mut errors);
        }
        if let Some(parser) = &self.parser {
            parser.validate_into(&mut errors);
        }
        if let Some(timestamp) = &self.timestamp {
            timestamp.validate_into(self.parser.as_ref(), &mut errors);
        }
        if let Some(severity) = &self.severity {
            parser::check_parsed_field_reference(
                "severity.field",
                &severity.field,
                self.parser.as_ref(),
                &mut errors,
            );
        }
        if self.processors.len() > processor::MAX_PROCESSORS {
            errors.add(
                "processors",
                format!(
                    "must have at most {} processors, got {}",
                    processor::MAX_PROCESSORS,
                    self.processors.len()
                ),
            );
        } else {
            for (index, processor) in self.processors.iter().enumerate() {
                processor.validate_into(index, &mut errors);
            }
        }
        errors.check(
            "destination.logstore",
            LOGSTORE_NAME.check(&self.destination.logstore),
        );
        errors.into_result()
    }
}

/// A collection config as the API shows it: the spec's fields, as written with defaults filled
/// in, beside what the server decides (like every other resource, so a `GET` body minus those
/// fields is a valid `PUT` body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CollectionConfig {
    pub name: String,
    pub sources: Vec<Source>,
    pub multiline: Option<Multiline>,
    pub parser: Option<Parser>,
    pub timestamp: Option<TimestampRule>,
    pub severity: Option<SeverityRule>,
    pub processors: Vec<Processor>,
    pub destination: Destination,
    /// Starts at 1 and grows by one with every change of the spec.
    pub revision: i64,
    /// Lowercase hex SHA-256 of the spec's canonical JSON.
    pub content_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub etag: String,
}

/// The fields of [`CollectionConfig`] a client must not send.
pub const COLLECTION_CONFIG_READ_ONLY_FIELDS: &[&str] = &["revision", "content_hash"];

impl CollectionConfig {
    pub fn from_parts(
        meta: ResourceMeta,
        revision: i64,
        content_hash: String,
        spec: CollectionConfigSpec,
    ) -> Self {
        Self {
            name: meta.name,
            sources: spec.sources,
            multiline: spec.multiline,
            parser: spec.parser,
            timestamp: spec.timestamp,
            severity: spec.severity,
            processors: spec.processors,
            destination: spec.destination,
            revision,
            content_hash,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            etag: meta.etag,
        }
    }

    pub fn spec(&self) -> CollectionConfigSpec {
        CollectionConfigSpec {
            sources: self.sources.clone(),
            multiline: self.multiline.clone(),
            parser: self.parser.clone(),
            timestamp: self.timestamp.clone(),
            severity: self.severity.clone(),
            processors: self.processors.clone(),
            destination: self.destination.clone(),
        }
    }
}

/// One immutable revision of a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CollectionConfigRevision {
    pub revision: i64,
    pub content_hash: String,
    pub spec: CollectionConfigSpec,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests;
