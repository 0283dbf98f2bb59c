//! Golden files: every representative config rendered for every agent type, and each agent
//! type's bundle of all of them, checked in under tests/golden/. A change of rendering shows up
//! as a diff in review. Regenerate with `LOGPLANE_UPDATE_GOLDEN=1 cargo test -p logplane-collect
//! --test golden`; without it, any drift fails the test.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use logplane_collect::render::{ConfigToRender, render_config};
use logplane_collect::render_bundle;
use logplane_model::AgentType;
use serde_json::json;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// Every golden file's expected content, by path relative to the golden directory.
fn expected_files() -> BTreeMap<PathBuf, String> {
    let context = common::context();
    let fixtures = common::fixtures();
    let mut files = BTreeMap::new();
    for fixture in &fixtures {
        for agent_type in AgentType::ALL {
            let config = ConfigToRender {
                name: fixture.name,
                revision: 7,
                spec: &fixture.spec,
            };
            let directory = PathBuf::from(fixture.name);
            match render_config(agent_type, &context, config) {
                Ok(rendered) => {
                    for file in rendered {
                        let extension = file.name.rsplit('.').next().unwrap_or("txt").to_string();
                        files.insert(
                            directory.join(format!("{agent_type}.{extension}")),
                            file.body,
                        );
                    }
                }
                Err(error) => {
                    let lines: Vec<String> =
                        error.problems.iter().map(|p| format!("{p}\n")).collect();
                    files.insert(
                        directory.join(format!("{agent_type}.unsupported.txt")),
                        lines.concat(),
                    );
                }
            }
        }
    }
    for agent_type in AgentType::ALL {
        let configs: Vec<ConfigToRender> = fixtures
            .iter()
            .map(|fixture| ConfigToRender {
                name: fixture.name,
                revision: 7,
                spec: &fixture.spec,
            })
            .collect();
        let outcome = render_bundle(agent_type, &context, &configs);
        let summary = json!({
            "hash": outcome.bundle.hash,
            "configs": outcome.bundle.configs,
            "files": outcome.bundle.files.iter().map(|f| json!({"name": f.name, "content_type": f.content_type, "bytes": f.body.len()})).collect::<Vec<_>>(),
            "skipped": outcome.skipped.iter().map(|s| json!({"name": s.name, "error": s.error.to_string()})).collect::<Vec<_>>(),
        });
        let mut text = serde_json::to_string_pretty(&summary).unwrap();
        text.push('\n');
        files.insert(
            PathBuf::from("bundles").join(format!("{agent_type}.json")),
            text,
        );
        if agent_type == AgentType::FluentBit {
            let main = outcome
                .bundle
                .files
                .iter()
                .find(|f| f.name == logplane_collect::render::FLUENT_BIT_MAIN_FILE_NAME)
                .expect("fluent bit bundles have a main file");
            files.insert(PathBuf::from("bundles").join(&main.name), main.body.clone());
        }
    }
    files
}

fn files_on_disk(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_path_buf();
                found.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn rendered_files_match_the_golden_files() {
    let root = golden_dir();
    let expected = expected_files();
    if std::env::var("LOGPLANE_UPDATE_GOLDEN").as_deref() == Ok("1") {
        let _ = std::fs::remove_dir_all(&root);
        for (path, content) in &expected {
            let full = root.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        return;
    }
    let on_disk = files_on_disk(&root);
    let mut drift = Vec::new();
    for (path, content) in &expected {
        match on_disk.get(path) {
            None => drift.push(format!("missing: {}", path.display())),
            Some(found) if found != content => drift.push(format!("changed: {}", path.display())),
            Some(_) => {}
        }
    }
    for path in on_disk.keys().filter(|path| !expected.contains_key(*path)) {
        drift.push(format!("stale: {}", path.display()));
    }
    assert!(
        drift.is_empty(),
        "golden files drifted (regenerate with LOGPLANE_UPDATE_GOLDEN=1 and review the diff):\n{}",
        drift.join("\n")
    );
}
