//! Writing rendered configs as YAML. The documents are built as JSON values (ordered maps) and
//! written by serde-saphyr, which quotes every string a YAML 1.1 reader (libyaml in Fluent Bit,
//! go-yaml in the OpenTelemetry Collector) could take for a boolean, a number or null.

use serde_json::Value;

/// YAML text of a document. Single-line strings stay on one line, however long (folding a
/// regular expression would make it harder to read and easier to break); multi-line strings,
/// such as Vector programs, are literal blocks.
pub fn to_yaml(document: &Value) -> String {
    let options = serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(document, options)
        .expect("a JSON document always serializes to YAML")
}

/// Doubles every `$` in every string of the document. Vector and the OpenTelemetry Collector read
/// `$NAME` and `${NAME}` in configs as environment variables and `$$` as one `$`; patterns ending
/// in `$` must reach the agent unchanged. Call before inserting deliberate references such as the
/// token variable.
pub fn escape_dollars(document: &mut Value) {
    match document {
        Value::String(text) => {
            if text.contains('$') {
                *text = text.replace('$', "$$");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        Value::Object(members) => members.values_mut().for_each(escape_dollars),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted_and_read_back_as_strings() {
        let document = json!({
            "flags": ["on", "off", "yes", "no", "true", "null", "~", "1", "0x1f", "1e3", "2024-01-01"],
            "regex": "^(?<a>[^\"']+): #not a comment$",
            "program": "line one\nline two\n",
            "empty": "",
            "nested": {"list": [], "map": {}}
        });
        let text = to_yaml(&document);
        let read: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(read, document, "{text}");
    }

    #[test]
    fn dollars_are_doubled_everywhere() {
        let mut document = json!({"a": "^x$", "b": ["${HOME}", 1], "c": {"d": "$"}});
        escape_dollars(&mut document);
        assert_eq!(
            document,
            json!({"a": "^x$$", "b": ["$${HOME}", 1], "c": {"d": "$$"}})
        );
    }
}
