//! Fluent Bit (3.x and later) YAML. One file per config with its parsers, multiline parsers and
//! pipeline; records of the config carry tags under `lp.<config>.`, so filters and the output of
//! one config never see another's records. The bundle's main file includes every config file.

use logplane_model::collection_config::{
    ContainerStream, KubernetesSource, Parser, Processor, Source, StartAt, SyslogFormat,
    SyslogProtocol, parse_time_format,
};
use logplane_model::label_selector::LabelOperator;
use logplane_model::{AgentType, BundleFile};
use serde_json::{Map, Value, json};

use super::regex_dialect::{escape_char, to_onigmo};
use super::time_layout::fluent_bit_format;
use super::yaml::to_yaml;
use super::{
    ConfigToRender, Problems, RenderContext, RenderError, TOKEN_ENV_VAR, YAML_CONTENT_TYPE,
    component_prefix,
};

/// The name of the bundle's main file, which includes the config files. Config names contain no
/// dots, so no config file can take this name.
pub const MAIN_FILE_NAME: &str = "fluent-bit.main.yaml";
/// Kubernetes names container log files `<pod>_<namespace>_<container>-<64 hex id>.log`.
const CONTAINER_ID_GLOB_CHARS: usize = 64;

/// Syslog line layouts, written for Onigmo; the config's parser then reads `message`.
const SYSLOG_RFC3164: &str = r"\A<(?<pri>[0-9]{1,3})>(?<time>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) (?<host>[^ ]+) (?<ident>[^ :\[]+)(?:\[(?<pid>[0-9]+)\])?: ?(?<message>.*)\z";
const SYSLOG_RFC5424: &str = r"\A<(?<pri>[0-9]{1,3})>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[^ ]+) (?<msgid>[^ ]+) (?<extradata>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?<message>.*)\z";

struct Document {
    parsers: Vec<Value>,
    multiline_parsers: Vec<Value>,
    inputs: Vec<Value>,
    filters: Vec<Value>,
}

pub fn render(
    context: &RenderContext,
    config: ConfigToRender<'_>,
) -> Result<BundleFile, RenderError> {
    let spec = config.spec;
    let mut problems = Problems::new(AgentType::FluentBit);
    let prefix = component_prefix(config.name);
    let tag_root = format!("lp.{}", config.name);
    let match_all = format!("{tag_root}.*");
    let mut document = Document {
        parsers: Vec::new(),
        multiline_parsers: Vec::new(),
        inputs: Vec::new(),
        filters: Vec::new(),
    };

    let multiline_parser = spec.multiline.as_ref().map(|multiline| {
        if multiline.max_lines.is_some() {
            problems.add(
                "multiline.max_lines",
                "a line limit on multiline records",
                "its multiline parsers end a record only at the next start line or the flush \
                 timeout; set max_lines to null",
            );
        }
        let start = problems.pattern(
            "multiline.start_pattern",
            to_onigmo(&multiline.start_pattern),
        );
        check_no_env_reference(&mut problems, "multiline.start_pattern", &start);
        let name = format!("{prefix}_multiline");
        document.multiline_parsers.push(json!({
            "name": name,
            "type": "regex",
            "flush_timeout": multiline.flush_timeout_ms,
            "rules": [
                {"state": "start_state", "regex": format!("/{start}/"), "next_state": "cont"},
                // Every line that is not a start line continues the record.
                {"state": "cont", "regex": format!("/\\A(?!.*?(?:{start}))/"), "next_state": "cont"}
            ]
        }));
        name
    });

    for (index, source) in spec.sources.iter().enumerate() {
        let field = format!("sources[{index}].{}", source.kind());
        let source_tag = format!("{tag_root}.{index}");
        let source_match = format!("{source_tag}.*");
        match source {
            Source::File(file) => {
                for (list, paths) in [("include", &file.include), ("exclude", &file.exclude)] {
                    for (position, path) in paths.iter().enumerate() {
                        let path_field = format!("{field}.{list}[{position}]");
                        if path.contains("**") {
                            problems.add(
                                &path_field,
                                "recursive globs (**)",
                                "its tail input expands paths with glob(3), where ** means *",
                            );
                        }
                        check_no_env_reference(&mut problems, &path_field, path);
                    }
                }
                let mut input = input("tail", &format!("{source_tag}.*"));
                input.insert("path".into(), json!(file.include.join(",")));
                if !file.exclude.is_empty() {
                    input.insert("exclude_path".into(), json!(file.exclude.join(",")));
                }
                input.insert(
                    "read_from_head".into(),
                    json!(file.start_at == StartAt::Beginning),
                );
                if let Some(name) = &multiline_parser {
                    input.insert("multiline.parser".into(), json!(name));
                }
                document.inputs.push(Value::Object(input));
                document
                    .filters
                    .push(rename(&source_match, "log", "message"));
            }
            Source::Kubernetes(kubernetes) => {
                let mut input = input("tail", &format!("{source_tag}.*"));
                input.insert(
                    "path".into(),
                    json!(container_log_globs(kubernetes).join(",")),
                );
                input.insert("read_from_head".into(), json!(false));
                input.insert("multiline.parser".into(), json!("docker, cri"));
                document.inputs.push(Value::Object(input));
                kubernetes_filters(&mut document, kubernetes, &source_tag, &source_match);
                document
                    .filters
                    .push(rename(&source_match, "log", "message"));
                push_multiline_filter(&mut document, &multiline_parser, &source_match);
            }
            Source::Journald(journald) => {
                let mut input = input("systemd", &source_tag);
                input.insert("read_from_tail".into(), json!(true));
                if !journald.units.is_empty() {
                    let filters: Vec<String> = journald
                        .units
                        .iter()
                        .map(|unit| format!("_SYSTEMD_UNIT={unit}"))
                        .collect();
                    input.insert("systemd_filter".into(), json!(filters));
                    input.insert("systemd_filter_type".into(), json!("or"));
                }
                document.inputs.push(Value::Object(input));
                // Journald and syslog inputs tag every record with exactly the source tag.
                document
                    .filters
                    .push(rename(&source_tag, "MESSAGE", "message"));
                push_multiline_filter(&mut document, &multiline_parser, &source_tag);
            }
            Source::Syslog(syslog) => {
                let parser_name = format!("{prefix}_syslog_{index}");
                let layout = match syslog.format {
                    SyslogFormat::Rfc3164 => SYSLOG_RFC3164,
                    SyslogFormat::Rfc5424 => SYSLOG_RFC5424,
                };
                document
                    .parsers
                    .push(json!({"name": parser_name, "format": "regex", "regex": layout}));
                let mut input = input("syslog", &source_tag);
                let mode = match syslog.protocol {
                    SyslogProtocol::Tcp => "tcp",
                    SyslogProtocol::Udp => "udp",
                };
                input.insert("mode".into(), json!(mode));
                input.insert("listen".into(), json!("0.0.0.0"));
                input.insert("port".into(), json!(syslog.port));
                input.insert("parser".into(), json!(parser_name));
                document.inputs.push(Value::Object(input));
                push_multiline_filter(&mut document, &multiline_parser, &source_tag);
            }
        }
    }

    if let Some(parser) = &spec.parser {
        let parser_name = format!("{prefix}_parser");
        let mut definition = Map::new();
        definition.insert("name".into(), json!(parser_name));
        match parser {
            Parser::Regex(regex) => {
                let pattern = problems.pattern("parser.regex.pattern", to_onigmo(&regex.pattern));
                check_no_env_reference(&mut problems, "parser.regex.pattern", &pattern);
                definition.insert("format".into(), json!("regex"));
                definition.insert("regex".into(), json!(pattern));
            }
            Parser::Json(_) => {
                definition.insert("format".into(), json!("json"));
            }
            Parser::Delimiter(delimiter) => {
                if delimiter.quote.is_some() {
                    problems.add(
                        "parser.delimiter.quote",
                        "quoted delimited values",
                        "it has no delimiter parser; unquoted values are rendered as a regular \
                         expression, so set quote to null",
                    );
                }
                definition.insert("format".into(), json!("regex"));
                definition.insert(
                    "regex".into(),
                    json!(delimiter_regex(delimiter.separator_char(), &delimiter.keys)),
                );
            }
        }
        if let Some(timestamp) = &spec.timestamp
            && let Ok(items) = parse_time_format(&timestamp.format)
        {
            definition.insert("time_key".into(), json!(timestamp.field));
            definition.insert("time_format".into(), json!(fluent_bit_format(&items)));
            // Keep the field: records look the same on every agent type.
            definition.insert("time_keep".into(), json!(true));
        }
        document.parsers.push(Value::Object(definition));
        document.filters.push(json!({
            "name": "parser",
            "match": match_all,
            "key_name": "message",
            "parser": parser_name,
            "reserve_data": true,
            "preserve_key": true
        }));
    }

    if let Some(severity) = &spec.severity
        && severity.field != "severity"
    {
        document.filters.push(json!({
            "name": "modify",
            "match": match_all,
            "copy": format!("{} severity", severity.field)
        }));
    }

    for (index, processor) in spec.processors.iter().enumerate() {
        let field = format!("processors[{index}].{}", processor.kind());
        match processor {
            Processor::AddFields(add) => {
                let mut settings = Vec::new();
                for (name, value) in &add.fields {
                    let value_field = format!("{field}.fields.{name}");
                    if value.is_empty() || value.trim() != value {
                        problems.add(
                            &value_field,
                            "empty values or values with spaces at either end",
                            "its modify filter reads `set` as a key and a value separated by spaces",
                        );
                    }
                    check_no_env_reference(&mut problems, &value_field, value);
                    settings.push(format!("{name} {value}"));
                }
                document
                    .filters
                    .push(json!({"name": "modify", "match": match_all, "set": settings}));
            }
            Processor::DropFields(drop) => {
                document
                    .filters
                    .push(json!({"name": "modify", "match": match_all, "remove": drop.fields}));
            }
            Processor::KeepIf(keep) => {
                let matches_field = format!("{field}.matches");
                let pattern = problems.pattern(&matches_field, to_onigmo(&keep.matches));
                check_no_env_reference(&mut problems, &matches_field, &pattern);
                document.filters.push(json!({
                    "name": "grep",
                    "match": match_all,
                    "regex": format!("{} {pattern}", keep.field)
                }));
            }
        }
    }

    let output = http_output(context, &spec.destination.logstore, &match_all);
    let mut root = Map::new();
    if !document.parsers.is_empty() {
        root.insert("parsers".into(), Value::Array(document.parsers));
    }
    if !document.multiline_parsers.is_empty() {
        root.insert(
            "multiline_parsers".into(),
            Value::Array(document.multiline_parsers),
        );
    }
    root.insert(
        "pipeline".into(),
        json!({"inputs": document.inputs, "filters": document.filters, "outputs": [output]}),
    );
    let body = format!(
        "# Rendered by Logplane for collection config {} revision {}. Do not edit.\n{}",
        config.name,
        config.revision,
        to_yaml(&Value::Object(root))
    );
    problems.finish(BundleFile {
        name: format!("{}.yaml", config.name),
        content_type: YAML_CONTENT_TYPE.to_string(),
        body,
    })
}

/// The bundle's main file: the service section and the config files to include.
pub fn main_file(config_file_names: &[String]) -> BundleFile {
    let document = json!({
        "service": {"flush": 1, "log_level": "info"},
        "includes": config_file_names,
    });
    BundleFile {
        name: MAIN_FILE_NAME.to_string(),
        content_type: YAML_CONTENT_TYPE.to_string(),
        body: format!(
            "# Rendered by Logplane. Do not edit.\n{}",
            to_yaml(&document)
        ),
    }
}

fn input(plugin: &str, tag: &str) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert("name".into(), json!(plugin));
    input.insert("tag".into(), json!(tag));
    input
}

fn rename(match_pattern: &str, from: &str, to: &str) -> Value {
    json!({"name": "modify", "match": match_pattern, "rename": format!("{from} {to}")})
}

fn push_multiline_filter(document: &mut Document, parser: &Option<String>, match_pattern: &str) {
    if let Some(parser) = parser {
        document.filters.push(json!({
            "name": "multiline",
            "match": match_pattern,
            "multiline.key_content": "message",
            "multiline.parser": parser
        }));
    }
}

/// Fluent Bit reads `${NAME}` in any property as an environment variable and has no escape.
fn check_no_env_reference(problems: &mut Problems, field: &str, text: &str) {
    if text.contains("${") {
        problems.add(
            field,
            "the text `${`",
            "it reads `${NAME}` in any setting as an environment variable",
        );
    }
}

/// Globs over `/var/log/containers`, one per (namespace, container) pair; `*` where a list is
/// empty. The container name is followed by `-` and exactly 64 characters of container id, so
/// `app` does not also select `app-sidecar`.
fn container_log_globs(kubernetes: &KubernetesSource) -> Vec<String> {
    let any = vec!["*".to_string()];
    let namespaces = if kubernetes.namespaces.is_empty() {
        &any
    } else {
        &kubernetes.namespaces
    };
    let containers: Vec<String> = if kubernetes.container_names.is_empty() {
        any.clone()
    } else {
        kubernetes
            .container_names
            .iter()
            .map(|name| format!("{name}-{}", "?".repeat(CONTAINER_ID_GLOB_CHARS)))
            .collect()
    };
    let mut globs = Vec::new();
    for namespace in namespaces {
        for container in &containers {
            globs.push(format!("/var/log/containers/*_{namespace}_{container}.log"));
        }
    }
    globs
}

fn kubernetes_filters(
    document: &mut Document,
    kubernetes: &KubernetesSource,
    source_tag: &str,
    source_match: &str,
) {
    if !kubernetes.pod_labels.is_empty() {
        document.filters.push(json!({
            "name": "kubernetes",
            "match": source_match,
            "kube_tag_prefix": format!("{source_tag}.var.log.containers."),
            "merge_log": false,
            "labels": true,
            "annotations": false
        }));
    }
    let label = |key: &str| format!("$kubernetes['labels']['{key}']");
    let any_of = |values: &[String]| {
        let escaped: Vec<String> = values.iter().map(|value| escape_text(value)).collect();
        format!("^(?:{})$", escaped.join("|"))
    };
    // One grep filter per rule: rules of one filter would be combined by its logical_op setting,
    // which older versions lack.
    let mut grep = |kind: &str, rule: String| {
        document
            .filters
            .push(json!({"name": "grep", "match": source_match, kind: rule}));
    };
    for (key, value) in &kubernetes.pod_labels.match_labels {
        grep("regex", format!("{} ^{}$", label(key), escape_text(value)));
    }
    for expression in &kubernetes.pod_labels.match_expressions {
        let key = label(&expression.key);
        match expression.operator {
            LabelOperator::In => grep("regex", format!("{key} {}", any_of(&expression.values))),
            LabelOperator::NotIn => {
                grep("exclude", format!("{key} {}", any_of(&expression.values)))
            }
            LabelOperator::Exists => grep("regex", format!("{key} .*")),
            LabelOperator::DoesNotExist => grep("exclude", format!("{key} .*")),
        }
    }
    match kubernetes.stream {
        ContainerStream::All => {}
        ContainerStream::Stdout => grep("regex", "stream ^stdout$".to_string()),
        ContainerStream::Stderr => grep("regex", "stream ^stderr$".to_string()),
    }
}

fn escape_text(text: &str) -> String {
    text.chars().map(escape_char).collect()
}

/// A delimited line without quoting, as an Onigmo pattern: one group per key.
fn delimiter_regex(separator: char, keys: &[String]) -> String {
    let separator = escape_char(separator);
    let groups: Vec<String> = keys
        .iter()
        .map(|key| format!("(?<{key}>[^{separator}]*)"))
        .collect();
    format!("\\A{}\\z", groups.join(&separator))
}

fn http_output(context: &RenderContext, logstore: &str, match_all: &str) -> Value {
    let url = context.ingest_url(logstore);
    json!({
        "name": "http",
        "match": match_all,
        "host": url.host_str().unwrap_or_default(),
        "port": url.port_or_known_default().unwrap_or(443),
        "uri": url.path(),
        "tls": url.scheme() == "https",
        "format": "json_lines",
        "json_date_key": "timestamp",
        "json_date_format": "iso8601",
        "header": format!("Authorization Bearer ${{{TOKEN_ENV_VAR}}}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_patterns_name_each_key() {
        let keys = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            delimiter_regex(',', &keys),
            r"\A(?<a>[^\,]*)\,(?<b>[^\,]*)\z"
        );
        assert_eq!(
            delimiter_regex('\t', &keys),
            r"\A(?<a>[^\t]*)\t(?<b>[^\t]*)\z"
        );
    }

    #[test]
    fn the_syslog_layouts_read_their_formats() {
        // Checked with Rust's regex after spelling them back: the layouts use no construct whose
        // meaning differs between Onigmo and Rust.
        let to_rust = |layout: &str| layout.replace("(?<", "(?P<");
        let rfc3164 = regex::Regex::new(&to_rust(SYSLOG_RFC3164)).unwrap();
        let line = "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed on /dev/pts/8";
        let captures = rfc3164.captures(line).unwrap();
        assert_eq!(&captures["ident"], "su");
        assert_eq!(&captures["message"], "'su root' failed on /dev/pts/8");
        let rfc5424 = regex::Regex::new(&to_rust(SYSLOG_RFC5424)).unwrap();
        let line =
            r#"<165>1 2003-10-11T22:14:15.003Z host app 123 ID47 [a b="c\]"][d@1 e="f"] hello"#;
        let captures = rfc5424.captures(line).unwrap();
        assert_eq!(&captures["msgid"], "ID47");
        assert_eq!(&captures["message"], "hello");
    }
}
