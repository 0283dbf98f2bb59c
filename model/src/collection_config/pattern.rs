//! Regular expressions in configs. Every pattern is compiled with the Rust `regex` crate when the
//! config is written, with bounds on its size, so a config that is accepted can always be run by
//! the native agent and by the preview, and a pattern cannot make the server build a huge automaton.

use regex::{Regex, RegexBuilder};

pub const MAX_PATTERN_CHARS: usize = 4096;
/// Bounds the compiled program; generous for log patterns, small enough to keep a hostile pattern
/// from costing the server much memory.
const COMPILED_SIZE_LIMIT_BYTES: usize = 1 << 20;

/// Compiles a pattern with the bounds every config pattern is held to.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let chars = pattern.chars().count();
    if chars == 0 || chars > MAX_PATTERN_CHARS {
        return Err(format!(
            "must be 1 to {MAX_PATTERN_CHARS} characters long, got {chars}"
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(COMPILED_SIZE_LIMIT_BYTES)
        .dfa_size_limit(COMPILED_SIZE_LIMIT_BYTES)
        .build()
        .map_err(|error| format!("is not a valid regular expression: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_invalid_and_oversized_patterns() {
        assert!(compile_pattern("^a+$").is_ok());
        assert!(compile_pattern("").is_err());
        assert!(
            compile_pattern("(unclosed")
                .unwrap_err()
                .starts_with("is not a valid regular expression")
        );
        assert!(compile_pattern(&"a".repeat(MAX_PATTERN_CHARS + 1)).is_err());
        // Small to write, huge to compile: the size limit refuses it.
        assert!(compile_pattern(r"\w{1000}\w{1000}\w{1000}").is_err());
    }
}
