//! Features an agent type cannot express are refused by name, never dropped; bundles are sorted,
//! complete and named by a hash that follows their content.

mod common;

use logplane_collect::render::{
    ConfigToRender, FLUENT_BIT_MAIN_FILE_NAME, check_supported, render_config,
};
use logplane_collect::{RenderedConfig, assemble_bundle, render_bundle};
use logplane_model::{AgentType, CollectionConfigSpec};
use serde_json::{Value, json};

fn spec(body: Value) -> CollectionConfigSpec {
    let spec: CollectionConfigSpec = serde_json::from_value(body).unwrap();
    spec.validate().expect("test specs are valid");
    spec
}

fn unsupported_fields(agent_type: AgentType, spec: &CollectionConfigSpec) -> Vec<String> {
    match check_supported(agent_type, spec) {
        Ok(()) => vec![],
        Err(error) => error.problems.into_iter().map(|p| p.field).collect(),
    }
}

/// One config using every feature some agent type lacks.
fn hard_config() -> CollectionConfigSpec {
    spec(json!({
        "sources": [
            {"file": {"include": ["/srv/**/*.log"], "exclude": ["/srv/${HOME}/x.log"]}},
            {"kubernetes": {"pod_labels": {"match_labels": {"app": "web"}}}}
        ],
        "multiline": {"start_pattern": "(?m)^\\d", "max_lines": 50},
        "parser": {"delimiter": {"separator": ";", "quote": "'", "keys": ["a", "b"]}},
        "processors": [
            {"add_fields": {"fields": {"empty": "", "padded": " x"}}},
            {"keep_if": {"field": "a", "matches": "(?x) a b # comment"}}
        ],
        "destination": {"logstore": "hard"}
    }))
}

#[test]
fn every_unsupported_feature_is_named_by_field_for_each_agent_type() {
    let config = hard_config();
    assert_eq!(
        unsupported_fields(AgentType::Native, &config),
        Vec::<String>::new()
    );
    assert_eq!(
        unsupported_fields(AgentType::FluentBit, &config),
        [
            "sources[0].file.include[0]",
            "sources[0].file.exclude[0]",
            "multiline.max_lines",
            "multiline.start_pattern",
            "parser.delimiter.quote",
            "processors[0].add_fields.fields.empty",
            "processors[0].add_fields.fields.padded",
        ]
    );
    assert_eq!(
        unsupported_fields(AgentType::Vector, &config),
        ["parser.delimiter.quote"]
    );
    assert_eq!(
        unsupported_fields(AgentType::OtelCollector, &config),
        [
            "sources[1].kubernetes.pod_labels",
            "parser.delimiter.quote",
            "processors[1].keep_if.matches",
        ]
    );
}

#[test]
fn errors_say_which_agent_type_cannot_express_what() {
    let error = check_supported(AgentType::OtelCollector, &hard_config()).unwrap_err();
    let problem = &error.problems[0];
    assert_eq!(problem.agent_type, AgentType::OtelCollector);
    assert_eq!(problem.feature, "pod label selection");
    let errors = error.to_validation_errors();
    assert_eq!(errors.errors[0].field, "sources[1].kubernetes.pod_labels");
    assert!(
        errors.errors[0]
            .message
            .starts_with("otel-collector cannot express pod label selection")
    );
    // RE2 reads (?m) as Rust does, but has no verbose mode.
    assert!(
        errors.errors[2]
            .message
            .contains("the flag `x` has no equivalent in RE2"),
        "{}",
        errors.errors[2].message
    );
    assert!(
        error
            .to_string()
            .contains("sources[1].kubernetes.pod_labels: otel-collector")
    );
}

#[test]
fn check_supported_agrees_with_rendering() {
    let context = common::context();
    let mut specs: Vec<CollectionConfigSpec> =
        common::fixtures().into_iter().map(|f| f.spec).collect();
    specs.push(hard_config());
    for spec in &specs {
        for agent_type in AgentType::ALL {
            let config = ConfigToRender {
                name: "any",
                revision: 1,
                spec,
            };
            assert_eq!(
                check_supported(agent_type, spec).is_ok(),
                render_config(agent_type, &context, config).is_ok()
            );
        }
    }
}

#[test]
fn patterns_reach_each_agent_meaning_what_they_meant() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "parser": {"regex": {"pattern": "(?s)^(?P<head>[^$]+)\\$(?P<tail>.*)$"}},
        "destination": {"logstore": "abc"}
    }));
    let context = common::context();
    let render = |agent_type| {
        let rendered = ConfigToRender {
            name: "dollars",
            revision: 1,
            spec: &config,
        };
        render_config(agent_type, &context, rendered)
            .unwrap()
            .remove(0)
            .body
    };
    let fluent_bit = common::parse_yaml(&render(AgentType::FluentBit));
    assert_eq!(
        fluent_bit["parsers"][0]["regex"],
        "(?m)\\A(?<head>[^$]+)\\$(?<tail>.*)\\z"
    );
    let vector = common::parse_yaml(&render(AgentType::Vector));
    let program = vector["transforms"]["lp_dollars_pipeline"]["source"]
        .as_str()
        .unwrap();
    assert!(
        program.contains("r'(?s)^(?P<head>[^$$]+)\\$$(?P<tail>.*)$$'"),
        "{program}"
    );
    let otel = common::parse_yaml(&render(AgentType::OtelCollector));
    let regex = &otel["receivers"]["journald/lp_dollars_0"]["operators"][2]["regex"];
    assert_eq!(regex, "(?s)^(?P<head>[^$$]+)\\$$(?P<tail>.*)$$");
}

#[test]
fn values_a_yaml_1_1_reader_could_mistake_stay_strings() {
    let config = spec(json!({
        "sources": [{"journald": {}}],
        "processors": [{"add_fields": {"fields": {"a": "on", "b": "no", "c": "1.5", "d": "null", "e": "0x10"}}}],
        "destination": {"logstore": "abc"}
    }));
    let context = common::context();
    for agent_type in [
        AgentType::FluentBit,
        AgentType::Vector,
        AgentType::OtelCollector,
    ] {
        let rendered = ConfigToRender {
            name: "typed",
            revision: 1,
            spec: &config,
        };
        let body = render_config(agent_type, &context, rendered)
            .unwrap()
            .remove(0)
            .body;
        for token in ["on", "no", "1.5", "null", "0x10"] {
            assert!(
                body.contains(&format!("\"{token}\""))
                    || body.contains(&format!("'{token}'"))
                    || body.contains(&format!(" {token}\n")) && agent_type == AgentType::FluentBit,
                "{agent_type}: {token} is not quoted in\n{body}"
            );
        }
        common::parse_yaml(&body);
    }
}

#[test]
fn rendering_is_deterministic() {
    let context = common::context();
    for fixture in common::fixtures() {
        for agent_type in AgentType::ALL {
            let config = ConfigToRender {
                name: fixture.name,
                revision: 2,
                spec: &fixture.spec,
            };
            let first = render_config(agent_type, &context, config);
            let second = render_config(agent_type, &context, config);
            assert_eq!(first, second);
        }
    }
}

#[test]
fn bundles_are_sorted_complete_and_hashed() {
    let context = common::context();
    let fixtures = common::fixtures();
    let configs: Vec<ConfigToRender> = fixtures
        .iter()
        .map(|f| ConfigToRender {
            name: f.name,
            revision: 4,
            spec: &f.spec,
        })
        .collect();
    let mut reversed = configs.clone();
    reversed.reverse();
    for agent_type in AgentType::ALL {
        let outcome = render_bundle(agent_type, &context, &configs);
        let again = render_bundle(agent_type, &context, &reversed);
        assert_eq!(
            outcome.bundle, again.bundle,
            "the order configs come in does not matter"
        );
        let names: Vec<&str> = outcome
            .bundle
            .configs
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.len() + outcome.skipped.len(), fixtures.len());
        let file_names: Vec<&str> = outcome
            .bundle
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let mut sorted_files = file_names.clone();
        sorted_files.sort();
        assert_eq!(file_names, sorted_files);
        assert_eq!(outcome.bundle.hash.len(), 64);
        if agent_type == AgentType::FluentBit {
            let main = outcome
                .bundle
                .files
                .iter()
                .find(|f| f.name == FLUENT_BIT_MAIN_FILE_NAME)
                .unwrap();
            let included: Vec<String> = common::parse_yaml(&main.body)["includes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let config_files: Vec<String> = file_names
                .iter()
                .filter(|name| **name != FLUENT_BIT_MAIN_FILE_NAME)
                .map(|name| name.to_string())
                .collect();
            assert_eq!(included, config_files);
            let skipped: Vec<&str> = outcome.skipped.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(skipped, ["csv-quoted", "k8s-pod-labels"]);
        }
    }
}

#[test]
fn the_bundle_hash_follows_every_change_and_only_changes() {
    let file = |body: &str| logplane_model::BundleFile {
        name: "a.yaml".into(),
        content_type: "application/yaml".into(),
        body: body.into(),
    };
    let rendered = |revision, body: &str| RenderedConfig {
        name: "a".into(),
        revision,
        files: vec![file(body)],
    };
    let base = assemble_bundle(AgentType::Vector, vec![rendered(1, "x")]);
    assert_eq!(
        base.hash,
        assemble_bundle(AgentType::Vector, vec![rendered(1, "x")]).hash
    );
    assert_ne!(
        base.hash,
        assemble_bundle(AgentType::Vector, vec![rendered(2, "x")]).hash
    );
    assert_ne!(
        base.hash,
        assemble_bundle(AgentType::Vector, vec![rendered(1, "y")]).hash
    );
    let empty = assemble_bundle(AgentType::Vector, vec![]);
    assert!(empty.configs.is_empty() && empty.files.is_empty());
    assert_ne!(empty.hash, base.hash);
    let empty_fluent_bit = assemble_bundle(AgentType::FluentBit, vec![]);
    assert_eq!(
        empty_fluent_bit.files.len(),
        1,
        "the main file, including nothing"
    );
}
