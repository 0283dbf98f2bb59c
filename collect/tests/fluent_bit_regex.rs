//! Fluent Bit runs regular expressions with Onigmo in Ruby syntax. These tests run the patterns
//! the renderer writes for it with Oniguruma in Ruby syntax — the library Onigmo forked from,
//! alike in everything the patterns use — and check that they match exactly what the tenant's
//! Rust pattern matches, capturing the same groups.

mod common;

use logplane_collect::render::regex_dialect::{delimiter_pattern, to_onigmo};
use logplane_collect::render::{ConfigToRender, render_config};
use logplane_model::AgentType;
use onig::{Regex as OnigRegex, RegexOptions, Syntax};
use proptest::prelude::*;
use regex::Regex;

/// Fluent Bit searches (`onig_search`); `OnigRegex::is_match` would anchor at both ends, so the
/// tests use `find` and `captures`, which search.
fn onig(pattern: &str) -> OnigRegex {
    OnigRegex::with_options(pattern, RegexOptions::REGEX_OPTION_NONE, Syntax::ruby())
        .unwrap_or_else(|e| panic!("Oniguruma rejects {pattern:?}: {e}"))
}

/// The named groups a pattern captures in a text, as (name, value), sorted by name.
fn rust_captures(regex: &Regex, text: &str) -> Option<Vec<(String, String)>> {
    let captures = regex.captures(text)?;
    let mut found: Vec<(String, String)> = regex
        .capture_names()
        .flatten()
        .filter_map(|name| {
            captures
                .name(name)
                .map(|m| (name.to_string(), m.as_str().to_string()))
        })
        .collect();
    found.sort();
    Some(found)
}

fn onig_captures(regex: &OnigRegex, text: &str) -> Option<Vec<(String, String)>> {
    let captures = regex.captures(text)?;
    let mut found = Vec::new();
    regex.foreach_name(|name, groups| {
        for group in groups {
            if let Some(value) = captures.at(*group as usize) {
                found.push((name.to_string(), value.to_string()));
            }
        }
        true
    });
    found.sort();
    Some(found)
}

fn assert_same(pattern: &str, texts: &[&str]) {
    let rust = Regex::new(pattern).unwrap();
    let translated = to_onigmo(pattern).unwrap();
    let ruby = onig(&translated);
    for text in texts {
        assert_eq!(
            rust_captures(&rust, text),
            onig_captures(&ruby, text),
            "{pattern:?} (as {translated:?}) on {text:?}"
        );
    }
}

const LINES: &[&str] = &[
    "",
    "GET /index.html 200",
    "first line\nsecond line",
    "\nleading newline",
    "trailing newline\n",
    "ERROR: disk full",
    "error: disk full",
    "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 500 2326",
    "price $5 and ^caret",
];

#[test]
fn anchors_groups_and_flags_mean_the_same() {
    for pattern in [
        r"^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$",
        r"(?<word>line)$",
        r"^second",
        r"(?s)^first.*line$",
        r"(?s:first.)second",
        r"(?i)^error: (?P<what>.*)",
        r"(?i:error)|^GET",
        r"^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] .(?P<request>[^\x22]*). (?P<status>\d{3}) (?P<bytes>\d+)$",
        r"[$^]\d|\$5",
        r"\Afirst|newline\z",
        r"^$",
        r"(?P<all>.*)",
        r"(?x) error : \s (?P<rest> .* )",
    ] {
        assert_same(pattern, LINES);
    }
}

#[test]
fn the_multiline_continuation_rule_is_the_negated_start_rule() {
    // As the renderer writes the rules: `/<start>/` and `/\A(?!.*?(?:<start>))/`.
    for start in [
        r"^\d{4}-\d{2}-\d{2}",
        r"^\S",
        r"(?i)exception",
        r"^\[(INFO|WARN)\]",
    ] {
        let rust = Regex::new(start).unwrap();
        let translated = to_onigmo(start).unwrap();
        let continuation = onig(&format!(r"\A(?!.*?(?:{translated}))"));
        for line in [
            "2024-01-02 boot",
            "  at Foo.bar()",
            "Caused by: Exception",
            "[INFO] ok",
            "",
            "x",
        ] {
            assert_eq!(
                continuation.find(line).is_some(),
                !rust.is_match(line),
                "{start:?} on {line:?}"
            );
        }
    }
}

#[test]
fn delimiter_patterns_split_as_the_preview_does() {
    let keys: Vec<String> = ["a", "b", "c"].iter().map(|k| k.to_string()).collect();
    for separator in [',', '|', '\t', ' ', '.', '\\', '[', '^'] {
        let ruby = onig(&delimiter_pattern(separator, &keys, "(?<", (r"\A", r"\z")));
        let sep = separator.to_string();
        for values in [["x", "y", "z"], ["", "", ""], ["a b", "", "c"]] {
            let line = values.join(&sep);
            let captured = onig_captures(&ruby, &line);
            let expected: Vec<(String, String)> = keys
                .iter()
                .cloned()
                .zip(values.iter().map(|v| v.to_string()))
                .collect();
            if values.iter().any(|value| value.contains(separator)) {
                continue;
            }
            assert_eq!(captured, Some(expected), "{separator:?} on {line:?}");
        }
        assert!(
            ruby.captures(&["x", "y"].join(&sep)).is_none(),
            "too few values"
        );
    }
}

/// Every pattern in every rendered Fluent Bit file compiles in Ruby syntax: parsers (including the
/// syslog layouts), multiline rules and grep filters.
#[test]
fn every_rendered_pattern_compiles() {
    let mut compiled = 0;
    for fixture in common::fixtures() {
        let config = ConfigToRender {
            name: fixture.name,
            revision: 1,
            spec: &fixture.spec,
        };
        let Ok(files) = render_config(AgentType::FluentBit, &common::context(), config) else {
            continue;
        };
        let document = common::parse_yaml(&files[0].body);
        let mut patterns: Vec<String> = Vec::new();
        for parser in document["parsers"].as_array().into_iter().flatten() {
            if let Some(regex) = parser["regex"].as_str() {
                patterns.push(regex.to_string());
            }
        }
        for parser in document["multiline_parsers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for rule in parser["rules"].as_array().unwrap() {
                let regex = rule["regex"].as_str().unwrap();
                patterns.push(
                    regex
                        .trim_start_matches('/')
                        .trim_end_matches('/')
                        .to_string(),
                );
            }
        }
        for filter in document["pipeline"]["filters"].as_array().unwrap() {
            for kind in ["regex", "exclude"] {
                if let Some(rule) = filter[kind].as_str() {
                    let (_, pattern) = rule.split_once(' ').unwrap();
                    patterns.push(pattern.to_string());
                }
            }
        }
        for pattern in patterns {
            onig(&pattern);
            compiled += 1;
        }
    }
    assert!(compiled >= 10, "only {compiled} patterns seen");
}

proptest! {
    /// On arbitrary text from a small alphabet rich in line breaks and anchor characters, the
    /// translated patterns capture exactly what the originals capture.
    #[test]
    fn translated_patterns_agree_on_arbitrary_text(text in "[ab\\n $^.\\-0-9]{0,12}") {
        for pattern in [
            r"^(?P<x>a+)$",
            r"(?P<x>b)$",
            r"^\d",
            r"(?s)a.b",
            r"a.b",
            r"(?P<x>[^\n]*)\n(?P<y>.*)",
            r"\$|\^",
            r"(?i)A(?P<x>B*)",
        ] {
            let rust = Regex::new(pattern).unwrap();
            let ruby = onig(&to_onigmo(pattern).unwrap());
            prop_assert_eq!(rust_captures(&rust, &text), onig_captures(&ruby, &text), "{}", pattern);
        }
    }
}
