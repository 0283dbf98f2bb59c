//! Inputs for sources, and the filters that give their records the same shape: the line in
//! `message`, whatever the input called it.

use logplane_model::collection_config::{
    ContainerStream, FileSource, JournaldSource, KubernetesSource, Source, StartAt, SyslogFormat,
    SyslogProtocol, SyslogSource,
};
use logplane_model::label_selector::LabelOperator;
use serde_json::{Map, Value, json};

use super::Builder;
use crate::render::regex_dialect::escape_char;

/// Kubernetes names container log files `<pod>_<namespace>_<container>-<64 hex id>.log`.
const CONTAINER_ID_GLOB_CHARS: usize = 64;

/// Syslog line layouts, written for Onigmo; the config's parser then reads `message`.
pub(super) const SYSLOG_RFC3164: &str = r"\A<(?<pri>[0-9]{1,3})>(?<time>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) (?<host>[^ ]+) (?<ident>[^ :\[]+)(?:\[(?<pid>[0-9]+)\])?: ?(?<message>.*)\z";
pub(super) const SYSLOG_RFC5424: &str = r"\A<(?<pri>[0-9]{1,3})>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[^ ]+) (?<msgid>[^ ]+) (?<extradata>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?<message>.*)\z";

fn input(plugin: &str, tag: &str) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert("name".into(), json!(plugin));
    input.insert("tag".into(), json!(tag));
    input
}

fn rename(match_pattern: &str, from: &str, to: &str) -> Value {
    json!({"name": "modify", "match": match_pattern, "rename": format!("{from} {to}")})
}

fn escape_text(text: &str) -> String {
    text.chars().map(escape_char).collect()
}

impl Builder<'_> {
    pub(super) fn add_source(&mut self, index: usize, source: &Source) {
        let field = format!("sources[{index}].{}", source.kind());
        let source_tag = format!("{}.{index}", self.tag_root);
        match source {
            Source::File(file) => self.add_file(&field, &source_tag, file),
            Source::Kubernetes(kubernetes) => self.add_kubernetes(&source_tag, kubernetes),
            Source::Journald(journald) => self.add_journald(&source_tag, journald),
            Source::Syslog(syslog) => self.add_syslog(index, &source_tag, syslog),
        }
    }

    /// Joins lines of inputs that cannot run a multiline parser themselves.
    fn add_multiline_filter(&mut self, match_pattern: &str) {
        if let Some(parser) = &self.multiline_parser {
            self.filters.push(json!({
                "name": "multiline",
                "match": match_pattern,
                "multiline.key_content": "message",
                "multiline.parser": parser
            }));
        }
    }

    fn add_file(&mut self, field: &str, source_tag: &str, file: &FileSource) {
        for (list, paths) in [("include", &file.include), ("exclude", &file.exclude)] {
            for (position, path) in paths.iter().enumerate() {
                let path_field = format!("{field}.{list}[{position}]");
                if path.contains("**") {
                    self.problems.add(
                        &path_field,
                        "recursive globs (**)",
                        "its tail input expands paths with glob(3), where ** means *",
                    );
                }
                self.check_no_env_reference(&path_field, path);
            }
        }
        // Tail tags expand `*` to the file's path, so the tag says which file a record came from.
        let source_match = format!("{source_tag}.*");
        let mut input = input("tail", &source_match);
        input.insert("path".into(), json!(file.include.join(",")));
        if !file.exclude.is_empty() {
            input.insert("exclude_path".into(), json!(file.exclude.join(",")));
        }
        input.insert(
            "read_from_head".into(),
            json!(file.start_at == StartAt::Beginning),
        );
        if let Some(name) = &self.multiline_parser {
            input.insert("multiline.parser".into(), json!(name));
        }
        self.inputs.push(Value::Object(input));
        self.filters.push(rename(&source_match, "log", "message"));
    }

    fn add_kubernetes(&mut self, source_tag: &str, kubernetes: &KubernetesSource) {
        let source_match = format!("{source_tag}.*");
        let mut input = input("tail", &source_match);
        input.insert(
            "path".into(),
            json!(container_log_globs(kubernetes).join(",")),
        );
        input.insert("read_from_head".into(), json!(false));
        input.insert("multiline.parser".into(), json!("docker, cri"));
        self.inputs.push(Value::Object(input));
        self.add_pod_selection(source_tag, &source_match, kubernetes);
        self.filters.push(rename(&source_match, "log", "message"));
        self.add_multiline_filter(&source_match);
    }

    fn add_journald(&mut self, source_tag: &str, journald: &JournaldSource) {
        let mut input = input("systemd", source_tag);
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
        self.inputs.push(Value::Object(input));
        // Journald and syslog inputs tag every record with exactly the source tag.
        self.filters.push(rename(source_tag, "MESSAGE", "message"));
        self.add_multiline_filter(source_tag);
    }

    fn add_syslog(&mut self, index: usize, source_tag: &str, syslog: &SyslogSource) {
        let parser_name = format!("{}_syslog_{index}", self.prefix);
        let layout = match syslog.format {
            SyslogFormat::Rfc3164 => SYSLOG_RFC3164,
            SyslogFormat::Rfc5424 => SYSLOG_RFC5424,
        };
        self.parsers
            .push(json!({"name": parser_name, "format": "regex", "regex": layout}));
        let mut input = input("syslog", source_tag);
        let mode = match syslog.protocol {
            SyslogProtocol::Tcp => "tcp",
            SyslogProtocol::Udp => "udp",
        };
        input.insert("mode".into(), json!(mode));
        input.insert("listen".into(), json!("0.0.0.0"));
        input.insert("port".into(), json!(syslog.port));
        input.insert("parser".into(), json!(parser_name));
        self.inputs.push(Value::Object(input));
        self.add_multiline_filter(source_tag);
    }

    /// Pod labels come from the `kubernetes` filter (only when selecting on them: it queries the
    /// API server); each requirement is one `grep` filter, since the rules of one filter would be
    /// combined by its `logical_op` setting, which older versions lack.
    fn add_pod_selection(
        &mut self,
        source_tag: &str,
        source_match: &str,
        kubernetes: &KubernetesSource,
    ) {
        if !kubernetes.pod_labels.is_empty() {
            self.filters.push(json!({
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
        let mut rules: Vec<(&str, String)> = Vec::new();
        for (key, value) in &kubernetes.pod_labels.match_labels {
            rules.push(("regex", format!("{} ^{}$", label(key), escape_text(value))));
        }
        for expression in &kubernetes.pod_labels.match_expressions {
            let key = label(&expression.key);
            rules.push(match expression.operator {
                LabelOperator::In => ("regex", format!("{key} {}", any_of(&expression.values))),
                LabelOperator::NotIn => {
                    ("exclude", format!("{key} {}", any_of(&expression.values)))
                }
                LabelOperator::Exists => ("regex", format!("{key} .*")),
                LabelOperator::DoesNotExist => ("exclude", format!("{key} .*")),
            });
        }
        match kubernetes.stream {
            ContainerStream::All => {}
            ContainerStream::Stdout => rules.push(("regex", "stream ^stdout$".to_string())),
            ContainerStream::Stderr => rules.push(("regex", "stream ^stderr$".to_string())),
        }
        for (kind, rule) in rules {
            self.filters
                .push(json!({"name": "grep", "match": source_match, kind: rule}));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn container_globs_pin_the_container_name() {
        let kubernetes = KubernetesSource {
            namespaces: vec!["shop".into()],
            container_names: vec!["app".into()],
            ..Default::default()
        };
        let globs = container_log_globs(&kubernetes);
        assert_eq!(globs.len(), 1);
        assert!(globs[0].starts_with("/var/log/containers/*_shop_app-????"));
        assert!(globs[0].ends_with("?.log"));
        assert_eq!(
            container_log_globs(&KubernetesSource::default()),
            ["/var/log/containers/*_*_*.log"]
        );
    }
}
