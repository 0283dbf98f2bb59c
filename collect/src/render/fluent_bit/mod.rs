//! Fluent Bit (3.x and later) YAML. One file per config with its parsers, multiline parsers and
//! pipeline; records of the config carry tags under `lp.<config>.`, so filters and the output of
//! one config never see another's records. The bundle's main file includes every config file.
//!
//! `sources.rs` turns sources into inputs (and the filters that make their records alike);
//! `stages.rs` turns the multiline rule, parser, severity and processors into parsers and filters.

mod sources;
mod stages;

use logplane_model::{AgentType, BundleFile, CollectionConfigSpec};
use serde_json::{Map, Value, json};

use super::yaml::to_yaml;
use super::{
    ConfigToRender, Problems, RenderContext, RenderError, TOKEN_ENV_VAR, YAML_CONTENT_TYPE,
    component_prefix,
};

/// The name of the bundle's main file, which includes the config files. Config names contain no
/// dots, so no config file can take this name.
pub const MAIN_FILE_NAME: &str = "fluent-bit.main.yaml";

/// The file being built, with the problems found on the way.
struct Builder<'s> {
    spec: &'s CollectionConfigSpec,
    problems: Problems,
    /// `lp_<config>`: the prefix of parser names, which are global in Fluent Bit.
    prefix: String,
    /// `lp.<config>`: the prefix of every tag of the config's records.
    tag_root: String,
    /// Matches every record of the config.
    match_all: String,
    /// The config's multiline parser, once defined.
    multiline_parser: Option<String>,
    parsers: Vec<Value>,
    multiline_parsers: Vec<Value>,
    inputs: Vec<Value>,
    filters: Vec<Value>,
}

pub fn render(
    context: &RenderContext,
    config: ConfigToRender<'_>,
) -> Result<BundleFile, RenderError> {
    let tag_root = format!("lp.{}", config.name);
    let mut builder = Builder {
        spec: config.spec,
        problems: Problems::new(AgentType::FluentBit),
        prefix: component_prefix(config.name),
        match_all: format!("{tag_root}.*"),
        tag_root,
        multiline_parser: None,
        parsers: Vec::new(),
        multiline_parsers: Vec::new(),
        inputs: Vec::new(),
        filters: Vec::new(),
    };
    // Order matters: filters run in the order they are written.
    builder.define_multiline_parser();
    for (index, source) in config.spec.sources.iter().enumerate() {
        builder.add_source(index, source);
    }
    builder.add_parser();
    builder.add_severity();
    for (index, processor) in config.spec.processors.iter().enumerate() {
        builder.add_processor(index, processor);
    }
    let output = http_output(
        context,
        &config.spec.destination.logstore,
        &builder.match_all,
    );
    let mut root = Map::new();
    if !builder.parsers.is_empty() {
        root.insert("parsers".into(), Value::Array(builder.parsers));
    }
    if !builder.multiline_parsers.is_empty() {
        root.insert(
            "multiline_parsers".into(),
            Value::Array(builder.multiline_parsers),
        );
    }
    root.insert(
        "pipeline".into(),
        json!({"inputs": builder.inputs, "filters": builder.filters, "outputs": [output]}),
    );
    let body = format!(
        "# Rendered by Logplane for collection config {} revision {}. Do not edit.\n{}",
        config.name,
        config.revision,
        to_yaml(&Value::Object(root))
    );
    builder.problems.finish(BundleFile {
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

impl Builder<'_> {
    /// Fluent Bit reads `${NAME}` in any property as an environment variable and has no escape.
    fn check_no_env_reference(&mut self, field: &str, text: &str) {
        if text.contains("${") {
            self.problems.add(
                field,
                "the text `${`",
                "it reads `${NAME}` in any setting as an environment variable",
            );
        }
    }
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
