//! Field names of log records. They are kept to identifiers so that every agent type can name
//! them without quoting: Fluent Bit record accessors, Vector paths and OpenTelemetry attributes.

use utoipa::openapi::schema::ObjectBuilder;

use crate::schema_util::bounded_string;

pub const MAX_FIELD_NAME_CHARS: usize = 64;
pub const FIELD_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,63}$";
/// The field holding the collected line until a parser splits it.
pub const MESSAGE_FIELD: &str = "message";

pub fn check_field_name(name: &str) -> Result<(), String> {
    let valid_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_start || !valid_rest || name.len() > MAX_FIELD_NAME_CHARS {
        return Err(format!(
            "must be a field name of 1 to {MAX_FIELD_NAME_CHARS} letters, digits and '_', not \
             starting with a digit; got {name:?}"
        ));
    }
    Ok(())
}

pub fn field_name_schema() -> ObjectBuilder {
    bounded_string(1, MAX_FIELD_NAME_CHARS, Some(FIELD_NAME_PATTERN))
}

pub fn field_name_list_schema() -> utoipa::openapi::schema::Array {
    crate::schema_util::bounded_list(
        "1 to 64 field names, each 1 to 64 letters, digits and `_`, not starting with a digit.",
        1,
        64,
        field_name_schema(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_identifiers() {
        for good in ["message", "_p", "status_code", "A1"] {
            assert!(check_field_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "a.b", "a-b", "a b", &"a".repeat(65)] {
            assert!(check_field_name(bad).is_err(), "{bad}");
        }
    }
}
