//! Representative configs, shared by the rendering, golden-file and bundle tests.

#![allow(dead_code)]

use logplane_collect::render::RenderContext;
use logplane_model::CollectionConfigSpec;
use serde_json::{Value, json};

pub struct Fixture {
    pub name: &'static str,
    pub spec: CollectionConfigSpec,
}

pub fn context() -> RenderContext {
    RenderContext::new("https://ingest.logplane.example", "acme", "web").unwrap()
}

fn fixture(name: &'static str, body: Value) -> Fixture {
    let spec: CollectionConfigSpec = serde_json::from_value(body).unwrap();
    spec.validate()
        .unwrap_or_else(|e| panic!("fixture {name} is invalid: {e}"));
    Fixture { name, spec }
}

pub fn fixtures() -> Vec<Fixture> {
    vec![
        fixture(
            "minimal",
            json!({
                "sources": [{"file": {"include": ["/var/log/app.log"]}}],
                "destination": {"logstore": "app"}
            }),
        ),
        fixture(
            "nginx-access",
            json!({
                "sources": [{"file": {
                    "include": ["/var/log/nginx/access.log", "/var/log/nginx/*.access.log"],
                    "exclude": ["/var/log/nginx/health.access.log"],
                    "start_at": "beginning"
                }}],
                "parser": {"regex": {"pattern": "^(?P<ip>\\S+) \\S+ (?P<user>\\S+) \\[(?P<time>[^\\]]+)\\] \"(?P<request>[^\"]*)\" (?P<status>\\d{3}) (?P<bytes>\\d+)$"}},
                "timestamp": {"field": "time", "format": "%d/%b/%Y:%H:%M:%S %z"},
                "severity": {"field": "status"},
                "processors": [
                    {"add_fields": {"fields": {"env": "on", "team": "edge"}}},
                    {"drop_fields": {"fields": ["user"]}},
                    {"keep_if": {"field": "status", "matches": "^[45]\\d\\d$"}}
                ],
                "destination": {"logstore": "nginx"}
            }),
        ),
        fixture(
            "k8s-json-stdout",
            json!({
                "sources": [{"kubernetes": {
                    "namespaces": ["shop", "payments"],
                    "container_names": ["api"],
                    "stream": "stdout"
                }}],
                "parser": {"json": {}},
                "timestamp": {"field": "ts", "format": "%Y-%m-%dT%H:%M:%S.%L%:z"},
                "severity": {"field": "level"},
                "processors": [{"keep_if": {"field": "level", "matches": "(?i)^(warn|error)$"}}],
                "destination": {"logstore": "shop-api"}
            }),
        ),
        fixture(
            "k8s-pod-labels",
            json!({
                "sources": [{"kubernetes": {
                    "pod_labels": {
                        "match_labels": {"app.kubernetes.io/name": "checkout"},
                        "match_expressions": [
                            {"key": "tier", "operator": "In", "values": ["web", "api"]},
                            {"key": "canary", "operator": "DoesNotExist"}
                        ]
                    }
                }}],
                "multiline": {"start_pattern": "^\\d{4}-\\d{2}-\\d{2}", "max_lines": 200, "flush_timeout_ms": 2000},
                "destination": {"logstore": "checkout"}
            }),
        ),
        fixture(
            "journald-multiline",
            json!({
                "sources": [{"journald": {"units": ["sshd.service", "cron.service"]}}],
                "multiline": {"start_pattern": "^\\S"},
                "parser": {"regex": {"pattern": "^(?P<level>[A-Z]+): (?P<message>.*)$"}},
                "severity": {"field": "level"},
                "destination": {"logstore": "system"}
            }),
        ),
        fixture(
            "syslog-delimited",
            json!({
                "sources": [
                    {"syslog": {"protocol": "tcp", "port": 6514, "format": "rfc5424"}},
                    {"syslog": {}}
                ],
                "parser": {"delimiter": {"separator": "|", "quote": null, "keys": ["device", "action", "detail"]}},
                "processors": [{"add_fields": {"fields": {"source": "firewall"}}}],
                "destination": {"logstore": "firewall"}
            }),
        ),
        fixture(
            "csv-quoted",
            json!({
                "sources": [{"file": {"include": ["/srv/export/**/*.csv"]}}],
                "parser": {"delimiter": {"keys": ["time", "user", "amount"]}},
                "timestamp": {"field": "time", "format": "%Y-%m-%d %H:%M:%S"},
                "processors": [{"keep_if": {"field": "amount", "matches": "^\\d+(?:\\.\\d+)?$"}}],
                "destination": {"logstore": "payments"}
            }),
        ),
    ]
}

/// Parses a rendered YAML file the way the tests read every rendered file.
pub fn parse_yaml(text: &str) -> Value {
    serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{text}"))
}
