//! How a collected line becomes fields: the parser (an object with one key naming its kind), then
//! the rules that take the record's timestamp and severity from parsed fields, and before all of
//! them the multiline rule that joins lines into one record.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::field::check_field_name;
use super::pattern::compile_pattern;
use super::time_format::parse_time_format;
use crate::validation::{ValidationErrors, check_range};

pub const MAX_DELIMITER_KEYS: usize = 64;
pub const DEFAULT_SEPARATOR: &str = ",";
pub const DEFAULT_QUOTE: &str = "\"";
pub const DEFAULT_FLUSH_TIMEOUT_MS: i64 = 1000;
pub const MIN_FLUSH_TIMEOUT_MS: i64 = 100;
pub const MAX_FLUSH_TIMEOUT_MS: i64 = 60_000;
pub const MIN_MULTILINE_LINES: i64 = 2;
pub const MAX_MULTILINE_LINES: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Parser {
    Regex(RegexParser),
    Json(JsonParser),
    Delimiter(DelimiterParser),
}

/// Named groups become fields: `^(?P<ip>\S+) (?P<status>\d+)`. Rust `regex` syntax, without
/// look-around or backreferences; at most 4096 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexParser {
    #[schema(min_length = 1, max_length = 4096)]
    pub pattern: String,
}

/// The line is a JSON object; its top-level members become fields. Written `{"json": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonParser {}

/// The line is split on `separator`; the n-th value becomes the field named by the n-th key. A
/// value wrapped in `quote` may contain the separator, and a doubled quote inside it stands for
/// one quote (as in CSV). A line with a different number of values is not parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelimiterParser {
    /// One character: ASCII punctuation, a space or a tab (default `,`).
    #[serde(default = "default_separator")]
    #[schema(min_length = 1, max_length = 1, pattern = "^[\\t !-/:-@\\[-`{-~]$")]
    pub separator: String,
    /// One ASCII punctuation character (default `"`), or null for values that are never quoted.
    #[serde(default = "default_quote")]
    #[schema(min_length = 1, max_length = 1, pattern = "^[!-/:-@\\[-`{-~]$")]
    pub quote: Option<String>,
    #[schema(schema_with = super::field::field_name_list_schema)]
    pub keys: Vec<String>,
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}
fn default_quote() -> Option<String> {
    Some(DEFAULT_QUOTE.to_string())
}

impl DelimiterParser {
    pub fn separator_char(&self) -> char {
        self.separator.chars().next().unwrap_or(',')
    }

    pub fn quote_char(&self) -> Option<char> {
        self.quote.as_ref().and_then(|quote| quote.chars().next())
    }
}

/// The fields a parser is known to produce; `None` when they depend on the line (JSON).
pub fn parsed_fields(parser: &Parser) -> Option<Vec<String>> {
    match parser {
        Parser::Regex(regex) => Some(regex_group_names(&regex.pattern)),
        Parser::Json(_) => None,
        Parser::Delimiter(delimiter) => Some(delimiter.keys.clone()),
    }
}

/// The named groups of a pattern, in order; empty when it does not compile.
pub fn regex_group_names(pattern: &str) -> Vec<String> {
    compile_pattern(pattern)
        .map(|regex| {
            regex
                .capture_names()
                .flatten()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn check_single_ascii_punctuation(value: &str, allow_blank: bool) -> Result<(), String> {
    let mut chars = value.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return Err(format!("must be exactly one character, got {value:?}"));
    };
    let blank_ok = allow_blank && (c == ' ' || c == '\t');
    if !(c.is_ascii_punctuation() || blank_ok) {
        let what = if allow_blank {
            "ASCII punctuation, a space or a tab"
        } else {
            "ASCII punctuation"
        };
        return Err(format!("must be {what}, got {value:?}"));
    }
    Ok(())
}

impl Parser {
    pub fn kind(&self) -> &'static str {
        match self {
            Parser::Regex(_) => "regex",
            Parser::Json(_) => "json",
            Parser::Delimiter(_) => "delimiter",
        }
    }

    pub fn validate_into(&self, errors: &mut ValidationErrors) {
        match self {
            Parser::Regex(regex) => {
                let field = "parser.regex.pattern";
                let compiled = match compile_pattern(&regex.pattern) {
                    Ok(compiled) => compiled,
                    Err(message) => return errors.add(field, message),
                };
                let names: Vec<&str> = compiled.capture_names().flatten().collect();
                if names.is_empty() {
                    errors.add(
                        field,
                        "must have at least one named group, such as (?P<ip>\\S+)",
                    );
                }
                for name in names {
                    if let Err(message) = check_field_name(name) {
                        errors.add(field, format!("group name {message}"));
                    }
                }
            }
            Parser::Json(_) => {}
            Parser::Delimiter(delimiter) => delimiter.validate_into(errors),
        }
    }
}

impl DelimiterParser {
    fn validate_into(&self, errors: &mut ValidationErrors) {
        let separator_ok = check_single_ascii_punctuation(&self.separator, true);
        errors.check("parser.delimiter.separator", separator_ok);
        if let Some(quote) = &self.quote {
            errors.check(
                "parser.delimiter.quote",
                check_single_ascii_punctuation(quote, false),
            );
            if *quote == self.separator {
                errors.add("parser.delimiter.quote", "must differ from the separator");
            }
        }
        let keys_field = "parser.delimiter.keys";
        if self.keys.is_empty() || self.keys.len() > MAX_DELIMITER_KEYS {
            errors.add(
                keys_field,
                format!(
                    "must have 1 to {MAX_DELIMITER_KEYS} keys, got {}",
                    self.keys.len()
                ),
            );
            return;
        }
        for (index, key) in self.keys.iter().enumerate() {
            let key_field = format!("{keys_field}[{index}]");
            errors.check(&key_field, check_field_name(key));
            if self.keys[..index].contains(key) {
                errors.add(key_field, format!("repeats the key {key:?}"));
            }
        }
    }
}

/// Takes the record's timestamp from a parsed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimestampRule {
    /// A field the parser produces.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
    )]
    pub field: String,
    /// A strptime format using only %Y %y %m %b %d %e %H %M %S .%L %z %:z and %%, with the
    /// literals space - / : . , T [ ] ( ); it must contain a year, a month, a day, an hour and a
    /// minute. Without an offset the time is UTC. Example: `%d/%b/%Y:%H:%M:%S %z`.
    #[schema(min_length = 1, max_length = 64)]
    pub format: String,
}

/// Takes the record's severity (its text, such as `error`) from a parsed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityRule {
    /// A field the parser produces.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
    )]
    pub field: String,
}

/// Checks that `field` names something the parser produces, so the rule can ever apply.
pub fn check_parsed_field_reference(
    path: &str,
    field: &str,
    parser: Option<&Parser>,
    errors: &mut ValidationErrors,
) {
    if let Err(message) = check_field_name(field) {
        return errors.add(path, message);
    }
    let Some(parser) = parser else {
        return errors.add(path, "needs a parser that produces the field");
    };
    if let Some(fields) = parsed_fields(parser)
        && !fields.iter().any(|produced| produced == field)
    {
        errors.add(
            path,
            format!(
                "must be a field the {} parser produces ({}), got {field:?}",
                parser.kind(),
                fields.join(", ")
            ),
        );
    }
}

impl TimestampRule {
    pub fn validate_into(&self, parser: Option<&Parser>, errors: &mut ValidationErrors) {
        check_parsed_field_reference("timestamp.field", &self.field, parser, errors);
        errors.check(
            "timestamp.format",
            parse_time_format(&self.format).map(|_| ()),
        );
    }
}

/// Joins lines into one record: a line matching `start_pattern` starts a record and the lines
/// that follow, up to the next start, are appended to it with `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Multiline {
    /// Matches the first line of a record, such as `^\d{4}-\d{2}-\d{2}`; at most 4096 characters.
    #[schema(min_length = 1, max_length = 4096)]
    pub start_pattern: String,
    /// Ends a record after this many lines (2–10000); null leaves records unbounded in lines,
    /// ended only by the next start line or the flush timeout.
    #[serde(default)]
    #[schema(minimum = 2, maximum = 10000)]
    pub max_lines: Option<i64>,
    /// Ends a record when no line followed for this long (100–60000 ms, default 1000).
    #[serde(default = "default_flush_timeout_ms")]
    #[schema(minimum = 100, maximum = 60000)]
    pub flush_timeout_ms: i64,
}

fn default_flush_timeout_ms() -> i64 {
    DEFAULT_FLUSH_TIMEOUT_MS
}

impl Multiline {
    pub fn validate_into(&self, errors: &mut ValidationErrors) {
        errors.check(
            "multiline.start_pattern",
            compile_pattern(&self.start_pattern).map(|_| ()),
        );
        if let Some(max_lines) = self.max_lines {
            errors.check(
                "multiline.max_lines",
                check_range(max_lines, MIN_MULTILINE_LINES, MAX_MULTILINE_LINES),
            );
        }
        errors.check(
            "multiline.flush_timeout_ms",
            check_range(
                self.flush_timeout_ms,
                MIN_FLUSH_TIMEOUT_MS,
                MAX_FLUSH_TIMEOUT_MS,
            ),
        );
    }
}
