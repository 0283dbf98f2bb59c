//! Regexes for agents that do not use Rust's `regex` crate. Configs are written and validated in
//! Rust syntax (what the native agent, Vector and the preview run); Fluent Bit runs Onigmo with
//! Ruby syntax and the OpenTelemetry Collector runs Go's RE2. The pattern is parsed into an AST and
//! rewritten where the dialects differ in spelling, and refused where they differ in meaning, so a
//! rendered pattern never matches differently from the one the tenant wrote and previewed, except
//! for the Unicode reach of `\d`, `\w`, `\s` and `\b` (ASCII in Onigmo and RE2), which README.md
//! documents.

use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassSetBinaryOp, Flag, FlagsItem, FlagsItemKind,
    GroupKind, Span, Visitor,
};

/// A text replacement at a byte range of the pattern.
struct Edit {
    start: usize,
    end: usize,
    replacement: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Onigmo with Ruby syntax: `^` and `$` always match at line breaks, `(?m)` means what Rust
    /// writes `(?s)`, and named groups are written `(?<name>…)`.
    Onigmo,
    /// Go's RE2: the same anchors and flags as Rust for what it supports; named groups written
    /// `(?P<name>…)`, which every Go version reads.
    Re2,
}

struct Rewriter<'p> {
    pattern: &'p str,
    dialect: Dialect,
    edits: Vec<Edit>,
}

impl Rewriter<'_> {
    fn refuse(&self, span: &Span, what: &str) -> String {
        let text = &self.pattern[span.start.offset..span.end.offset];
        let dialect = match self.dialect {
            Dialect::Onigmo => "Onigmo (Fluent Bit)",
            Dialect::Re2 => "RE2 (OpenTelemetry Collector)",
        };
        format!("{what} `{text}` has no equivalent in {dialect}")
    }

    fn flag_items(&mut self, items: &[FlagsItem]) -> Result<(), String> {
        for item in items {
            let FlagsItemKind::Flag(flag) = item.kind else {
                continue;
            };
            match (self.dialect, flag) {
                (_, Flag::CaseInsensitive) => {}
                (Dialect::Onigmo, Flag::DotMatchesNewLine) => self.edits.push(Edit {
                    start: item.span.start.offset,
                    end: item.span.end.offset,
                    replacement: "m".to_string(),
                }),
                (Dialect::Re2, Flag::DotMatchesNewLine | Flag::MultiLine | Flag::SwapGreed) => {}
                (Dialect::Onigmo, Flag::IgnoreWhitespace) => {}
                _ => return Err(self.refuse(&item.span, "the flag")),
            }
        }
        Ok(())
    }

    fn assertion(&mut self, assertion: &Assertion) -> Result<(), String> {
        use AssertionKind::*;
        match (self.dialect, &assertion.kind) {
            (_, StartText | EndText | WordBoundary | NotWordBoundary) => Ok(()),
            (Dialect::Re2, StartLine | EndLine) => Ok(()),
            // Ruby's `^` and `$` always match at line breaks; Rust's do only under `(?m)`, which is
            // refused above, so they mean the start and end of the text.
            (Dialect::Onigmo, StartLine) => self.replace(&assertion.span, "\\A"),
            (Dialect::Onigmo, EndLine) => self.replace(&assertion.span, "\\z"),
            _ => Err(self.refuse(&assertion.span, "the assertion")),
        }
    }

    fn replace(&mut self, span: &Span, replacement: &str) -> Result<(), String> {
        self.edits.push(Edit {
            start: span.start.offset,
            end: span.end.offset,
            replacement: replacement.to_string(),
        });
        Ok(())
    }
}

impl Visitor for &mut Rewriter<'_> {
    type Output = ();
    type Err = String;

    fn finish(self) -> Result<(), String> {
        Ok(())
    }

    fn visit_pre(&mut self, node: &Ast) -> Result<(), String> {
        match node {
            Ast::Flags(set_flags) => self.flag_items(&set_flags.flags.items),
            Ast::Assertion(assertion) => self.assertion(assertion),
            Ast::Group(group) => match &group.kind {
                GroupKind::NonCapturing(flags) => self.flag_items(&flags.items),
                GroupKind::CaptureIndex(_) => Ok(()),
                GroupKind::CaptureName {
                    starts_with_p,
                    name,
                } => {
                    let prefix = match self.dialect {
                        Dialect::Onigmo => "(?<",
                        Dialect::Re2 => "(?P<",
                    };
                    let written_with_p = *starts_with_p;
                    let wants_p = self.dialect == Dialect::Re2;
                    if written_with_p != wants_p {
                        self.edits.push(Edit {
                            start: group.span.start.offset,
                            end: name.span.start.offset,
                            replacement: prefix.to_string(),
                        });
                    }
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    fn visit_class_set_binary_op_pre(&mut self, op: &ClassSetBinaryOp) -> Result<(), String> {
        Err(self.refuse(&op.span, "the class operation"))
    }
}

fn rewrite(pattern: &str, dialect: Dialect) -> Result<String, String> {
    let parsed = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|error| format!("is not a valid regular expression: {error}"))?;
    let mut rewriter = Rewriter {
        pattern,
        dialect,
        edits: Vec::new(),
    };
    ast::visit(&parsed, &mut rewriter)?;
    let mut edits = rewriter.edits;
    edits.sort_by_key(|edit| edit.start);
    let mut rewritten = String::with_capacity(pattern.len() + 8);
    let mut copied_up_to = 0;
    for edit in edits {
        debug_assert!(
            edit.start >= copied_up_to,
            "edits never overlap: each is one AST node"
        );
        rewritten.push_str(&pattern[copied_up_to..edit.start]);
        rewritten.push_str(&edit.replacement);
        copied_up_to = edit.end;
    }
    rewritten.push_str(&pattern[copied_up_to..]);
    Ok(rewritten)
}

/// The pattern in Fluent Bit's Onigmo (Ruby) syntax.
pub fn to_onigmo(pattern: &str) -> Result<String, String> {
    rewrite(pattern, Dialect::Onigmo)
}

/// The pattern in Go RE2 syntax.
pub fn to_re2(pattern: &str) -> Result<String, String> {
    rewrite(pattern, Dialect::Re2)
}

/// Escapes one character for use in an Onigmo, RE2 or Rust pattern, inside or outside a class.
pub fn escape_char(c: char) -> String {
    match c {
        '\t' => "\\t".to_string(),
        c if c.is_ascii_punctuation() => format!("\\{c}"),
        c => c.to_string(),
    }
}

/// A pattern reading a delimited line without quoting: one named group per key, separated by
/// the separator, anchored at both ends. `group_opener` is `(?<` (Onigmo) or `(?P<` (Rust, RE2);
/// `start` and `end` are the dialect's text anchors.
pub fn delimiter_pattern(
    separator: char,
    keys: &[String],
    group_opener: &str,
    (start, end): (&str, &str),
) -> String {
    let separator = escape_char(separator);
    let groups: Vec<String> = keys
        .iter()
        .map(|key| format!("{group_opener}{key}>[^{separator}]*)"))
        .collect();
    format!("{start}{}{end}", groups.join(&separator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_patterns_split_like_the_preview() {
        let keys = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let pattern = delimiter_pattern('|', &keys, "(?P<", ("^", "$"));
        assert_eq!(pattern, r"^(?P<a>[^\|]*)\|(?P<b>[^\|]*)\|(?P<c>[^\|]*)$");
        let regex = regex::Regex::new(&pattern).unwrap();
        let captures = regex.captures("x||z").unwrap();
        assert_eq!(
            (&captures["a"], &captures["b"], &captures["c"]),
            ("x", "", "z")
        );
        assert!(!regex.is_match("x|y"), "too few values");
        assert!(!regex.is_match("x|y|z|w"), "too many values");
        let tabs = delimiter_pattern('\t', &keys[..1], "(?<", ("\\A", "\\z"));
        assert_eq!(tabs, r"\A(?<a>[^\t]*)\z");
    }

    #[test]
    fn onigmo_spells_groups_and_anchors_as_ruby_does() {
        assert_eq!(
            to_onigmo(r"^(?P<ip>\S+) (?<user>\w+) (\d+)$").unwrap(),
            r"\A(?<ip>\S+) (?<user>\w+) (\d+)\z"
        );
        assert_eq!(to_onigmo(r"(?s)a.b(?-s:.)").unwrap(), r"(?m)a.b(?-m:.)");
        assert_eq!(
            to_onigmo(r"(?i)error|\Afatal\z").unwrap(),
            r"(?i)error|\Afatal\z"
        );
        assert_eq!(to_onigmo(r"[\^$]\$").unwrap(), r"[\^$]\$");
    }

    #[test]
    fn onigmo_refuses_what_means_something_else_there() {
        for (pattern, construct) in [
            (r"(?m)^a$", "`m`"),
            (r"(?U)a+", "U"),
            (r"(?R)a", "R"),
            (r"(?u)a", "u"),
            (r"[a-z&&[^aeiou]]", "&&"),
            (r"\b{start}a", "\\b{start}"),
            (r"\<a\>", "\\<"),
        ] {
            let error = to_onigmo(pattern).unwrap_err();
            assert!(error.contains(construct), "{pattern}: {error}");
        }
    }

    #[test]
    fn re2_keeps_anchors_and_spells_groups_with_p() {
        assert_eq!(
            to_re2(r"(?m)^(?<ip>\S+) (?P<rest>.*)$").unwrap(),
            r"(?m)^(?P<ip>\S+) (?P<rest>.*)$"
        );
        assert_eq!(to_re2(r"(?sU)a.+").unwrap(), r"(?sU)a.+");
        for pattern in [r"(?x)a b", r"[a-z--b]", r"\b{end}"] {
            assert!(to_re2(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn rewriting_keeps_what_the_pattern_matches_in_rust() {
        // The rewritten RE2 spelling is valid Rust too, and means the same there.
        let pattern = r"^(?<a>\d+)-(?P<b>[a-f]+)$";
        let rewritten = to_re2(pattern).unwrap();
        let original = regex::Regex::new(pattern).unwrap();
        let again = regex::Regex::new(&rewritten).unwrap();
        for text in ["12-ab", "12-abx", "x12-ab", ""] {
            assert_eq!(original.is_match(text), again.is_match(text), "{text}");
        }
    }
}
