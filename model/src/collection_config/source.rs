//! Where an agent reads logs from. Each source is written as an object with exactly one key, its
//! kind: `{"file": {...}}`, `{"kubernetes": {...}}`, `{"journald": {...}}`, `{"syslog": {...}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Array;

use crate::label_selector::{LabelSelector, check_kubernetes_label_selector};
use crate::machine_group::check_list;
use crate::schema_util::{bounded_list, bounded_string};
use crate::validation::{ValidationErrors, check_range};

pub const MAX_FILE_PATTERNS: usize = 32;
pub const MAX_PATH_CHARS: usize = 1024;
pub const MAX_KUBERNETES_NAMES: usize = 64;
pub const MAX_JOURNALD_UNITS: usize = 64;
pub const MAX_UNIT_CHARS: usize = 256;
pub const DEFAULT_SYSLOG_PORT: i64 = 514;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    File(FileSource),
    Kubernetes(KubernetesSource),
    Journald(JournaldSource),
    Syslog(SyslogSource),
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::File(_) => "file",
            Source::Kubernetes(_) => "kubernetes",
            Source::Journald(_) => "journald",
            Source::Syslog(_) => "syslog",
        }
    }

    pub fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        let field = format!("{field}.{}", self.kind());
        match self {
            Source::File(file) => file.validate_into(&field, errors),
            Source::Kubernetes(kubernetes) => kubernetes.validate_into(&field, errors),
            Source::Journald(journald) => journald.validate_into(&field, errors),
            Source::Syslog(syslog) => syslog.validate_into(&field, errors),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Read files found when the agent starts from their first line.
    Beginning,
    /// Read only lines written after the agent found the file (the default: no flood of old logs
    /// when a config is first applied).
    #[default]
    End,
}

/// Files on the host, chosen by glob patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    #[schema(schema_with = include_schema)]
    pub include: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = exclude_schema)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub start_at: StartAt,
}

fn path_schema() -> utoipa::openapi::schema::ObjectBuilder {
    // Absolute, no control characters, no ',' (Fluent Bit separates path lists with commas).
    bounded_string(2, MAX_PATH_CHARS, Some("^/[^,\\x00-\\x1F\\x7F]*$"))
}
fn include_schema() -> Array {
    bounded_list(
        "1 to 32 absolute glob patterns (`*`, `?`, `[...]`, `**`) of files to read; no commas.",
        1,
        MAX_FILE_PATTERNS,
        path_schema(),
    )
}
fn exclude_schema() -> Array {
    bounded_list(
        "At most 32 absolute glob patterns of files not to read, even when included; no commas.",
        0,
        MAX_FILE_PATTERNS,
        path_schema(),
    )
}

/// Absolute POSIX glob patterns. Commas are refused because Fluent Bit joins path lists with them.
pub fn check_path_pattern(path: &str) -> Result<(), String> {
    let chars = path.chars().count();
    if !(2..=MAX_PATH_CHARS).contains(&chars) {
        return Err(format!("must be 2 to {MAX_PATH_CHARS} characters long"));
    }
    if !path.starts_with('/') {
        return Err("must be an absolute path starting with '/'".to_string());
    }
    if path.chars().any(|c| c.is_control() || c == ',') {
        return Err("must not contain commas or control characters".to_string());
    }
    Ok(())
}

impl FileSource {
    fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        if self.include.is_empty() {
            errors.add(format!("{field}.include"), "must name at least one pattern");
        }
        let limit = MAX_FILE_PATTERNS;
        check_list(
            &format!("{field}.include"),
            &self.include,
            limit,
            check_path_pattern,
            errors,
        );
        check_list(
            &format!("{field}.exclude"),
            &self.exclude,
            limit,
            check_path_pattern,
            errors,
        );
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainerStream {
    Stdout,
    Stderr,
    #[default]
    All,
}

/// Container output on a Kubernetes node, chosen by namespace, pod labels and container name.
/// Empty criteria select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSource {
    #[serde(default)]
    #[schema(schema_with = namespaces_schema)]
    pub namespaces: Vec<String>,
    /// Pods whose labels match; values follow Kubernetes' label value rule.
    #[serde(default)]
    pub pod_labels: LabelSelector,
    #[serde(default)]
    #[schema(schema_with = container_names_schema)]
    pub container_names: Vec<String>,
    #[serde(default)]
    pub stream: ContainerStream,
}

const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
fn namespaces_schema() -> Array {
    bounded_list(
        "At most 64 namespace names (DNS labels); empty means every namespace.",
        0,
        MAX_KUBERNETES_NAMES,
        bounded_string(1, 63, Some(DNS_LABEL_PATTERN)),
    )
}
fn container_names_schema() -> Array {
    bounded_list(
        "At most 64 container names (DNS labels); empty means every container.",
        0,
        MAX_KUBERNETES_NAMES,
        bounded_string(1, 63, Some(DNS_LABEL_PATTERN)),
    )
}

/// Kubernetes names namespaces and containers with DNS labels (RFC 1123).
pub fn check_dns_label(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty()
        || name.len() > 63
        || !name.chars().all(allowed)
        || !edge_ok(name.chars().next())
        || !edge_ok(name.chars().last())
    {
        return Err(format!(
            "must be a DNS label: 1 to 63 lowercase letters, digits and '-', starting and ending \
             with a letter or digit; got {name:?}"
        ));
    }
    Ok(())
}

impl KubernetesSource {
    fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        let limit = MAX_KUBERNETES_NAMES;
        check_list(
            &format!("{field}.namespaces"),
            &self.namespaces,
            limit,
            check_dns_label,
            errors,
        );
        check_kubernetes_label_selector(&format!("{field}.pod_labels"), &self.pod_labels, errors);
        let containers = format!("{field}.container_names");
        check_list(
            &containers,
            &self.container_names,
            limit,
            check_dns_label,
            errors,
        );
    }
}

/// The systemd journal of the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JournaldSource {
    #[serde(default)]
    #[schema(schema_with = units_schema)]
    pub units: Vec<String>,
}

fn units_schema() -> Array {
    bounded_list(
        "At most 64 systemd unit names such as `nginx.service`; empty means every unit.",
        0,
        MAX_JOURNALD_UNITS,
        bounded_string(1, MAX_UNIT_CHARS, Some("^[A-Za-z0-9:_.@\\\\-]+$")),
    )
}

/// systemd's unit name alphabet; `.service` and the other suffixes are the writer's to give.
pub fn check_unit_name(unit: &str) -> Result<(), String> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '\\' | '-');
    if unit.is_empty() || unit.len() > MAX_UNIT_CHARS || !unit.chars().all(allowed) {
        return Err(format!(
            "must be a systemd unit name: 1 to {MAX_UNIT_CHARS} letters, digits and ':_.@\\-'"
        ));
    }
    Ok(())
}

impl JournaldSource {
    fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        let units = format!("{field}.units");
        check_list(
            &units,
            &self.units,
            MAX_JOURNALD_UNITS,
            check_unit_name,
            errors,
        );
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyslogProtocol {
    Tcp,
    #[default]
    Udp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    /// BSD syslog, what most devices and `logger` send.
    #[default]
    Rfc3164,
    Rfc5424,
}

/// A syslog listener on the agent's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyslogSource {
    #[serde(default)]
    pub protocol: SyslogProtocol,
    /// The port to listen on (1–65535, default 514), on every interface.
    #[serde(default = "default_syslog_port")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: i64,
    #[serde(default)]
    pub format: SyslogFormat,
}

fn default_syslog_port() -> i64 {
    DEFAULT_SYSLOG_PORT
}

impl Default for SyslogSource {
    fn default() -> Self {
        Self {
            protocol: SyslogProtocol::default(),
            port: DEFAULT_SYSLOG_PORT,
            format: SyslogFormat::default(),
        }
    }
}

impl SyslogSource {
    fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        errors.check(&format!("{field}.port"), check_range(self.port, 1, 65535));
    }
}
