//! OpenTelemetry Collector (contrib distribution) YAML. One receiver per source — `filelog` for
//! files and container logs, `journald`, `syslog` — each running the config's stages as stanza
//! operators, an `otlphttp` exporter and a `logs/lp_<config>` pipeline. Several config files
//! merge when passed as several `--config` flags, since every key is prefixed with the config.
//!
//! Records map onto the log data model as: `message` is the body, every other field an attribute.

use logplane_model::collection_config::parser::MAX_MULTILINE_LINES;
use logplane_model::collection_config::{
    ContainerStream, KubernetesSource, Parser, Processor, Source, StartAt, SyslogFormat,
    SyslogProtocol, parse_time_format, parser::parsed_fields,
};
use logplane_model::{AgentType, BundleFile, CollectionConfigSpec};
use serde_json::{Map, Value, json};

use super::regex_dialect::to_re2;
use super::time_layout::go_layout;
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
    let mut problems = Problems::new(AgentType::OtelCollector);
    let prefix = component_prefix(config.name);
    let stages = stage_operators(spec, &mut problems);
    let mut receivers = Map::new();

    for (index, source) in spec.sources.iter().enumerate() {
        let field = format!("sources[{index}].{}", source.kind());
        let (kind, mut receiver, mut operators) = match source {
            Source::File(file) => {
                let mut receiver = json!({
                    "include": file.include,
                    "start_at": start_at(file.start_at),
                    "include_file_path": true
                });
                if !file.exclude.is_empty() {
                    receiver["exclude"] = json!(file.exclude);
                }
                ("filelog", receiver, Vec::new())
            }
            Source::Kubernetes(kubernetes) => {
                if !kubernetes.pod_labels.is_empty() {
                    problems.add(
                        format!("{field}.pod_labels"),
                        "pod label selection",
                        "its filelog receiver sees pod log files, which carry no labels; select \
                         pods by namespace and container name instead",
                    );
                }
                let (receiver, operators) = kubernetes_receiver(kubernetes);
                ("filelog", receiver, operators)
            }
            Source::Journald(journald) => {
                let mut receiver = json!({"start_at": "end"});
                if !journald.units.is_empty() {
                    receiver["units"] = json!(journald.units);
                }
                // The body is the journal entry; keep it as an attribute and make its message the
                // body.
                let operators = vec![
                    json!({"type": "move", "from": "body", "to": "attributes.journal"}),
                    json!({"type": "move", "from": "attributes.journal.MESSAGE", "to": "body"}),
                ];
                ("journald", receiver, operators)
            }
            Source::Syslog(syslog) => {
                let listener = json!({"listen_address": format!("0.0.0.0:{}", syslog.port)});
                let protocol = match syslog.format {
                    SyslogFormat::Rfc3164 => "rfc3164",
                    SyslogFormat::Rfc5424 => "rfc5424",
                };
                let mut receiver = json!({"protocol": protocol});
                let transport = match syslog.protocol {
                    SyslogProtocol::Tcp => "tcp",
                    SyslogProtocol::Udp => "udp",
                };
                receiver[transport] = listener;
                let operators = vec![json!({
                    "type": "move",
                    "if": "attributes[\"message\"] != nil",
                    "from": "attributes.message",
                    "to": "body"
                })];
                ("syslog", receiver, operators)
            }
        };
        operators.extend(stages.iter().cloned());
        if !operators.is_empty() {
            receiver["operators"] = Value::Array(operators);
        }
        receivers.insert(format!("{kind}/{prefix}_{index}"), receiver);
    }

    let exporter_id = format!("otlphttp/{prefix}");
    let pipeline = json!({
        "receivers": receivers.keys().cloned().collect::<Vec<_>>(),
        "exporters": [exporter_id]
    });
    let mut document = json!({
        "receivers": receivers,
        "exporters": {
            exporter_id.clone(): {
                "logs_endpoint": context.otlp_logs_url(&spec.destination.logstore).as_str(),
                "headers": {"Authorization": ""}
            }
        },
        "service": {"pipelines": {format!("logs/{prefix}"): pipeline}}
    });
    escape_dollars(&mut document);
    document["exporters"][&exporter_id]["headers"]["Authorization"] =
        json!(format!("Bearer ${{env:{TOKEN_ENV_VAR}}}"));
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

fn start_at(start_at: StartAt) -> &'static str {
    match start_at {
        StartAt::Beginning => "beginning",
        StartAt::End => "end",
    }
}

/// Container logs through the pod log directory layout
/// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`, read by the `container`
/// operator (CRI-O, containerd and Docker formats), which sets `log.iostream`.
fn kubernetes_receiver(kubernetes: &KubernetesSource) -> (Value, Vec<Value>) {
    let any = vec!["*".to_string()];
    let namespaces = if kubernetes.namespaces.is_empty() {
        &any
    } else {
        &kubernetes.namespaces
    };
    let containers = if kubernetes.container_names.is_empty() {
        &any
    } else {
        &kubernetes.container_names
    };
    let mut include = Vec::new();
    for namespace in namespaces {
        for container in containers {
            include.push(format!("/var/log/pods/{namespace}_*/{container}/*.log"));
        }
    }
    let receiver = json!({"include": include, "start_at": "end", "include_file_path": true});
    let mut operators = vec![json!({"type": "container"})];
    let keep = match kubernetes.stream {
        ContainerStream::All => None,
        ContainerStream::Stdout => Some("stdout"),
        ContainerStream::Stderr => Some("stderr"),
    };
    if let Some(stream) = keep {
        operators.push(json!({
            "type": "filter",
            "expr": format!("attributes[\"log.iostream\"] != \"{stream}\"")
        }));
    }
    (receiver, operators)
}

/// A record field as a stanza field path: `message` is the body.
fn field_path(field: &str) -> String {
    if field == "message" {
        "body".to_string()
    } else {
        format!("attributes.{field}")
    }
}

/// A record field in an expr expression.
fn field_expression(field: &str) -> String {
    if field == "message" {
        "body".to_string()
    } else {
        format!("attributes[\"{field}\"]")
    }
}

/// An expr string literal.
fn expr_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The operators for the multiline rule, parser, timestamp, severity and processors, shared by
/// every receiver of the config.
fn stage_operators(spec: &CollectionConfigSpec, problems: &mut Problems) -> Vec<Value> {
    let mut operators = Vec::new();
    if let Some(multiline) = &spec.multiline {
        let start = problems.pattern("multiline.start_pattern", to_re2(&multiline.start_pattern));
        operators.push(json!({
            "type": "recombine",
            "combine_field": "body",
            "combine_with": "\n",
            "is_first_entry": format!("body matches {}", expr_string(&start)),
            "source_identifier": "attributes[\"log.file.path\"]",
            "force_flush_period": format!("{}ms", multiline.flush_timeout_ms),
            // The collector bounds every batch; "no limit" becomes the model's largest limit.
            "max_batch_size": multiline.max_lines.unwrap_or(MAX_MULTILINE_LINES)
        }));
    }
    if let Some(parser) = &spec.parser {
        let mut operator = match parser {
            Parser::Regex(regex) => {
                let pattern = problems.pattern("parser.regex.pattern", to_re2(&regex.pattern));
                json!({"type": "regex_parser", "regex": pattern})
            }
            Parser::Json(_) => json!({"type": "json_parser"}),
            Parser::Delimiter(delimiter) => {
                let mut operator = json!({
                    "type": "csv_parser",
                    "header": delimiter.keys.join(&delimiter.separator),
                    "delimiter": delimiter.separator
                });
                match delimiter.quote_char() {
                    None => operator["ignore_quotes"] = json!(true),
                    Some('"') => {}
                    Some(_) => problems.add(
                        "parser.delimiter.quote",
                        "a quote character other than '\"'",
                        "its csv_parser always quotes with '\"'",
                    ),
                }
                operator
            }
        };
        operator["parse_from"] = json!("body");
        operator["parse_to"] = json!("attributes");
        operator["on_error"] = json!("send_quiet");
        operators.push(operator);
        let may_produce_message = parsed_fields(parser)
            .is_none_or(|fields| fields.iter().any(|field| field == "message"));
        if may_produce_message {
            operators.push(json!({
                "type": "move",
                "if": "attributes[\"message\"] != nil",
                "from": "attributes.message",
                "to": "body"
            }));
        }
    }
    if let Some(timestamp) = &spec.timestamp
        && let Ok(items) = parse_time_format(&timestamp.format)
    {
        operators.push(json!({
            "type": "time_parser",
            "parse_from": field_path(&timestamp.field),
            "layout_type": "gotime",
            "layout": go_layout(&items),
            "location": "UTC",
            "on_error": "send_quiet"
        }));
    }
    if let Some(severity) = &spec.severity {
        operators.push(json!({
            "type": "severity_parser",
            "parse_from": field_path(&severity.field),
            "on_error": "send_quiet"
        }));
    }
    for (index, processor) in spec.processors.iter().enumerate() {
        match processor {
            Processor::AddFields(add) => {
                for (name, value) in &add.fields {
                    operators
                        .push(json!({"type": "add", "field": field_path(name), "value": value}));
                }
            }
            Processor::DropFields(drop) => {
                for name in &drop.fields {
                    operators.push(json!({
                        "type": "remove",
                        "if": format!("{} != nil", field_expression(name)),
                        "field": field_path(name)
                    }));
                }
            }
            Processor::KeepIf(keep) => {
                let field = format!("processors[{index}].keep_if.matches");
                let pattern = problems.pattern(&field, to_re2(&keep.matches));
                let value = field_expression(&keep.field);
                // The filter operator drops the records its expression holds for.
                operators.push(json!({
                    "type": "filter",
                    "expr": format!(
                        "{value} == nil or not (string({value}) matches {})",
                        expr_string(&pattern)
                    )
                }));
            }
        }
    }
    operators
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_onto_body_and_attributes() {
        assert_eq!(field_path("message"), "body");
        assert_eq!(field_path("status"), "attributes.status");
        assert_eq!(field_expression("status"), "attributes[\"status\"]");
        assert_eq!(expr_string(r#"a"b\d"#), r#""a\"b\\d""#);
    }
}
