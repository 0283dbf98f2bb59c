//! The preview of a config: sample lines in, the records the config's multiline rule, parser,
//! timestamp and severity rules and processors make of them out, or why a line did not parse.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::ValidationErrors;

pub const MAX_PREVIEW_LINES: usize = 200;
pub const MAX_PREVIEW_LINE_CHARS: usize = 8192;

/// The body of `POST …/collection-configs/{config}/preview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// 1 to 200 lines as the parser would read them in `message`, without line terminators: a
    /// file's lines, a container's output without the runtime's prefix, a journal entry's MESSAGE,
    /// a syslog message without its header. Each at most 8192 characters.
    #[schema(min_items = 1, max_items = 200)]
    pub sample_lines: Vec<String>,
}

impl PreviewRequest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let count = self.sample_lines.len();
        if count == 0 || count > MAX_PREVIEW_LINES {
            errors.add(
                "sample_lines",
                format!("must have 1 to {MAX_PREVIEW_LINES} lines, got {count}"),
            );
            return errors.into_result();
        }
        for (index, line) in self.sample_lines.iter().enumerate() {
            let field = format!("sample_lines[{index}]");
            if line.chars().count() > MAX_PREVIEW_LINE_CHARS {
                errors.add(
                    field,
                    format!("must be at most {MAX_PREVIEW_LINE_CHARS} characters"),
                );
            } else if line.contains(['\n', '\r']) {
                errors.add(field, "must be one line, without line terminators");
            }
        }
        errors.into_result()
    }
}

/// A record as the config makes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewRecord {
    /// RFC 3339 in UTC, from the timestamp rule; null without one (agents then use the time they
    /// read the line).
    pub timestamp: Option<String>,
    /// From the severity rule; null without one or when the field is absent.
    pub severity: Option<String>,
    /// The record's fields, `message` first, then parsed and added fields in order.
    #[schema(value_type = Object)]
    pub fields: IndexMap<String, serde_json::Value>,
}

/// What became of one record: kept, dropped by a processor, or failed at a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewOutcome {
    Record(PreviewRecord),
    /// A `keep_if` processor dropped the record; `by` is its path, such as `processors[2].keep_if`.
    Dropped {
        by: String,
    },
    /// A stage could not handle the record; `field` is the config field whose rule failed. Agents
    /// forward such a record with its line in `message`, unparsed.
    Error {
        field: String,
        message: String,
    },
}

/// One record made from `line_count` consecutive sample lines starting at `first_line`
/// (0-based); more than one when the multiline rule joined them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewEntry {
    pub first_line: usize,
    pub line_count: usize,
    pub outcome: PreviewOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewResponse {
    pub entries: Vec<PreviewEntry>,
}
