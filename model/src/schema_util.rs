//! Small builders for the JSON Schemas of bounded strings and string lists, so that every bound
//! a validator enforces is also stated in the OpenAPI document.

use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, Type};

/// A string of `min_chars..=max_chars` characters, optionally matching an ECMA-262 `pattern`.
pub fn bounded_string(min_chars: usize, max_chars: usize, pattern: Option<&str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min_chars > 0).then_some(min_chars))
        .max_length(Some(max_chars))
        .pattern(pattern)
}

/// A list of `min_items..=max_items` items of the given string schema.
pub fn bounded_list(
    description: &str,
    min_items: usize,
    max_items: usize,
    item: ObjectBuilder,
) -> Array {
    ArrayBuilder::new()
        .description(Some(description))
        .items(item)
        .min_items((min_items > 0).then_some(min_items))
        .max_items(Some(max_items))
        .build()
}
