//! Label selectors, as Kubernetes writes them: `match_labels` (every pair must be present) and
//! `match_expressions` (every expression must hold). Machine groups select agents with them and
//! Kubernetes sources select pods with them, so one definition serves both.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::labels::{Labels, MAX_LABEL_VALUE_CHARS, check_label_key, check_labels};
use crate::validation::ValidationErrors;

pub const MAX_MATCH_EXPRESSIONS: usize = 32;
pub const MAX_EXPRESSION_VALUES: usize = 64;
/// Kubernetes limits label values to 63 characters of `[A-Za-z0-9._-]`; pod selectors are handed
/// to agents that pass them to Kubernetes, so they follow that rule.
pub const MAX_KUBERNETES_LABEL_VALUE_CHARS: usize = 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum LabelOperator {
    /// The label is present and its value is one of `values`.
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present, whatever its value; `values` must be empty.
    Exists,
    /// The label is absent; `values` must be empty.
    DoesNotExist,
}

impl LabelOperator {
    pub fn takes_values(self) -> bool {
        matches!(self, LabelOperator::In | LabelOperator::NotIn)
    }
}

/// One requirement on one label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelExpression {
    /// A label key: 1–63 letters, digits, `-`, `_`, `.`, `/`, starting and ending with a letter or
    /// digit.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = "^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$"
    )]
    pub key: String,
    pub operator: LabelOperator,
    /// 1–64 values for `In` and `NotIn`; empty for `Exists` and `DoesNotExist`.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub values: Vec<String>,
}

/// A Kubernetes-style label selector. Empty, it selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub match_labels: Labels,
    /// At most 32 expressions; all must hold.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub match_expressions: Vec<LabelExpression>,
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// Checks `match_expressions` under `{field}[i]`; `value_rule` checks each value.
pub fn check_match_expressions(
    field: &str,
    expressions: &[LabelExpression],
    value_rule: fn(&str) -> Result<(), String>,
    errors: &mut ValidationErrors,
) {
    if expressions.len() > MAX_MATCH_EXPRESSIONS {
        errors.add(
            field,
            format!(
                "must have at most {MAX_MATCH_EXPRESSIONS} expressions, got {}",
                expressions.len()
            ),
        );
        return;
    }
    for (index, expression) in expressions.iter().enumerate() {
        let path = format!("{field}[{index}]");
        errors.check(&format!("{path}.key"), check_label_key(&expression.key));
        let values_path = format!("{path}.values");
        let count = expression.values.len();
        if expression.operator.takes_values() {
            if count == 0 || count > MAX_EXPRESSION_VALUES {
                errors.add(
                    values_path.clone(),
                    format!(
                        "must have 1 to {MAX_EXPRESSION_VALUES} values for {:?}, got {count}",
                        expression.operator
                    ),
                );
            }
        } else if count > 0 {
            errors.add(
                values_path.clone(),
                format!("must be empty for {:?}", expression.operator),
            );
        }
        for (value_index, value) in expression.values.iter().enumerate() {
            errors.check(&format!("{values_path}[{value_index}]"), value_rule(value));
        }
    }
}

/// The value rule of agent labels: any text up to 256 characters without control characters.
pub fn check_agent_label_value(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_LABEL_VALUE_CHARS {
        return Err(format!(
            "must be at most {MAX_LABEL_VALUE_CHARS} characters"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_string());
    }
    Ok(())
}

/// Kubernetes' label value rule: empty, or up to 63 characters of `[A-Za-z0-9._-]` starting and
/// ending with a letter or digit.
pub fn check_kubernetes_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > MAX_KUBERNETES_LABEL_VALUE_CHARS {
        return Err(format!(
            "must be at most {MAX_KUBERNETES_LABEL_VALUE_CHARS} characters"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !value.chars().all(allowed)
        || !edge_ok(value.chars().next())
        || !edge_ok(value.chars().last())
    {
        return Err(
            "must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                .to_string(),
        );
    }
    Ok(())
}

/// Checks a selector whose labels are handed to Kubernetes (pod selectors).
pub fn check_kubernetes_label_selector(
    field: &str,
    selector: &LabelSelector,
    errors: &mut ValidationErrors,
) {
    let labels_field = format!("{field}.match_labels");
    check_labels(&labels_field, &selector.match_labels, errors);
    for (key, value) in &selector.match_labels {
        errors.check(
            &format!("{labels_field}.{key}"),
            check_kubernetes_label_value(value),
        );
    }
    check_match_expressions(
        &format!("{field}.match_expressions"),
        &selector.match_expressions,
        check_kubernetes_label_value,
        errors,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expression(key: &str, operator: LabelOperator, values: &[&str]) -> LabelExpression {
        LabelExpression {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn operators_are_written_as_kubernetes_writes_them() {
        let parsed: LabelExpression =
            serde_json::from_str(r#"{"key": "env", "operator": "NotIn", "values": ["dev"]}"#)
                .unwrap();
        assert_eq!(parsed, expression("env", LabelOperator::NotIn, &["dev"]));
        let missing_values: LabelExpression =
            serde_json::from_str(r#"{"key": "gpu", "operator": "Exists"}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&missing_values).unwrap()["values"],
            serde_json::json!([])
        );
    }

    #[test]
    fn in_needs_values_and_exists_takes_none() {
        let expressions = [
            expression("env", LabelOperator::In, &[]),
            expression("gpu", LabelOperator::Exists, &["yes"]),
            expression("-bad", LabelOperator::DoesNotExist, &[]),
            expression("tier", LabelOperator::NotIn, &["web"]),
        ];
        let mut errors = ValidationErrors::new();
        check_match_expressions(
            "selector.match_expressions",
            &expressions,
            check_agent_label_value,
            &mut errors,
        );
        let fields: Vec<_> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "selector.match_expressions[0].values",
                "selector.match_expressions[1].values",
                "selector.match_expressions[2].key",
            ]
        );
    }

    #[test]
    fn pod_selectors_follow_the_kubernetes_value_rule() {
        let mut selector = LabelSelector::default();
        selector
            .match_labels
            .insert("app".into(), "web server".into());
        selector
            .match_expressions
            .push(expression("tier", LabelOperator::In, &["ok", "not,ok"]));
        let mut errors = ValidationErrors::new();
        check_kubernetes_label_selector("pod_labels", &selector, &mut errors);
        let fields: Vec<_> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "pod_labels.match_labels.app",
                "pod_labels.match_expressions[0].values[1]"
            ]
        );
    }
}
