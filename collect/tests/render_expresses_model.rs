//! Every rendered file parses, and says what the config says: each source, the multiline rule,
//! the parser, the timestamp and severity rules, each processor in order, and the destination.
//! The checks read the parsed document, not the text, so they hold whatever the layout.

mod common;

use logplane_collect::render::regex_dialect::{to_onigmo, to_re2};
use logplane_collect::render::time_layout::{chrono_format, fluent_bit_format, go_layout};
use logplane_collect::render::{ConfigToRender, render_config};
use logplane_model::collection_config::{
    ContainerStream, Parser, Processor, Source, StartAt, SyslogProtocol, parse_time_format,
};
use logplane_model::{AgentType, CollectionConfigSpec};
use serde_json::Value;

fn render(agent_type: AgentType, name: &str, spec: &CollectionConfigSpec) -> Option<Value> {
    let config = ConfigToRender {
        name,
        revision: 3,
        spec,
    };
    let files = render_config(agent_type, &common::context(), config).ok()?;
    assert_eq!(files.len(), 1);
    let file = &files[0];
    Some(match agent_type {
        AgentType::Native => {
            assert_eq!(file.content_type, "application/json");
            assert_eq!(file.name, format!("{name}.json"));
            serde_json::from_str(&file.body).unwrap()
        }
        _ => {
            assert_eq!(file.content_type, "application/yaml");
            assert_eq!(file.name, format!("{name}.yaml"));
            common::parse_yaml(&file.body)
        }
    })
}

/// Vector and the collector read `$$` as one `$`.
fn unescape(text: &str) -> String {
    text.replace("$$", "$")
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().map(|item| text(item).to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn native_files_are_the_model_itself() {
    for fixture in common::fixtures() {
        let document = render(AgentType::Native, fixture.name, &fixture.spec).unwrap();
        assert_eq!(document["name"], fixture.name);
        assert_eq!(document["revision"], 3);
        let spec: CollectionConfigSpec = serde_json::from_value(document["spec"].clone()).unwrap();
        assert_eq!(spec, fixture.spec);
    }
}

#[test]
fn fluent_bit_files_express_the_model() {
    let mut rendered = 0;
    for fixture in common::fixtures() {
        let Some(document) = render(AgentType::FluentBit, fixture.name, &fixture.spec) else {
            continue;
        };
        rendered += 1;
        check_fluent_bit(fixture.name, &fixture.spec, &document);
    }
    assert!(rendered >= 5, "most fixtures render for fluent-bit");
}

fn check_fluent_bit(name: &str, spec: &CollectionConfigSpec, document: &Value) {
    let inputs = document["pipeline"]["inputs"].as_array().unwrap();
    let filters = document["pipeline"]["filters"].as_array().unwrap();
    let parsers = document["parsers"].as_array().cloned().unwrap_or_default();
    let match_all = format!("lp.{name}.*");
    assert_eq!(inputs.len(), spec.sources.len());
    for (index, (source, input)) in spec.sources.iter().zip(inputs).enumerate() {
        assert!(text(&input["tag"]).starts_with(&format!("lp.{name}.{index}")));
        match source {
            Source::File(file) => {
                assert_eq!(input["name"], "tail");
                assert_eq!(
                    text(&input["path"]).split(',').collect::<Vec<_>>(),
                    file.include
                );
                let excluded: Option<Vec<String>> = input["exclude_path"]
                    .as_str()
                    .map(|p| p.split(',').map(str::to_string).collect());
                assert_eq!(excluded.unwrap_or_default(), file.exclude);
                assert_eq!(input["read_from_head"], file.start_at == StartAt::Beginning);
            }
            Source::Kubernetes(kubernetes) => {
                assert_eq!(input["name"], "tail");
                let paths = text(&input["path"]);
                for namespace in &kubernetes.namespaces {
                    assert!(paths.contains(&format!("_{namespace}_")), "{paths}");
                }
                for container in &kubernetes.container_names {
                    assert!(paths.contains(&format!("_{container}-")), "{paths}");
                }
                if kubernetes.stream != ContainerStream::All {
                    let stream = if kubernetes.stream == ContainerStream::Stdout {
                        "stdout"
                    } else {
                        "stderr"
                    };
                    assert!(
                        filters
                            .iter()
                            .any(|f| f["regex"] == format!("stream ^{stream}$"))
                    );
                }
                for key in kubernetes.pod_labels.match_labels.keys() {
                    let accessor = format!("$kubernetes['labels']['{key}']");
                    assert!(
                        filters.iter().any(
                            |f| f["name"] == "grep" && text(&f["regex"]).starts_with(&accessor)
                        )
                    );
                }
            }
            Source::Journald(journald) => {
                assert_eq!(input["name"], "systemd");
                let units: Vec<String> = strings(&input["systemd_filter"])
                    .iter()
                    .map(|f| f.trim_start_matches("_SYSTEMD_UNIT=").to_string())
                    .collect();
                assert_eq!(units, journald.units);
            }
            Source::Syslog(syslog) => {
                assert_eq!(input["name"], "syslog");
                assert_eq!(input["port"], syslog.port);
                let mode = if syslog.protocol == SyslogProtocol::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                assert_eq!(input["mode"], mode);
                assert!(parsers.iter().any(|p| p["name"] == input["parser"]));
            }
        }
    }
    if let Some(multiline) = &spec.multiline {
        let definition = &document["multiline_parsers"][0];
        assert_eq!(definition["flush_timeout"], multiline.flush_timeout_ms);
        let start = to_onigmo(&multiline.start_pattern).unwrap();
        assert_eq!(definition["rules"][0]["regex"], format!("/{start}/"));
        for (index, source) in spec.sources.iter().enumerate() {
            let in_input = inputs[index]["multiline.parser"] == definition["name"];
            let in_filter = filters.iter().any(|f| {
                f["name"] == "multiline"
                    && f["multiline.parser"] == definition["name"]
                    && text(&f["match"]).starts_with(&format!("lp.{name}.{index}"))
            });
            assert!(
                in_input || in_filter,
                "source {index} ({}) is not joined",
                source.kind()
            );
        }
    }
    let parser_filter = filters.iter().position(|f| f["name"] == "parser");
    if let Some(parser) = &spec.parser {
        let filter = &filters[parser_filter.expect("a parser filter")];
        assert_eq!(filter["key_name"], "message");
        assert_eq!(filter["match"], match_all.as_str());
        let definition = parsers
            .iter()
            .find(|p| p["name"] == filter["parser"])
            .unwrap();
        match parser {
            Parser::Regex(regex) => {
                assert_eq!(definition["regex"], to_onigmo(&regex.pattern).unwrap())
            }
            Parser::Json(_) => assert_eq!(definition["format"], "json"),
            Parser::Delimiter(delimiter) => {
                for key in &delimiter.keys {
                    assert!(text(&definition["regex"]).contains(&format!("(?<{key}>")));
                }
            }
        }
        if let Some(timestamp) = &spec.timestamp {
            assert_eq!(definition["time_key"], timestamp.field.as_str());
            let items = parse_time_format(&timestamp.format).unwrap();
            assert_eq!(definition["time_format"], fluent_bit_format(&items));
        }
    }
    if let Some(severity) = &spec.severity {
        assert!(
            filters
                .iter()
                .any(|f| f["copy"] == format!("{} severity", severity.field))
        );
    }
    // The processors' filters, in order, are the last filters.
    let processor_filters = &filters[filters.len() - spec.processors.len()..];
    for (processor, filter) in spec.processors.iter().zip(processor_filters) {
        assert_eq!(filter["match"], match_all.as_str());
        match processor {
            Processor::AddFields(add) => {
                let expected: Vec<String> =
                    add.fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
                assert_eq!(strings(&filter["set"]), expected);
            }
            Processor::DropFields(drop) => assert_eq!(strings(&filter["remove"]), drop.fields),
            Processor::KeepIf(keep) => assert_eq!(
                filter["regex"],
                format!("{} {}", keep.field, to_onigmo(&keep.matches).unwrap())
            ),
        }
    }
    let output = &document["pipeline"]["outputs"][0];
    assert_eq!(output["name"], "http");
    assert_eq!(output["match"], match_all.as_str());
    assert!(text(&output["uri"]).ends_with(&format!("/{}", spec.destination.logstore)));
    assert!(text(&output["header"]).contains("${LOGPLANE_AGENT_TOKEN}"));
}

#[test]
fn vector_files_express_the_model() {
    for fixture in common::fixtures() {
        let document = render(AgentType::Vector, fixture.name, &fixture.spec)
            .unwrap_or_else(|| panic!("{} renders for vector", fixture.name));
        check_vector(fixture.name, &fixture.spec, &document);
    }
}

fn check_vector(name: &str, spec: &CollectionConfigSpec, document: &Value) {
    let sources = document["sources"].as_object().unwrap();
    let empty = serde_json::Map::new();
    let transforms = document["transforms"].as_object().unwrap_or(&empty);
    let sinks = document["sinks"].as_object().unwrap();
    assert_eq!(sources.len(), spec.sources.len());
    for (index, source) in spec.sources.iter().enumerate() {
        let definition = &sources[&format!("lp_{name}_source_{index}")];
        match source {
            Source::File(file) => {
                assert_eq!(definition["type"], "file");
                assert_eq!(strings(&definition["include"]), file.include);
                assert_eq!(strings(&definition["exclude"]), file.exclude);
                let read_from = if file.start_at == StartAt::Beginning {
                    "beginning"
                } else {
                    "end"
                };
                assert_eq!(definition["read_from"], read_from);
            }
            Source::Kubernetes(kubernetes) => {
                assert_eq!(definition["type"], "kubernetes_logs");
                for namespace in &kubernetes.namespaces {
                    assert!(
                        text(&definition["extra_namespace_label_selector"])
                            .contains(namespace.as_str())
                    );
                }
                for (key, value) in &kubernetes.pod_labels.match_labels {
                    assert!(
                        text(&definition["extra_label_selector"])
                            .contains(&format!("{key}={value}"))
                    );
                }
                for container in &kubernetes.container_names {
                    assert!(
                        strings(&definition["include_paths_glob_patterns"])
                            .iter()
                            .any(|g| g.contains(&format!("/{container}/")))
                    );
                }
                if kubernetes.stream != ContainerStream::All {
                    let filter = &transforms[&format!("lp_{name}_stream_{index}")];
                    assert!(text(&filter["condition"]).contains(".stream =="));
                }
            }
            Source::Journald(journald) => {
                assert_eq!(definition["type"], "journald");
                assert_eq!(strings(&definition["include_units"]), journald.units);
            }
            Source::Syslog(syslog) => {
                assert_eq!(definition["type"], "syslog");
                assert!(text(&definition["address"]).ends_with(&format!(":{}", syslog.port)));
                let mode = if syslog.protocol == SyslogProtocol::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                assert_eq!(definition["mode"], mode);
            }
        }
        if let Some(multiline) = &spec.multiline {
            let reduce = &transforms[&format!("lp_{name}_multiline_{index}")];
            assert_eq!(reduce["type"], "reduce");
            assert!(unescape(text(&reduce["starts_when"])).contains(&multiline.start_pattern));
            assert_eq!(reduce["expire_after_ms"], multiline.flush_timeout_ms);
            assert_eq!(reduce["max_events"].as_i64(), multiline.max_lines);
        }
    }
    // Every input names a component, and the sink reads, through the graph, from every source.
    let components: Vec<&String> = sources.keys().chain(transforms.keys()).collect();
    for (id, component) in transforms.iter().chain(sinks.iter()) {
        for input in strings(&component["inputs"]) {
            assert!(
                components.contains(&&input),
                "{id} reads from unknown {input}"
            );
        }
    }
    let sink = &sinks[&format!("lp_{name}_sink")];
    let mut reached = strings(&sink["inputs"]);
    let mut index = 0;
    while index < reached.len() {
        if let Some(transform) = transforms.get(&reached[index]) {
            reached.extend(strings(&transform["inputs"]));
        }
        index += 1;
    }
    for source in sources.keys() {
        assert!(reached.contains(source), "{source} does not reach the sink");
    }
    assert!(text(&sink["uri"]).ends_with(&format!("/{}", spec.destination.logstore)));
    assert_eq!(sink["auth"]["token"], "${LOGPLANE_AGENT_TOKEN}");

    let program = transforms
        .get(&format!("lp_{name}_pipeline"))
        .map(|remap| unescape(text(&remap["source"])))
        .unwrap_or_default();
    match &spec.parser {
        Some(Parser::Regex(regex)) => {
            assert!(program.contains(&format!("parse_regex(.message, r'{}')", regex.pattern)))
        }
        Some(Parser::Json(_)) => assert!(program.contains("parse_json(.message)")),
        Some(Parser::Delimiter(delimiter)) if delimiter.quote.is_some() => {
            assert!(program.contains("parse_csv(.message, delimiter:"));
            for (position, key) in delimiter.keys.iter().enumerate() {
                assert!(program.contains(&format!(".{key} = values[{position}]")));
            }
        }
        Some(Parser::Delimiter(delimiter)) => {
            assert!(program.contains("parse_regex(.message, r'^"));
            for key in &delimiter.keys {
                assert!(program.contains(&format!("(?P<{key}>")));
            }
        }
        None => assert!(!program.contains("parse_")),
    }
    if let Some(timestamp) = &spec.timestamp {
        let format = chrono_format(&parse_time_format(&timestamp.format).unwrap());
        assert!(program.contains(&format!(
            "parse_timestamp(.{}, \"{format}\", timezone: \"UTC\")",
            timestamp.field
        )));
    }
    if let Some(severity) = &spec.severity {
        assert!(program.contains(&format!(".severity = .{}", severity.field)));
    }
    check_vrl_error_handling(&program);
    if let Some(reduce) = transforms.values().find(|t| t["type"] == "reduce") {
        check_vrl_error_handling(text(&reduce["starts_when"]));
    }
    let mut last_position = 0;
    for (index, processor) in spec.processors.iter().enumerate() {
        let marker = format!("# processors[{index}]: {}", processor.kind());
        let position = program
            .find(&marker)
            .unwrap_or_else(|| panic!("{marker} missing"));
        assert!(position >= last_position, "processors run in order");
        last_position = position;
        let section = &program[position..];
        match processor {
            Processor::AddFields(add) => {
                for (key, value) in &add.fields {
                    assert!(section.contains(&format!(".{key} = \"{value}\"")));
                }
            }
            Processor::DropFields(drop) => {
                for key in &drop.fields {
                    assert!(section.contains(&format!("del(.{key})")));
                }
            }
            Processor::KeepIf(keep) => {
                assert!(section.contains(&format!("value = .{}", keep.field)));
                assert!(section.contains(&format!(
                    "if !is_object(parse_regex(value, r'{}') ?? null) {{ abort }}",
                    keep.matches
                )));
            }
        }
    }
}

/// VRL refuses to compile a program that handles the error of an expression it knows cannot fail,
/// or that ignores the error of one that can; which expressions can fail depends on what VRL
/// knows of the sources' types. The renderer only handles errors of calls that fail on some input
/// whatever the types.
fn check_vrl_error_handling(program: &str) {
    const ALWAYS_FALLIBLE: [&str; 4] = [
        "parse_regex(",
        "parse_json(",
        "parse_csv(",
        "parse_timestamp(",
    ];
    for line in program.lines() {
        if line.contains("??") {
            assert!(line.contains("is_object(parse_regex("), "coalesced: {line}");
        }
        if let Some((_, call)) = line.split_once(", err = ") {
            assert!(
                ALWAYS_FALLIBLE
                    .iter()
                    .any(|function| call.starts_with(function)),
                "error captured from a call that may be infallible: {line}"
            );
        }
        for function in ["string(", "to_string(", "string!(", "to_string!("] {
            assert!(!line.contains(function), "type-dependent call: {line}");
        }
    }
}

#[test]
fn opentelemetry_collector_files_express_the_model() {
    let mut rendered = 0;
    for fixture in common::fixtures() {
        let Some(document) = render(AgentType::OtelCollector, fixture.name, &fixture.spec) else {
            continue;
        };
        rendered += 1;
        check_otel(fixture.name, &fixture.spec, &document);
    }
    assert!(rendered >= 5, "most fixtures render for otel-collector");
}

fn check_otel(name: &str, spec: &CollectionConfigSpec, document: &Value) {
    let receivers = document["receivers"].as_object().unwrap();
    assert_eq!(receivers.len(), spec.sources.len());
    let pipeline = &document["service"]["pipelines"][&format!("logs/lp_{name}")];
    let listed: Vec<String> = strings(&pipeline["receivers"]);
    assert_eq!(listed, receivers.keys().cloned().collect::<Vec<_>>());
    let exporter_id = text(&pipeline["exporters"][0]);
    let exporter = &document["exporters"][exporter_id];
    assert!(
        text(&exporter["logs_endpoint"])
            .ends_with(&format!("/{}/otlp/v1/logs", spec.destination.logstore))
    );
    assert_eq!(
        exporter["headers"]["Authorization"],
        "Bearer ${env:LOGPLANE_AGENT_TOKEN}"
    );

    let stages = expected_otel_stages(spec);
    for (index, source) in spec.sources.iter().enumerate() {
        let kind = match source {
            Source::File(_) | Source::Kubernetes(_) => "filelog",
            Source::Journald(_) => "journald",
            Source::Syslog(_) => "syslog",
        };
        let receiver = &receivers[&format!("{kind}/lp_{name}_{index}")];
        match source {
            Source::File(file) => {
                assert_eq!(strings(&receiver["include"]), file.include);
                assert_eq!(strings(&receiver["exclude"]), file.exclude);
                let start_at = if file.start_at == StartAt::Beginning {
                    "beginning"
                } else {
                    "end"
                };
                assert_eq!(receiver["start_at"], start_at);
            }
            Source::Kubernetes(kubernetes) => {
                let include = strings(&receiver["include"]);
                for namespace in &kubernetes.namespaces {
                    assert!(
                        include
                            .iter()
                            .any(|glob| glob.contains(&format!("/{namespace}_")))
                    );
                }
                for container in &kubernetes.container_names {
                    assert!(
                        include
                            .iter()
                            .any(|glob| glob.contains(&format!("/{container}/")))
                    );
                }
                assert_eq!(receiver["operators"][0]["type"], "container");
                if kubernetes.stream != ContainerStream::All {
                    assert!(text(&receiver["operators"][1]["expr"]).contains("log.iostream"));
                }
            }
            Source::Journald(journald) => assert_eq!(strings(&receiver["units"]), journald.units),
            Source::Syslog(syslog) => {
                let transport = if syslog.protocol == SyslogProtocol::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                assert!(
                    text(&receiver[transport]["listen_address"])
                        .ends_with(&format!(":{}", syslog.port))
                );
            }
        }
        let operators = receiver["operators"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let tail: Vec<String> = operators[operators.len() - stages.len()..]
            .iter()
            .map(|operator| text(&operator["type"]).to_string())
            .collect();
        assert_eq!(
            tail, stages,
            "receiver {index} runs the config's stages in order"
        );
        for operator in &operators {
            match text(&operator["type"]) {
                "regex_parser" => {
                    let Some(Parser::Regex(regex)) = &spec.parser else {
                        panic!("unexpected regex_parser")
                    };
                    assert_eq!(
                        unescape(text(&operator["regex"])),
                        to_re2(&regex.pattern).unwrap()
                    );
                }
                "time_parser" => {
                    let timestamp = spec.timestamp.as_ref().unwrap();
                    assert_eq!(
                        operator["layout"],
                        go_layout(&parse_time_format(&timestamp.format).unwrap())
                    );
                    assert_eq!(
                        operator["parse_from"],
                        format!("attributes.{}", timestamp.field)
                    );
                }
                "recombine" => {
                    let multiline = spec.multiline.as_ref().unwrap();
                    let start = to_re2(&multiline.start_pattern)
                        .unwrap()
                        .replace('\\', "\\\\");
                    assert!(unescape(text(&operator["is_first_entry"])).contains(&start));
                    assert_eq!(
                        operator["force_flush_period"],
                        format!("{}ms", multiline.flush_timeout_ms)
                    );
                }
                _ => {}
            }
        }
    }
}

/// The operator types the config's stages become, in order.
fn expected_otel_stages(spec: &CollectionConfigSpec) -> Vec<String> {
    let mut stages = Vec::new();
    if spec.multiline.is_some() {
        stages.push("recombine");
    }
    match &spec.parser {
        Some(Parser::Regex(regex)) => {
            stages.push("regex_parser");
            if regex.pattern.contains("(?P<message>") {
                stages.push("move");
            }
        }
        Some(Parser::Json(_)) => stages.extend(["json_parser", "move"]),
        Some(Parser::Delimiter(delimiter)) => {
            stages.push("csv_parser");
            if delimiter.keys.iter().any(|key| key == "message") {
                stages.push("move");
            }
        }
        None => {}
    }
    if spec.timestamp.is_some() {
        stages.push("time_parser");
    }
    if spec.severity.is_some() {
        stages.push("severity_parser");
    }
    for processor in &spec.processors {
        match processor {
            Processor::AddFields(add) => stages.extend(add.fields.iter().map(|_| "add")),
            Processor::DropFields(drop) => stages.extend(drop.fields.iter().map(|_| "remove")),
            Processor::KeepIf(_) => stages.push("filter"),
        }
    }
    stages.into_iter().map(str::to_string).collect()
}
