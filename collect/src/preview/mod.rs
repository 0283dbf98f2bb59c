//! What a config makes of sample lines: the same stages, in the same order, with the same
//! semantics the renderers give every agent type — multiline joining, parser, timestamp,
//! severity, processors. It is the reference the rendered configs are held to (README.md lists
//! the few edge cases where an agent type departs from it).

mod delimited;
mod timestamp;

use indexmap::IndexMap;
use logplane_model::collection_config::MESSAGE_FIELD;
use logplane_model::collection_config::{
    CollectionConfigSpec, Parser, PreviewEntry, PreviewOutcome, PreviewRecord, PreviewRequest,
    PreviewResponse, Processor, compile_pattern, parse_time_format,
};
use logplane_model::validation::ValidationErrors;
use regex::Regex;
use serde_json::Value;

pub use delimited::split_delimited;
pub use timestamp::parse_timestamp;

/// A record in the making: consecutive sample lines joined by the multiline rule.
struct JoinedLines {
    first_line: usize,
    lines: Vec<String>,
}

/// Runs the config over the sample lines. The request is checked against its bounds first; the
/// spec is expected to be valid (a pattern that does not compile fails each record at its field).
pub fn preview(
    spec: &CollectionConfigSpec,
    request: &PreviewRequest,
) -> Result<PreviewResponse, ValidationErrors> {
    request.validate()?;
    let joined = match join_lines(spec, &request.sample_lines) {
        Ok(joined) => joined,
        Err(message) => {
            let entry = PreviewEntry {
                first_line: 0,
                line_count: request.sample_lines.len(),
                outcome: PreviewOutcome::Error {
                    field: "multiline.start_pattern".to_string(),
                    message,
                },
            };
            return Ok(PreviewResponse {
                entries: vec![entry],
            });
        }
    };
    let entries = joined
        .into_iter()
        .map(|record| PreviewEntry {
            first_line: record.first_line,
            line_count: record.lines.len(),
            outcome: process(spec, &record.lines.join("\n")),
        })
        .collect();
    Ok(PreviewResponse { entries })
}

/// A line matching the start pattern begins a record; other lines join the open record (or open
/// one when there is none); a record that reached `max_lines` closes.
fn join_lines(spec: &CollectionConfigSpec, lines: &[String]) -> Result<Vec<JoinedLines>, String> {
    let Some(multiline) = &spec.multiline else {
        return Ok(lines
            .iter()
            .enumerate()
            .map(|(index, line)| JoinedLines {
                first_line: index,
                lines: vec![line.clone()],
            })
            .collect());
    };
    let start = compile_pattern(&multiline.start_pattern)?;
    let max_lines = multiline
        .max_lines
        .map(|max| max as usize)
        .unwrap_or(usize::MAX);
    let mut records: Vec<JoinedLines> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let continues_open_record = records
            .last()
            .is_some_and(|open| !start.is_match(line) && open.lines.len() < max_lines);
        match records.last_mut() {
            Some(open) if continues_open_record => open.lines.push(line.clone()),
            _ => records.push(JoinedLines {
                first_line: index,
                lines: vec![line.clone()],
            }),
        }
    }
    Ok(records)
}

fn error(field: &str, message: impl Into<String>) -> PreviewOutcome {
    PreviewOutcome::Error {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The text a value matches against and is read as: strings as they are, numbers and booleans
/// as their JSON text; null, objects and arrays have none.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn process(spec: &CollectionConfigSpec, text: &str) -> PreviewOutcome {
    let mut fields: IndexMap<String, Value> = IndexMap::new();
    fields.insert(MESSAGE_FIELD.to_string(), Value::String(text.to_string()));
    if let Some(parser) = &spec.parser
        && let Err(outcome) = parse(parser, text, &mut fields)
    {
        return outcome;
    }
    let mut timestamp = None;
    if let Some(rule) = &spec.timestamp {
        let Some(value) = fields.get(&rule.field).and_then(scalar_text) else {
            return error(
                "timestamp.field",
                format!("the record has no field {:?}", rule.field),
            );
        };
        let items = match parse_time_format(&rule.format) {
            Ok(items) => items,
            Err(message) => return error("timestamp.format", message),
        };
        match parse_timestamp(&value, &items) {
            Ok(parsed) => timestamp = Some(parsed),
            Err(message) => {
                return error(
                    "timestamp.format",
                    format!("cannot read {value:?}: {message}"),
                );
            }
        }
    }
    let severity = spec
        .severity
        .as_ref()
        .and_then(|rule| fields.get(&rule.field))
        .and_then(scalar_text);
    for (index, processor) in spec.processors.iter().enumerate() {
        match processor {
            Processor::AddFields(add) => {
                for (name, value) in &add.fields {
                    fields.insert(name.clone(), Value::String(value.clone()));
                }
            }
            Processor::DropFields(drop) => {
                for name in &drop.fields {
                    fields.shift_remove(name);
                }
            }
            Processor::KeepIf(keep) => {
                let field = format!("processors[{index}].keep_if.matches");
                let pattern = match compile_pattern(&keep.matches) {
                    Ok(pattern) => pattern,
                    Err(message) => return error(&field, message),
                };
                let kept = fields
                    .get(&keep.field)
                    .and_then(scalar_text)
                    .is_some_and(|value| pattern.is_match(&value));
                if !kept {
                    return PreviewOutcome::Dropped {
                        by: format!("processors[{index}].keep_if"),
                    };
                }
            }
        }
    }
    PreviewOutcome::Record(PreviewRecord {
        timestamp,
        severity,
        fields,
    })
}

/// Adds the parsed fields to the record (after `message`, replacing fields of the same name).
fn parse(
    parser: &Parser,
    text: &str,
    fields: &mut IndexMap<String, Value>,
) -> Result<(), PreviewOutcome> {
    match parser {
        Parser::Regex(regex) => {
            let field = "parser.regex.pattern";
            let pattern: Regex =
                compile_pattern(&regex.pattern).map_err(|message| error(field, message))?;
            let captures = pattern
                .captures(text)
                .ok_or_else(|| error(field, "does not match the record"))?;
            for name in pattern.capture_names().flatten() {
                // A group that took no part in the match adds no field.
                if let Some(value) = captures.name(name) {
                    fields.insert(name.to_string(), Value::String(value.as_str().to_string()));
                }
            }
        }
        Parser::Json(_) => {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| error("parser.json", format!("is not JSON: {e}")))?;
            let Value::Object(members) = parsed else {
                return Err(error("parser.json", "is JSON but not an object"));
            };
            for (name, value) in members {
                fields.insert(name, value);
            }
        }
        Parser::Delimiter(delimiter) => {
            let values = split_delimited(text, delimiter.separator_char(), delimiter.quote_char())
                .map_err(|message| error("parser.delimiter", message))?;
            if values.len() != delimiter.keys.len() {
                return Err(error(
                    "parser.delimiter.keys",
                    format!(
                        "the record has {} values, the parser names {}",
                        values.len(),
                        delimiter.keys.len()
                    ),
                ));
            }
            for (key, value) in delimiter.keys.iter().zip(values) {
                fields.insert(key.clone(), Value::String(value));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
