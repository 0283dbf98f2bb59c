//! The checked-in OpenAPI document is what the code generates, and every operation documents
//! its security and its errors.

use std::path::PathBuf;

use serde_json::Value;

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/logplane-v1.json")
}

fn generated() -> String {
    logplane_api::app::openapi_document()
        .to_pretty_json()
        .unwrap()
        + "\n"
}

#[test]
fn checked_in_document_matches_the_code() {
    let generated = generated();
    if std::env::var_os("LOGPLANE_UPDATE_OPENAPI").is_some() {
        std::fs::write(checked_in_path(), &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(checked_in_path()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/logplane-v1.json is out of date; regenerate it with \
         `LOGPLANE_UPDATE_OPENAPI=1 cargo test -p logplane-api --test openapi_document` and review the diff"
    );
}

#[test]
fn every_operation_documents_security_parameters_and_errors() {
    let document: Value = serde_json::from_str(&generated()).unwrap();
    let public = [
        "token_create",
        "agent_enroll",
        "health_check",
        "readiness_check",
        "metrics_get",
    ];
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operation id"));
            assert!(
                id.contains('_') && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{id} is resource_verb"
            );
            let responses = operation["responses"].as_object().unwrap();
            for status in ["500", "503"] {
                assert!(responses.contains_key(status), "{id} documents {status}");
            }
            if !public.contains(&id) {
                assert_eq!(
                    operation["security"][0]["bearer"],
                    serde_json::json!([]),
                    "{id} documents its security"
                );
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{id} documents 401 and 403"
                );
            }
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(['{', '}']);
                assert!(
                    declared.contains(&name),
                    "{id} documents path parameter {name}"
                );
                assert!(responses.contains_key("404"), "{id} documents 404");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{id} documents {status}");
                }
            }
        }
    }
}
