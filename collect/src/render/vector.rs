//! Vector (0.40 and later) YAML. Sources per config source, an optional `reduce` per source for
//! multiline records, a `filter` per Kubernetes source choosing a stream, one `remap` running the
//! parser, timestamp, severity and processors as a VRL program, and an `http` sink. Vector runs
//! Rust's `regex`, so patterns reach it as written.

use logplane_model::collection_config::{
    ContainerStream, KubernetesSource, Parser, Processor, Source, StartAt, SyslogProtocol,
    parse_time_format,
};
use logplane_model::label_selector::LabelOperator;
use logplane_model::{AgentType, BundleFile};
use serde_json::{Map, Value, json};

use super::regex_dialect::delimiter_pattern;
use super::time_layout::chrono_format;
use super::yaml::{escape_dollars, to_yaml};
use super::{
    ConfigToRender, Problems, RenderContext, RenderError, TOKEN_ENV_VAR, YAML_CONTENT_TYPE,
    component_prefix,
};

pub fn render(
    context: &RenderContext,
    config: ConfigToRender<'_>,
) -> Result<BundleFile, RenderError> {
    let spec = config.spec;
    let mut problems = Problems::new(AgentType::Vector);
    let prefix = component_prefix(config.name);
    let mut sources = Map::new();
    let mut transforms = Map::new();
    // The last component of each source's chain, which the pipeline reads from.
    let mut chain_ends = Vec::new();

    for (index, source) in spec.sources.iter().enumerate() {
        let source_id = format!("{prefix}_source_{index}");
        let (definition, group_by) = match source {
            Source::File(file) => {
                let read_from = match file.start_at {
                    StartAt::Beginning => "beginning",
                    StartAt::End => "end",
                };
                let mut definition =
                    json!({"type": "file", "include": file.include, "read_from": read_from});
                if !file.exclude.is_empty() {
                    definition["exclude"] = json!(file.exclude);
                }
                (definition, json!(["host", "file"]))
            }
            Source::Kubernetes(kubernetes) => (kubernetes_source(kubernetes), json!(["file"])),
            Source::Journald(journald) => {
                let mut definition = json!({"type": "journald"});
                if !journald.units.is_empty() {
                    definition["include_units"] = json!(journald.units);
                }
                (definition, json!(["host", "_SYSTEMD_UNIT"]))
            }
            Source::Syslog(syslog) => {
                // Vector's syslog source reads RFC 3164 and RFC 5424 alike, so `format` needs no
                // setting.
                let mode = match syslog.protocol {
                    SyslogProtocol::Tcp => "tcp",
                    SyslogProtocol::Udp => "udp",
                };
                let address = format!("0.0.0.0:{}", syslog.port);
                (
                    json!({"type": "syslog", "mode": mode, "address": address}),
                    json!(["host", "appname"]),
                )
            }
        };
        sources.insert(source_id.clone(), definition);
        let mut end = source_id;
        if let Source::Kubernetes(kubernetes) = source
            && kubernetes.stream != ContainerStream::All
        {
            let stream = match kubernetes.stream {
                ContainerStream::Stdout => "stdout",
                _ => "stderr",
            };
            let filter_id = format!("{prefix}_stream_{index}");
            transforms.insert(
                filter_id.clone(),
                json!({"type": "filter", "inputs": [end], "condition": format!(".stream == \"{stream}\"")}),
            );
            end = filter_id;
        }
        if let Some(multiline) = &spec.multiline {
            let reduce_id = format!("{prefix}_multiline_{index}");
            let mut reduce = json!({
                "type": "reduce",
                "inputs": [end],
                "group_by": group_by,
                "starts_when": vrl_matches(".message", &multiline.start_pattern),
                "expire_after_ms": multiline.flush_timeout_ms,
                "merge_strategies": {"message": "concat_newline"}
            });
            if let Some(max_lines) = multiline.max_lines {
                reduce["max_events"] = json!(max_lines);
            }
            transforms.insert(reduce_id.clone(), reduce);
            end = reduce_id;
        }
        chain_ends.push(end);
    }

    let program = vrl_program(spec, &mut problems);
    let sink_inputs = if program.is_empty() {
        chain_ends
    } else {
        let remap_id = format!("{prefix}_pipeline");
        transforms.insert(
            remap_id.clone(),
            json!({
                "type": "remap",
                "inputs": chain_ends,
                "drop_on_abort": true,
                "reroute_dropped": false,
                "source": program
            }),
        );
        vec![remap_id]
    };

    let mut root = Map::new();
    root.insert("sources".into(), Value::Object(sources));
    if !transforms.is_empty() {
        root.insert("transforms".into(), Value::Object(transforms));
    }
    let sink = json!({
        "type": "http",
        "inputs": sink_inputs,
        "uri": context.ingest_url(&spec.destination.logstore).as_str(),
        "method": "post",
        "encoding": {"codec": "json"},
        "framing": {"method": "newline_delimited"},
        "auth": {"strategy": "bearer", "token": ""}
    });
    root.insert("sinks".into(), json!({ format!("{prefix}_sink"): sink }));
    let mut document = Value::Object(root);
    escape_dollars(&mut document);
    document["sinks"][format!("{prefix}_sink")]["auth"]["token"] =
        json!(format!("${{{TOKEN_ENV_VAR}}}"));
    let body = format!(
        "# Rendered by Logplane for collection config {} revision {}. Do not edit.\n{}",
        config.name,
        config.revision,
        to_yaml(&document)
    );
    problems.finish(BundleFile {
        name: format!("{}.yaml", config.name),
        content_type: YAML_CONTENT_TYPE.to_string(),
        body,
    })
}

/// Namespaces through the automatic `kubernetes.io/metadata.name` namespace label, pods through
/// a label selector in Kubernetes' own syntax, containers through the pod log directory layout
/// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/`.
fn kubernetes_source(kubernetes: &KubernetesSource) -> Value {
    let mut definition = json!({"type": "kubernetes_logs"});
    if !kubernetes.namespaces.is_empty() {
        definition["extra_namespace_label_selector"] = json!(format!(
            "kubernetes.io/metadata.name in ({})",
            kubernetes.namespaces.join(",")
        ));
    }
    if !kubernetes.pod_labels.is_empty() {
        let mut requirements: Vec<String> = kubernetes
            .pod_labels
            .match_labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        for expression in &kubernetes.pod_labels.match_expressions {
            let key = &expression.key;
            let values = expression.values.join(",");
            requirements.push(match expression.operator {
                LabelOperator::In => format!("{key} in ({values})"),
                LabelOperator::NotIn => format!("{key} notin ({values})"),
                LabelOperator::Exists => key.clone(),
                LabelOperator::DoesNotExist => format!("!{key}"),
            });
        }
        definition["extra_label_selector"] = json!(requirements.join(","));
    }
    if !kubernetes.container_names.is_empty() {
        let globs: Vec<String> = kubernetes
            .container_names
            .iter()
            .map(|container| format!("/var/log/pods/*/{container}/*.log"))
            .collect();
        definition["include_paths_glob_patterns"] = json!(globs);
    }
    definition
}

/// A VRL regex literal. Inside `r'…'` only the quote needs escaping.
fn vrl_regex(pattern: &str) -> String {
    format!("r'{}'", pattern.replace('\'', "\\'"))
}

/// A VRL string literal.
fn vrl_string(text: &str) -> String {
    let mut literal = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\t' => literal.push_str("\\t"),
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

/// A VRL condition: the value is a string containing a match of the pattern.
///
/// VRL refuses programs that handle errors of expressions it knows cannot fail (`??` after an
/// infallible call, E651) and programs that ignore errors of fallible ones, and whether `.message`
/// is known to be a string depends on the sources' schemas. `parse_regex` fails whenever the
/// pattern does not match, whatever the types, so handling its error is always right.
fn vrl_matches(path: &str, pattern: &str) -> String {
    format!(
        "is_object(parse_regex({path}, {}) ?? null)",
        vrl_regex(pattern)
    )
}

/// The parser, timestamp, severity and processors as one VRL program; empty when there is
/// nothing to do. A record the parser cannot read passes unparsed, as on every agent type. Every
/// call whose error is handled fails on some input whatever the types (see [`vrl_matches`]).
fn vrl_program(spec: &logplane_model::CollectionConfigSpec, problems: &mut Problems) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(parser) = &spec.parser {
        lines.push(format!("# parser: {}", parser.kind()));
        vrl_parser(parser, problems, &mut lines);
    }
    if let Some(timestamp) = &spec.timestamp
        && let Ok(items) = parse_time_format(&timestamp.format)
    {
        lines.push("# timestamp".to_string());
        lines.push(format!(
            "parsed_time, err = parse_timestamp(.{}, {}, timezone: \"UTC\")",
            timestamp.field,
            vrl_string(&chrono_format(&items))
        ));
        lines.push("if err == null { .timestamp = parsed_time }".to_string());
    }
    if let Some(severity) = &spec.severity {
        lines.push("# severity".to_string());
        lines.push(format!(
            "if exists(.{0}) {{ .severity = .{0} }}",
            severity.field
        ));
    }
    for (index, processor) in spec.processors.iter().enumerate() {
        lines.push(format!("# processors[{index}]: {}", processor.kind()));
        match processor {
            Processor::AddFields(add) => {
                for (name, value) in &add.fields {
                    lines.push(format!(".{name} = {}", vrl_string(value)));
                }
            }
            Processor::DropFields(drop) => {
                for name in &drop.fields {
                    lines.push(format!("del(.{name})"));
                }
            }
            Processor::KeepIf(keep) => {
                // Numbers and booleans match as their JSON text; null, objects and arrays never.
                lines.push(format!("value = .{}", keep.field));
                lines.push(
                    "if is_integer(value) || is_float(value) || is_boolean(value) { value = encode_json(value) }"
                        .to_string(),
                );
                lines.push(format!(
                    "if !{} {{ abort }}",
                    vrl_matches("value", &keep.matches)
                ));
            }
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    let mut program = lines.join("\n");
    program.push('\n');
    program
}

fn vrl_parser(parser: &Parser, problems: &mut Problems, lines: &mut Vec<String>) {
    match parser {
        Parser::Regex(regex) => {
            lines.push(format!(
                "parsed, err = parse_regex(.message, {})",
                vrl_regex(&regex.pattern)
            ));
            lines.push("if err == null { . = merge(., parsed) }".to_string());
        }
        Parser::Json(_) => {
            lines.push("parsed, err = parse_json(.message)".to_string());
            lines.push(
                "if err == null && is_object(parsed) { . = merge(., object!(parsed)) }".to_string(),
            );
        }
        Parser::Delimiter(delimiter) => match delimiter.quote_char() {
            // Unquoted values: a pattern with one group per key says the same as splitting and
            // counting, in one call.
            None => {
                let pattern = delimiter_pattern(
                    delimiter.separator_char(),
                    &delimiter.keys,
                    "(?P<",
                    ("^", "$"),
                );
                lines.push(format!(
                    "parsed, err = parse_regex(.message, {})",
                    vrl_regex(&pattern)
                ));
                lines.push("if err == null { . = merge(., parsed) }".to_string());
            }
            Some(quote) => {
                if quote != '"' {
                    problems.add(
                        "parser.delimiter.quote",
                        "a quote character other than '\"'",
                        "its parse_csv function always quotes with '\"'",
                    );
                }
                lines.push(format!(
                    "values, err = parse_csv(.message, delimiter: {})",
                    vrl_string(&delimiter.separator)
                ));
                lines.push(format!(
                    "if err == null && length(values) == {} {{",
                    delimiter.keys.len()
                ));
                for (position, key) in delimiter.keys.iter().enumerate() {
                    lines.push(format!("  .{key} = values[{position}]"));
                }
                lines.push("}".to_string());
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_vrl_would_read() {
        assert_eq!(vrl_regex(r"^it's (?P<a>\d+)$"), r"r'^it\'s (?P<a>\d+)$'");
        assert_eq!(vrl_string("a\"b\\c\t{d}"), r#""a\"b\\c\t{d}""#);
        // Rust's regex accepts the escaped quote as a plain quote, so the pattern means the same.
        let escaped = regex::Regex::new(r"it\'s").unwrap();
        assert!(escaped.is_match("it's"));
    }
}
