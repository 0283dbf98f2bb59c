//! Content hashes. A config revision is identified by the hash of its spec, so saving an unchanged
//! spec can be recognised as a no-op; a bundle by the hash of everything the agent receives, so an
//! agent's `If-None-Match` answers "has anything changed for me" with one comparison.

use logplane_model::{BundleConfig, BundleFile, CollectionConfigSpec};
use sha2::{Digest, Sha256};

/// Versioned so that a future change of the canonical form can be told apart from a change of
/// content.
const CONFIG_HASH_DOMAIN: &[u8] = b"logplane collection config v1\n";
const BUNDLE_HASH_DOMAIN: &[u8] = b"logplane config bundle v1\n";

/// The canonical serialization of a spec: its JSON with every default written out, fields in
/// declaration order and lists and maps in the order the client wrote them (order is meaningful:
/// processors run in order and responses echo what was written).
pub fn canonical_config_json(spec: &CollectionConfigSpec) -> Vec<u8> {
    serde_json::to_vec(spec).expect("a config spec always serializes to JSON")
}

/// Lowercase hex SHA-256 of the canonical serialization. Two specs that read back equal have the
/// same hash, since deserializing fills every default.
pub fn config_content_hash(spec: &CollectionConfigSpec) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CONFIG_HASH_DOMAIN);
    hasher.update(canonical_config_json(spec));
    hex::encode(hasher.finalize())
}

/// Lowercase hex SHA-256 over the configs (name and revision) and files (name, content type and
/// body) of a bundle, each length-prefixed so no two different bundles share an encoding. Callers
/// pass both lists sorted by name, as [`crate::bundle::assemble_bundle`] does.
pub fn bundle_hash(configs: &[BundleConfig], files: &[BundleFile]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(BUNDLE_HASH_DOMAIN);
    hasher.update((configs.len() as u64).to_be_bytes());
    for config in configs {
        update_with_field(&mut hasher, config.name.as_bytes());
        hasher.update(config.revision.to_be_bytes());
    }
    hasher.update((files.len() as u64).to_be_bytes());
    for file in files {
        update_with_field(&mut hasher, file.name.as_bytes());
        update_with_field(&mut hasher, file.content_type.as_bytes());
        update_with_field(&mut hasher, file.body.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn update_with_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(body: serde_json::Value) -> CollectionConfigSpec {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn omitted_defaults_and_written_defaults_hash_alike() {
        let short = spec(json!({"sources": [{"syslog": {}}], "destination": {"logstore": "abc"}}));
        let long = spec(json!({
            "sources": [{"syslog": {"protocol": "udp", "port": 514, "format": "rfc3164"}}],
            "multiline": null,
            "processors": [],
            "destination": {"logstore": "abc"}
        }));
        assert_eq!(config_content_hash(&short), config_content_hash(&long));
        assert_eq!(config_content_hash(&short).len(), 64);
    }

    #[test]
    fn any_change_changes_the_hash_including_order() {
        let base = json!({
            "sources": [{"journald": {"units": ["a.service", "b.service"]}}],
            "processors": [{"add_fields": {"fields": {"x": "1", "y": "2"}}}],
            "destination": {"logstore": "abc"}
        });
        let mut reordered = base.clone();
        reordered["processors"][0]["add_fields"]["fields"] = json!({"y": "2", "x": "1"});
        let mut renamed = base.clone();
        renamed["destination"]["logstore"] = json!("abd");
        let mut units = base.clone();
        units["sources"][0]["journald"]["units"] = json!(["b.service", "a.service"]);
        let hashes = [base, reordered, renamed, units].map(|body| config_content_hash(&spec(body)));
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_canonical_form_is_stable() {
        // A change of this value re-sends every bundle to every agent: change the canonical
        // form only on purpose, with the domain string's version.
        let spec = spec(json!({"sources": [{"journald": {}}], "destination": {"logstore": "abc"}}));
        assert_eq!(
            String::from_utf8(canonical_config_json(&spec)).unwrap(),
            r#"{"sources":[{"journald":{"units":[]}}],"multiline":null,"parser":null,"timestamp":null,"severity":null,"processors":[],"destination":{"logstore":"abc"}}"#
        );
    }

    #[test]
    fn bundle_hashes_see_every_part_and_every_boundary() {
        let file = |name: &str, body: &str| BundleFile {
            name: name.into(),
            content_type: "application/yaml".into(),
            body: body.into(),
        };
        let config = |revision| BundleConfig {
            name: "nginx".into(),
            revision,
        };
        let base = bundle_hash(&[config(1)], &[file("a", "bc")]);
        assert_ne!(base, bundle_hash(&[config(2)], &[file("a", "bc")]));
        assert_ne!(base, bundle_hash(&[config(1)], &[file("ab", "c")]));
        assert_ne!(
            base,
            bundle_hash(&[config(1)], &[file("a", "bc"), file("b", "")])
        );
        assert_ne!(base, bundle_hash(&[], &[file("a", "bc")]));
        assert_eq!(base, bundle_hash(&[config(1)], &[file("a", "bc")]));
    }
}
