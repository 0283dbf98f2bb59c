//! Labels: small string maps that users attach to resources and select on. They keep the order
//! the client wrote them in, so what a client wrote is echoed exactly.

use indexmap::IndexMap;

use crate::validation::ValidationErrors;

pub type Labels = IndexMap<String, String>;

pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_KEY_CHARS: usize = 63;
pub const MAX_LABEL_VALUE_CHARS: usize = 256;

/// Checks a label map, reporting each bad entry under `{field}.{key}`.
pub fn check_labels(field: &str, labels: &Labels, errors: &mut ValidationErrors) {
    if labels.len() > MAX_LABELS {
        errors.add(
            field,
            format!(
                "must have at most {MAX_LABELS} entries, got {}",
                labels.len()
            ),
        );
        return;
    }
    for (key, value) in labels {
        let entry_field = format!("{field}.{key}");
        if let Err(message) = check_label_key(key) {
            errors.add(entry_field.clone(), message);
        }
        if value.chars().count() > MAX_LABEL_VALUE_CHARS {
            errors.add(
                entry_field,
                format!("value must be at most {MAX_LABEL_VALUE_CHARS} characters"),
            );
        } else if value.chars().any(char::is_control) {
            errors.add(entry_field, "value must not contain control characters");
        }
    }
}

/// Keys follow Kubernetes' rule without the prefix part: letters, digits, `-`, `_`, `.`, `/`,
/// starting and ending with a letter or digit, so labels map onto Kubernetes resources as they are.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let len = key.chars().count();
    if len == 0 || len > MAX_LABEL_KEY_CHARS {
        return Err(format!(
            "key must be 1 to {MAX_LABEL_KEY_CHARS} characters long"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
    if !key.chars().all(allowed) {
        return Err("key must contain only letters, digits, '-', '_', '.' and '/'".to_string());
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(key.chars().next()) || !edge_ok(key.chars().last()) {
        return Err("key must start and end with a letter or digit".to_string());
    }
    Ok(())
}

/// The JSON Schema of a label map, stating every rule [`check_labels`] enforces, so generated
/// clients and fuzzers know them too.
pub fn labels_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_LABEL_KEY_CHARS))
        .pattern(Some("^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$"));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_LABEL_VALUE_CHARS))
        .pattern(Some(NO_CONTROL_CHARACTERS));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Up to 64 labels. Keys: 1–63 letters, digits, `-`, `_`, `.`, `/`, starting and ending \
             with a letter or digit. Values: at most 256 characters. Kept in the order written.",
        ))
        .property_names(Some(key))
        .additional_properties(Some(value))
        .max_properties(Some(MAX_LABELS))
        .build()
}

/// A JSON Schema pattern (ECMA-262) matching text without control characters (Unicode Cc).
pub const NO_CONTROL_CHARACTERS: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]*$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_bad_entry_by_name() {
        let mut labels = Labels::new();
        labels.insert("team".into(), "search".into());
        labels.insert("-bad".into(), "x".into());
        labels.insert("long".into(), "v".repeat(MAX_LABEL_VALUE_CHARS + 1));
        let mut errors = ValidationErrors::new();
        check_labels("labels", &labels, &mut errors);
        let fields: Vec<_> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["labels.-bad", "labels.long"]);
    }

    #[test]
    fn bounds_the_number_of_entries() {
        let labels: Labels = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        let mut errors = ValidationErrors::new();
        check_labels("labels", &labels, &mut errors);
        assert_eq!(errors.errors.len(), 1);
        assert_eq!(errors.errors[0].field, "labels");
    }
}
