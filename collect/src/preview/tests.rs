use logplane_model::collection_config::{CollectionConfigSpec, PreviewOutcome, PreviewRequest};
use serde_json::{Value, json};

use super::preview;

fn spec(body: Value) -> CollectionConfigSpec {
    let spec: CollectionConfigSpec = serde_json::from_value(body).unwrap();
    spec.validate().expect("test specs are valid");
    spec
}

fn run(spec: &CollectionConfigSpec, lines: &[&str]) -> Vec<(usize, usize, PreviewOutcome)> {
    let request = PreviewRequest {
        sample_lines: lines.iter().map(|line| line.to_string()).collect(),
    };
    preview(spec, &request)
        .unwrap()
        .entries
        .into_iter()
        .map(|entry| (entry.first_line, entry.line_count, entry.outcome))
        .collect()
}

fn record(outcome: &PreviewOutcome) -> Value {
    match outcome {
        PreviewOutcome::Record(record) => serde_json::to_value(record).unwrap(),
        other => panic!("expected a record, got {other:?}"),
    }
}

#[test]
fn without_a_parser_each_line_is_a_message() {
    let config = spec(json!({"sources": [{"journald": {}}], "destination": {"logstore": "abc"}}));
    let entries = run(&config, &["one", "", "three"]);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        record(&entries[1].2),
        json!({"timestamp": null, "severity": null, "fields": {"message": ""}})
    );
}

#[test]
fn an_nginx_line_through_every_stage() {
    let config = spec(json!({
        "sources": [{"file": {"include": ["/var/log/nginx/access.log"]}}],
        "parser": {"regex": {"pattern": "^(?P<ip>\\S+) \\S+ \\S+ \\[(?P<time>[^\\]]+)\\] \"(?P<request>[^\"]*)\" (?P<status>\\d{3}) (?P<bytes>\\d+)(?: \"(?P<referer>[^\"]*)\")?$"}},
        "timestamp": {"field": "time", "format": "%d/%b/%Y:%H:%M:%S %z"},
        "severity": {"field": "status"},
        "processors": [
            {"add_fields": {"fields": {"env": "prod", "ip": "redacted"}}},
            {"drop_fields": {"fields": ["bytes", "absent"]}},
            {"keep_if": {"field": "status", "matches": "^[45]"}}
        ],
        "destination": {"logstore": "nginx"}
    }));
    let entries = run(
        &config,
        &[
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 500 2326"#,
            r#"10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] "GET /a HTTP/1.1" 200 12 "http://x/""#,
            "garbage",
            r#"10.0.0.3 - - [10/Oct/2000:13:55:61 -0700] "GET / HTTP/1.1" 404 1"#,
        ],
    );
    assert_eq!(
        record(&entries[0].2),
        json!({
            "timestamp": "2000-10-10T20:55:36Z",
            "severity": "500",
            "fields": {
                "message": r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 500 2326"#,
                "ip": "redacted",
                "time": "10/Oct/2000:13:55:36 -0700",
                "request": "GET / HTTP/1.1",
                "status": "500",
                "env": "prod"
            }
        })
    );
    assert_eq!(
        entries[1].2,
        PreviewOutcome::Dropped {
            by: "processors[2].keep_if".into()
        }
    );
    assert_eq!(
        entries[2].2,
        PreviewOutcome::Error {
            field: "parser.regex.pattern".into(),
            message: "does not match the record".into()
        }
    );
    let PreviewOutcome::Error { field, message } = &entries[3].2 else {
        panic!("a bad second should fail");
    };
    assert_eq!(field, "timestamp.format");
    assert!(message.contains("no such time"), "{message}");
}

#[test]
fn multiline_joins_until_the_next_start_and_respects_max_lines() {
    let config = spec(json!({
        "sources": [{"file": {"include": ["/var/log/app.log"]}}],
        "multiline": {"start_pattern": "^\\d{4}-", "max_lines": 3},
        "destination": {"logstore": "app"}
    }));
    let entries = run(
        &config,
        &[
            "  orphan continuation",
            "2024-01-01 first",
            "  at a",
            "  at b",
            "  at c",
            "2024-01-01 second",
        ],
    );
    let shapes: Vec<(usize, usize)> = entries
        .iter()
        .map(|(first, count, _)| (*first, *count))
        .collect();
    assert_eq!(shapes, [(0, 1), (1, 3), (4, 1), (5, 1)]);
    assert_eq!(
        record(&entries[1].2)["fields"]["message"],
        "2024-01-01 first\n  at a\n  at b"
    );
}

#[test]
fn json_members_become_fields_in_order() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"json": {}},
        "severity": {"field": "level"},
        "processors": [{"keep_if": {"field": "code", "matches": "^4"}}],
        "destination": {"logstore": "abc"}
    }));
    let entries = run(
        &config,
        &[
            r#"{"level": "warn", "code": 404, "nested": {"a": 1}}"#,
            r#"{"level": "info", "code": null}"#,
            "[1, 2]",
            "{not json",
        ],
    );
    assert_eq!(
        record(&entries[0].2)["fields"],
        json!({"message": r#"{"level": "warn", "code": 404, "nested": {"a": 1}}"#, "level": "warn", "code": 404, "nested": {"a": 1}})
    );
    assert_eq!(record(&entries[0].2)["severity"], "warn");
    assert!(
        matches!(entries[1].2, PreviewOutcome::Dropped { .. }),
        "null never matches"
    );
    assert!(matches!(&entries[2].2, PreviewOutcome::Error { field, .. } if field == "parser.json"));
    assert!(matches!(&entries[3].2, PreviewOutcome::Error { field, .. } if field == "parser.json"));
}

#[test]
fn delimited_values_with_quotes() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"delimiter": {"separator": ",", "quote": "'", "keys": ["time", "user", "note"]}},
        "timestamp": {"field": "time", "format": "%Y-%m-%dT%H:%M:%S.%L%:z"},
        "destination": {"logstore": "abc"}
    }));
    let entries = run(
        &config,
        &[
            "2024-05-06T07:08:09.120Z,alice,'hello, ''world'''",
            "2024-05-06T07:08:09Z,bob,x",
            "a,b",
        ],
    );
    let first = record(&entries[0].2);
    assert_eq!(first["timestamp"], "2024-05-06T07:08:09.12Z");
    assert_eq!(first["fields"]["note"], "hello, 'world'");
    assert!(
        matches!(&entries[1].2, PreviewOutcome::Error { field, .. } if field == "timestamp.format")
    );
    assert!(
        matches!(&entries[2].2, PreviewOutcome::Error { field, message } if field == "parser.delimiter.keys" && message.contains("2 values"))
    );
}

#[test]
fn a_missing_timestamp_field_is_named() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"regex": {"pattern": "^(?P<time>\\d+)?x"}},
        "timestamp": {"field": "time", "format": "%Y%m%d %H:%M"},
        "destination": {"logstore": "abc"}
    }));
    let entries = run(&config, &["x"]);
    assert_eq!(
        entries[0].2,
        PreviewOutcome::Error {
            field: "timestamp.field".into(),
            message: "the record has no field \"time\"".into()
        }
    );
}

#[test]
fn the_request_is_bounded() {
    let config = spec(json!({"sources": [{"journald": {}}], "destination": {"logstore": "abc"}}));
    let request = PreviewRequest {
        sample_lines: vec!["x".into(); 201],
    };
    let errors = preview(&config, &request).unwrap_err();
    assert_eq!(errors.errors[0].field, "sample_lines");
}
