//! Collecting every problem with an input before answering, so a client fixes its request once.

use crate::problem::FieldError;

#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", summary(.errors))]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Records the outcome of a check of one field, keeping its message.
    pub fn check(&mut self, field: &str, outcome: Result<(), String>) {
        if let Err(message) = outcome {
            self.add(field, message);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// Checks that an integer lies in `min..=max`, with a message that names the bounds.
pub fn check_range(value: i64, min: i64, max: i64) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!("must be between {min} and {max}, got {value}"));
    }
    Ok(())
}

/// Checks the length of free text in characters (not bytes: a limit users can count).
pub fn check_text(value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(format!(
            "must be at most {max_chars} characters, got {chars}"
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".to_string());
    }
    Ok(())
}
