//! The config's stages as Fluent Bit parsers and filters, all matching every record of the config:
//! the multiline parser, the parser (with the timestamp), the severity copy and the processors.

use logplane_model::collection_config::{Parser, Processor, parse_time_format};
use serde_json::{Map, Value, json};

use super::Builder;
use crate::render::regex_dialect::{delimiter_pattern, to_onigmo};
use crate::render::time_layout::fluent_bit_format;

impl Builder<'_> {
    pub(super) fn define_multiline_parser(&mut self) {
        let Some(multiline) = &self.spec.multiline else {
            return;
        };
        if multiline.max_lines.is_some() {
            self.problems.add(
                "multiline.max_lines",
                "a line limit on multiline records",
                "its multiline parsers end a record only at the next start line or the flush \
                 timeout; set max_lines to null",
            );
        }
        let field = "multiline.start_pattern";
        let start = self
            .problems
            .pattern(field, to_onigmo(&multiline.start_pattern));
        self.check_no_env_reference(field, &start);
        let name = format!("{}_multiline", self.prefix);
        self.multiline_parsers.push(json!({
            "name": name,
            "type": "regex",
            "flush_timeout": multiline.flush_timeout_ms,
            "rules": [
                {"state": "start_state", "regex": format!("/{start}/"), "next_state": "cont"},
                // Every line that is not a start line continues the record.
                {"state": "cont", "regex": format!("/\\A(?!.*?(?:{start}))/"), "next_state": "cont"}
            ]
        }));
        self.multiline_parser = Some(name);
    }

    pub(super) fn add_parser(&mut self) {
        let Some(parser) = &self.spec.parser else {
            return;
        };
        let parser_name = format!("{}_parser", self.prefix);
        let mut definition = Map::new();
        definition.insert("name".into(), json!(parser_name));
        match parser {
            Parser::Regex(regex) => {
                let field = "parser.regex.pattern";
                let pattern = self.problems.pattern(field, to_onigmo(&regex.pattern));
                self.check_no_env_reference(field, &pattern);
                definition.insert("format".into(), json!("regex"));
                definition.insert("regex".into(), json!(pattern));
            }
            Parser::Json(_) => {
                definition.insert("format".into(), json!("json"));
            }
            Parser::Delimiter(delimiter) => {
                if delimiter.quote.is_some() {
                    self.problems.add(
                        "parser.delimiter.quote",
                        "quoted delimited values",
                        "it has no delimiter parser; unquoted values are rendered as a regular \
                         expression, so set quote to null",
                    );
                }
                let pattern = delimiter_pattern(
                    delimiter.separator_char(),
                    &delimiter.keys,
                    "(?<",
                    ("\\A", "\\z"),
                );
                definition.insert("format".into(), json!("regex"));
                definition.insert("regex".into(), json!(pattern));
            }
        }
        // Fluent Bit reads timestamps only inside parsers; validation makes sure the timestamp
        // field comes from this parser.
        if let Some(timestamp) = &self.spec.timestamp
            && let Ok(items) = parse_time_format(&timestamp.format)
        {
            definition.insert("time_key".into(), json!(timestamp.field));
            definition.insert("time_format".into(), json!(fluent_bit_format(&items)));
            // Keep the field: records look the same on every agent type.
            definition.insert("time_keep".into(), json!(true));
        }
        self.parsers.push(Value::Object(definition));
        self.filters.push(json!({
            "name": "parser",
            "match": self.match_all,
            "key_name": "message",
            "parser": parser_name,
            "reserve_data": true,
            "preserve_key": true
        }));
    }

    pub(super) fn add_severity(&mut self) {
        let Some(severity) = &self.spec.severity else {
            return;
        };
        if severity.field == "severity" {
            return;
        }
        self.filters.push(json!({
            "name": "modify",
            "match": self.match_all,
            "copy": format!("{} severity", severity.field)
        }));
    }

    pub(super) fn add_processor(&mut self, index: usize, processor: &Processor) {
        let field = format!("processors[{index}].{}", processor.kind());
        let filter = match processor {
            Processor::AddFields(add) => {
                let mut settings = Vec::new();
                for (name, value) in &add.fields {
                    let value_field = format!("{field}.fields.{name}");
                    if value.is_empty() || value.trim() != value {
                        self.problems.add(
                            &value_field,
                            "empty values or values with spaces at either end",
                            "its modify filter reads `set` as a key and a value separated by spaces",
                        );
                    }
                    self.check_no_env_reference(&value_field, value);
                    settings.push(format!("{name} {value}"));
                }
                json!({"name": "modify", "match": self.match_all, "set": settings})
            }
            Processor::DropFields(drop) => {
                json!({"name": "modify", "match": self.match_all, "remove": drop.fields})
            }
            Processor::KeepIf(keep) => {
                let matches_field = format!("{field}.matches");
                let pattern = self
                    .problems
                    .pattern(&matches_field, to_onigmo(&keep.matches));
                self.check_no_env_reference(&matches_field, &pattern);
                json!({
                    "name": "grep",
                    "match": self.match_all,
                    "regex": format!("{} {pattern}", keep.field)
                })
            }
        };
        self.filters.push(filter);
    }
}
