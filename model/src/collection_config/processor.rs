//! Changes to parsed records, applied in the order written. Each processor is an object with one
//! key naming its kind: `{"add_fields": {...}}`, `{"drop_fields": {...}}`, `{"keep_if": {...}}`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::field::check_field_name;
use super::pattern::compile_pattern;
use crate::validation::{ValidationErrors, check_text};

pub const MAX_PROCESSORS: usize = 32;
pub const MAX_PROCESSOR_FIELDS: usize = 64;
pub const MAX_ADDED_VALUE_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Processor {
    AddFields(AddFields),
    DropFields(DropFields),
    KeepIf(KeepIf),
}

/// Sets fields to constant strings, replacing values already there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFields {
    /// 1 to 64 fields: names are 1–64 letters, digits and `_`; values at most 1024 characters.
    #[schema(schema_with = added_fields_schema)]
    pub fields: IndexMap<String, String>,
}

fn added_fields_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(super::field::field_name_schema()))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_ADDED_VALUE_CHARS))
                .pattern(Some(crate::labels::NO_CONTROL_CHARACTERS)),
        ))
        .min_properties(Some(1))
        .max_properties(Some(MAX_PROCESSOR_FIELDS))
        .build()
}

/// Removes fields; a field that is absent is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DropFields {
    #[schema(schema_with = super::field::field_name_list_schema)]
    pub fields: Vec<String>,
}

/// Keeps only records whose `field` is present and matches the pattern; drops the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepIf {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
    )]
    pub field: String,
    /// A Rust `regex` pattern, searched anywhere in the value; at most 4096 characters.
    #[schema(min_length = 1, max_length = 4096)]
    pub matches: String,
}

impl Processor {
    pub fn kind(&self) -> &'static str {
        match self {
            Processor::AddFields(_) => "add_fields",
            Processor::DropFields(_) => "drop_fields",
            Processor::KeepIf(_) => "keep_if",
        }
    }

    /// Checks the processor at `processors[index]`.
    pub fn validate_into(&self, index: usize, errors: &mut ValidationErrors) {
        let field = format!("processors[{index}].{}", self.kind());
        match self {
            Processor::AddFields(add) => {
                let fields_path = format!("{field}.fields");
                let count = add.fields.len();
                if count == 0 || count > MAX_PROCESSOR_FIELDS {
                    let message =
                        format!("must have 1 to {MAX_PROCESSOR_FIELDS} fields, got {count}");
                    return errors.add(fields_path, message);
                }
                for (name, value) in &add.fields {
                    let entry = format!("{fields_path}.{name}");
                    errors.check(&entry, check_field_name(name));
                    let value_ok = check_text(value, MAX_ADDED_VALUE_CHARS);
                    let single_line = if value.contains(['\n', '\t']) {
                        Err("must be a single line without tabs".to_string())
                    } else {
                        Ok(())
                    };
                    errors.check(&entry, value_ok.and(single_line));
                }
            }
            Processor::DropFields(drop) => {
                let fields_path = format!("{field}.fields");
                let count = drop.fields.len();
                if count == 0 || count > MAX_PROCESSOR_FIELDS {
                    let message =
                        format!("must have 1 to {MAX_PROCESSOR_FIELDS} fields, got {count}");
                    return errors.add(fields_path, message);
                }
                for (position, name) in drop.fields.iter().enumerate() {
                    errors.check(
                        &format!("{fields_path}[{position}]"),
                        check_field_name(name),
                    );
                }
            }
            Processor::KeepIf(keep) => {
                errors.check(&format!("{field}.field"), check_field_name(&keep.field));
                errors.check(
                    &format!("{field}.matches"),
                    compile_pattern(&keep.matches).map(|_| ()),
                );
            }
        }
    }
}
