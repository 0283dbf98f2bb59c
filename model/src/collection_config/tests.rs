use serde_json::json;

use super::*;

fn spec(body: serde_json::Value) -> CollectionConfigSpec {
    serde_json::from_value(body).expect("the body should deserialize")
}

fn error_fields(spec: &CollectionConfigSpec) -> Vec<String> {
    spec.validate()
        .err()
        .map(|e| e.errors.into_iter().map(|e| e.field).collect())
        .unwrap_or_default()
}

#[test]
fn the_documented_example_reads_and_validates() {
    let config = spec(json!({
        "sources": [{"file": {"include": ["/var/log/nginx/*.log"]}}],
        "parser": {"regex": {"pattern": "^(?P<ip>\\S+) (?P<rest>.*)$"}},
        "processors": [{"drop_fields": {"fields": ["x"]}}],
        "destination": {"logstore": "nginx"}
    }));
    assert_eq!(config.validate(), Ok(()));
    assert!(matches!(&config.sources[0], Source::File(file) if file.start_at == StartAt::End));
}

#[test]
fn defaults_are_written_out_in_full() {
    let config = spec(json!({
        "sources": [
            {"file": {"include": ["/var/log/app.log"]}},
            {"kubernetes": {}},
            {"journald": {}},
            {"syslog": {}}
        ],
        "multiline": {"start_pattern": "^\\d"},
        "parser": {"delimiter": {"keys": ["a", "b"]}},
        "destination": {"logstore": "app"}
    }));
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        json!({
            "sources": [
                {"file": {"include": ["/var/log/app.log"], "exclude": [], "start_at": "end"}},
                {"kubernetes": {
                    "namespaces": [],
                    "pod_labels": {"match_labels": {}, "match_expressions": []},
                    "container_names": [],
                    "stream": "all"
                }},
                {"journald": {"units": []}},
                {"syslog": {"protocol": "udp", "port": 514, "format": "rfc3164"}}
            ],
            "multiline": {"start_pattern": "^\\d", "max_lines": null, "flush_timeout_ms": 1000},
            "parser": {"delimiter": {"separator": ",", "quote": "\"", "keys": ["a", "b"]}},
            "timestamp": null,
            "severity": null,
            "processors": [],
            "destination": {"logstore": "app"}
        })
    );
}

#[test]
fn what_is_written_is_echoed_exactly() {
    let body = json!({
        "sources": [{"syslog": {"protocol": "tcp", "port": 6514, "format": "rfc5424"}}],
        "multiline": null,
        "parser": {"json": {}},
        "timestamp": {"field": "ts", "format": "%Y-%m-%dT%H:%M:%S.%L%:z"},
        "severity": {"field": "level"},
        "processors": [
            {"add_fields": {"fields": {"zeta": "1", "alpha": "2"}}},
            {"keep_if": {"field": "level", "matches": "^(warn|error)$"}},
            {"drop_fields": {"fields": ["b", "a"]}}
        ],
        "destination": {"logstore": "syslog"}
    });
    let config = spec(body.clone());
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(serde_json::to_value(&config).unwrap(), body);
}

#[test]
fn a_quote_of_null_means_values_are_never_quoted() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"delimiter": {"separator": "\t", "quote": null, "keys": ["a"]}},
        "destination": {"logstore": "tsv"}
    }));
    let Some(Parser::Delimiter(delimiter)) = &config.parser else {
        panic!("expected a delimiter parser");
    };
    assert_eq!(delimiter.quote_char(), None);
    assert_eq!(delimiter.separator_char(), '\t');
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn each_kind_is_an_object_with_exactly_one_key() {
    let two_keys = json!({
        "sources": [{"file": {"include": ["/a"]}, "journald": {}}],
        "destination": {"logstore": "abc"}
    });
    assert!(serde_json::from_value::<CollectionConfigSpec>(two_keys).is_err());
    let bare_string = json!({
        "sources": [{"journald": {}}],
        "parser": "json",
        "destination": {"logstore": "abc"}
    });
    assert!(serde_json::from_value::<CollectionConfigSpec>(bare_string).is_err());
    let unknown_kind = json!({
        "sources": [{"tcp": {}}],
        "destination": {"logstore": "abc"}
    });
    assert!(serde_json::from_value::<CollectionConfigSpec>(unknown_kind).is_err());
}

#[test]
fn unknown_fields_are_rejected_at_every_level() {
    for body in [
        json!({"sources": [{"journald": {}}], "destination": {"logstore": "abc"}, "extra": 1}),
        json!({"sources": [{"file": {"include": ["/a"], "paths": []}}], "destination": {"logstore": "abc"}}),
        json!({"sources": [{"journald": {}}], "parser": {"json": {"strict": true}}, "destination": {"logstore": "abc"}}),
        json!({"sources": [{"journald": {}}], "processors": [{"keep_if": {"field": "a", "matches": "x", "negate": true}}], "destination": {"logstore": "abc"}}),
        json!({"sources": [{"journald": {}}], "destination": {"logstore": "abc", "project": "p"}}),
        json!({"sources": [{"kubernetes": {"pod_labels": {"matchLabels": {}}}}], "destination": {"logstore": "abc"}}),
    ] {
        assert!(
            serde_json::from_value::<CollectionConfigSpec>(body.clone()).is_err(),
            "{body} should be rejected"
        );
    }
}

#[test]
fn bad_fields_are_named_by_their_json_path() {
    let config = spec(json!({
        "sources": [
            {"file": {"include": ["/var/log/a.log", "relative.log", "/var/log/x,y.log"], "exclude": ["/ok"]}},
            {"kubernetes": {"namespaces": ["Kube_System"], "container_names": ["ok"],
                            "pod_labels": {"match_labels": {"app": "not ok"}}}},
            {"journald": {"units": ["bad unit"]}},
            {"syslog": {"port": 70000}}
        ],
        "multiline": {"start_pattern": "(", "max_lines": 1, "flush_timeout_ms": 10},
        "parser": {"regex": {"pattern": "^(?P<ip>\\S+"}},
        "timestamp": {"field": "time", "format": "%s"},
        "severity": {"field": "level"},
        "processors": [
            {"add_fields": {"fields": {"9bad": "x"}}},
            {"drop_fields": {"fields": []}},
            {"keep_if": {"field": "status", "matches": "[a-"}}
        ],
        "destination": {"logstore": "NGINX"}
    }));
    assert_eq!(
        error_fields(&config),
        [
            "sources[0].file.include[1]",
            "sources[0].file.include[2]",
            "sources[1].kubernetes.namespaces[0]",
            "sources[1].kubernetes.pod_labels.match_labels.app",
            "sources[2].journald.units[0]",
            "sources[3].syslog.port",
            "multiline.start_pattern",
            "multiline.max_lines",
            "multiline.flush_timeout_ms",
            "parser.regex.pattern",
            "timestamp.field",
            "timestamp.format",
            "severity.field",
            "processors[0].add_fields.fields.9bad",
            "processors[1].drop_fields.fields",
            "processors[2].keep_if.matches",
            "destination.logstore",
        ]
    );
}

#[test]
fn at_least_one_source_and_bounded_lists() {
    let none = spec(json!({"sources": [], "destination": {"logstore": "abc"}}));
    assert_eq!(error_fields(&none), ["sources"]);
    let too_many = spec(json!({
        "sources": vec![json!({"journald": {}}); MAX_SOURCES + 1],
        "processors": vec![json!({"drop_fields": {"fields": ["a"]}}); processor::MAX_PROCESSORS + 1],
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(error_fields(&too_many), ["sources", "processors"]);
    let many_paths = spec(json!({
        "sources": [{"file": {"include": vec!["/a"; source::MAX_FILE_PATTERNS + 1]}}],
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(error_fields(&many_paths), ["sources[0].file.include"]);
    let no_include = spec(json!({
        "sources": [{"file": {"include": []}}],
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(error_fields(&no_include), ["sources[0].file.include"]);
}

#[test]
fn regex_parsers_need_named_groups_that_are_field_names() {
    for (pattern, expected) in [
        ("^\\S+$", "at least one named group"),
        ("^(?P<a.b>\\S+)$", "group name"),
    ] {
        let config = spec(json!({
            "sources": [{"journald": {}}],
            "parser": {"regex": {"pattern": pattern}},
            "destination": {"logstore": "abc"}
        }));
        let errors = config.validate().unwrap_err().errors;
        assert_eq!(errors[0].field, "parser.regex.pattern");
        assert!(
            errors[0].message.contains(expected),
            "{}",
            errors[0].message
        );
    }
}

#[test]
fn timestamp_and_severity_must_name_parsed_fields() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"delimiter": {"keys": ["time", "msg"]}},
        "timestamp": {"field": "time", "format": "%Y-%m-%d %H:%M:%S"},
        "severity": {"field": "level"},
        "destination": {"logstore": "abc"}
    }));
    let errors = config.validate().unwrap_err().errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "severity.field");
    assert!(errors[0].message.contains("time, msg"));
    let without_parser = spec(json!({
        "sources": [{"journald": {}}],
        "severity": {"field": "level"},
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(error_fields(&without_parser), ["severity.field"]);
    let with_json = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"json": {}},
        "severity": {"field": "anything"},
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(with_json.validate(), Ok(()));
}

#[test]
fn delimiter_rules() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"delimiter": {"separator": "ab", "quote": ",", "keys": ["a", "a", "1"]}},
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(
        error_fields(&config),
        [
            "parser.delimiter.separator",
            "parser.delimiter.keys[1]",
            "parser.delimiter.keys[2]"
        ]
    );
    let same = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"delimiter": {"separator": "|", "quote": "|", "keys": ["a"]}},
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(error_fields(&same), ["parser.delimiter.quote"]);
    let letter = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"delimiter": {"separator": "x", "quote": null, "keys": ["a"]}},
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(error_fields(&letter), ["parser.delimiter.separator"]);
}

#[test]
fn added_values_are_single_lines() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "processors": [{"add_fields": {"fields": {"env": "prod", "note": "a\nb"}}}],
        "destination": {"logstore": "abc"}
    }));
    assert_eq!(
        error_fields(&config),
        ["processors[0].add_fields.fields.note"]
    );
}

#[test]
fn preview_requests_are_bounded() {
    let ok = PreviewRequest {
        sample_lines: vec!["a".into(), String::new()],
    };
    assert_eq!(ok.validate(), Ok(()));
    let empty = PreviewRequest {
        sample_lines: vec![],
    };
    assert_eq!(
        empty.validate().unwrap_err().errors[0].field,
        "sample_lines"
    );
    let bad_lines = PreviewRequest {
        sample_lines: vec![
            "ok".into(),
            "x".repeat(preview::MAX_PREVIEW_LINE_CHARS + 1),
            "two\nlines".into(),
        ],
    };
    let fields: Vec<_> = bad_lines
        .validate()
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["sample_lines[1]", "sample_lines[2]"]);
}

#[test]
fn the_response_shows_the_spec_fields_beside_the_revision() {
    let config_spec = spec(json!({
        "sources": [{"journald": {}}],
        "destination": {"logstore": "abc"}
    }));
    let meta = crate::meta::ResourceMeta {
        name: "journal".into(),
        created_at: Timestamp::from_unix_micros(0),
        updated_at: Timestamp::from_unix_micros(0),
        etag: "\"1\"".into(),
    };
    let config = CollectionConfig::from_parts(meta, 3, "ab".repeat(32), config_spec.clone());
    assert_eq!(config.spec(), config_spec);
    let shown = serde_json::to_value(&config).unwrap();
    assert_eq!(shown["revision"], 3);
    assert_eq!(shown["sources"], json!([{"journald": {"units": []}}]));
}

#[test]
fn the_schema_states_the_bounds() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(CollectionConfigSpec::schema()).unwrap();
    let text = schema.to_string();
    assert_eq!(schema["properties"]["sources"]["maxItems"], 16);
    assert_eq!(schema["properties"]["sources"]["minItems"], 1);
    assert_eq!(schema["properties"]["processors"]["maxItems"], 32);
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["sources", "destination"]);
    assert!(text.contains("\"$ref\":\"#/components/schemas/Source\""));
    let value = |schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
        serde_json::to_value(schema).unwrap()
    };
    assert_eq!(
        value(RegexParser::schema())["properties"]["pattern"]["maxLength"],
        4096
    );
    assert_eq!(
        value(TimestampRule::schema())["properties"]["field"]["maxLength"],
        64
    );
    assert_eq!(
        value(Destination::schema())["properties"]["logstore"]["maxLength"],
        63
    );
    assert_eq!(
        value(SyslogSource::schema())["properties"]["port"]["maximum"],
        65535
    );
    let keep_if = value(KeepIf::schema());
    assert_eq!(
        keep_if["properties"]["field"]["pattern"],
        field::FIELD_NAME_PATTERN
    );
    let add = value(AddFields::schema());
    assert_eq!(add["properties"]["fields"]["maxProperties"], 64);
    let delimiter = value(DelimiterParser::schema());
    assert_eq!(delimiter["properties"]["keys"]["maxItems"], 64);
    let source = serde_json::to_value(Source::schema()).unwrap();
    assert_eq!(source["oneOf"].as_array().unwrap().len(), 4, "{source}");
    let file = serde_json::to_value(FileSource::schema()).unwrap();
    assert_eq!(file["properties"]["include"]["maxItems"], 32);
    assert_eq!(file["properties"]["include"]["items"]["maxLength"], 1024);
}
