//! Machine groups: named sets of agents, chosen by a selector over what agents report about
//! themselves. Collection configs are bound to groups, never to single agents.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::label_selector::{LabelExpression, check_agent_label_value, check_match_expressions};
use crate::labels::{Labels, check_labels};
use crate::meta::ResourceMeta;
use crate::network::{check_agent_id, check_cidr, check_hostname};
use crate::project::MAX_DESCRIPTION_CHARS;
use crate::timestamp::Timestamp;
use crate::validation::{ValidationErrors, check_text};

pub const MAX_SELECTOR_HOSTNAMES: usize = 1000;
pub const MAX_SELECTOR_CIDRS: usize = 256;
pub const MAX_SELECTOR_AGENT_IDS: usize = 1000;

/// Which agents belong to a group. An agent belongs when every non-empty criterion matches; an
/// empty selector therefore selects every agent of the tenant, as an empty Kubernetes selector does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSelector {
    /// Every pair must be among the agent's labels.
    #[serde(default)]
    #[schema(schema_with = crate::labels::labels_schema)]
    pub match_labels: Labels,
    /// At most 32 expressions over the agent's labels; all must hold.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub match_expressions: Vec<LabelExpression>,
    /// The agent's hostname is one of these (compared without regard to ASCII case). At most 1000
    /// hostnames of at most 253 characters.
    #[serde(default)]
    #[schema(schema_with = crate::network::hostnames_schema)]
    pub hostnames: Vec<String>,
    /// The agent's IP address lies in one of these networks (`10.0.0.0/8`, `2001:db8::/32`),
    /// written with the host bits zero. At most 256.
    #[serde(default)]
    #[schema(schema_with = crate::network::cidrs_schema)]
    pub ip_cidrs: Vec<String>,
    /// The agent's id is one of these. At most 1000.
    #[serde(default)]
    #[schema(schema_with = crate::network::agent_ids_schema)]
    pub agent_ids: Vec<String>,
}

impl AgentSelector {
    pub fn validate_into(&self, field: &str, errors: &mut ValidationErrors) {
        check_labels(&format!("{field}.match_labels"), &self.match_labels, errors);
        check_match_expressions(
            &format!("{field}.match_expressions"),
            &self.match_expressions,
            check_agent_label_value,
            errors,
        );
        check_list(
            &format!("{field}.hostnames"),
            &self.hostnames,
            MAX_SELECTOR_HOSTNAMES,
            check_hostname,
            errors,
        );
        check_list(
            &format!("{field}.ip_cidrs"),
            &self.ip_cidrs,
            MAX_SELECTOR_CIDRS,
            |cidr| check_cidr(cidr).map(|_| ()),
            errors,
        );
        check_list(
            &format!("{field}.agent_ids"),
            &self.agent_ids,
            MAX_SELECTOR_AGENT_IDS,
            check_agent_id,
            errors,
        );
    }
}

/// Checks the length of a list and each of its items, naming bad items `{field}[i]`.
pub(crate) fn check_list(
    field: &str,
    items: &[String],
    max_items: usize,
    item_rule: impl Fn(&str) -> Result<(), String>,
    errors: &mut ValidationErrors,
) {
    if items.len() > max_items {
        errors.add(
            field,
            format!("must have at most {max_items} items, got {}", items.len()),
        );
        return;
    }
    for (index, item) in items.iter().enumerate() {
        errors.check(&format!("{field}[{index}]"), item_rule(item));
    }
}

/// The writable fields of a machine group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineGroupSpec {
    /// Free text; at most 256 characters.
    #[serde(default)]
    #[schema(max_length = 256, pattern = "^[^\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F]*$")]
    pub description: String,
    #[serde(default)]
    pub selector: AgentSelector,
}

impl MachineGroupSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check(
            "description",
            check_text(&self.description, MAX_DESCRIPTION_CHARS),
        );
        self.selector.validate_into("selector", &mut errors);
        errors.into_result()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MachineGroup {
    pub name: String,
    pub description: String,
    pub selector: AgentSelector,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub etag: String,
}

impl MachineGroup {
    pub fn from_parts(meta: ResourceMeta, spec: MachineGroupSpec) -> Self {
        Self {
            name: meta.name,
            description: spec.description,
            selector: spec.selector,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            etag: meta.etag,
        }
    }

    pub fn spec(&self) -> MachineGroupSpec {
        MachineGroupSpec {
            description: self.description.clone(),
            selector: self.selector.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label_selector::LabelOperator;

    fn fields(result: Result<(), ValidationErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn an_empty_body_means_an_empty_selector_written_out_in_full() {
        let spec: MachineGroupSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, MachineGroupSpec::default());
        assert_eq!(spec.validate(), Ok(()));
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            serde_json::json!({
                "description": "",
                "selector": {
                    "match_labels": {},
                    "match_expressions": [],
                    "hostnames": [],
                    "ip_cidrs": [],
                    "agent_ids": []
                }
            })
        );
    }

    #[test]
    fn a_full_selector_round_trips_in_the_order_written() {
        let body = serde_json::json!({
            "description": "edge nodes",
            "selector": {
                "match_labels": {"zone": "b", "role": "edge"},
                "match_expressions": [{"key": "env", "operator": "In", "values": ["prod", "stage"]}],
                "hostnames": ["Edge-1.example.com"],
                "ip_cidrs": ["10.0.0.0/8", "2001:db8::/32"],
                "agent_ids": ["0190c5a4-7b7e-7cc1-a9f5-2d6f1c0b7e11"]
            }
        });
        let spec: MachineGroupSpec = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(spec.validate(), Ok(()));
        assert_eq!(
            spec.selector.match_expressions[0].operator,
            LabelOperator::In
        );
        assert_eq!(serde_json::to_value(&spec).unwrap(), body);
    }

    #[test]
    fn reports_every_bad_selector_entry_by_path() {
        let spec: MachineGroupSpec = serde_json::from_value(serde_json::json!({
            "selector": {
                "match_expressions": [{"key": "env", "operator": "In"}],
                "hostnames": ["ok.example", "bad host"],
                "ip_cidrs": ["10.0.0.0/8", "10.0.0.1/8", "300.0.0.0/8", "10.0.0.0"],
                "agent_ids": ["", "good-id"]
            }
        }))
        .unwrap();
        assert_eq!(
            fields(spec.validate()),
            [
                "selector.match_expressions[0].values",
                "selector.hostnames[1]",
                "selector.ip_cidrs[1]",
                "selector.ip_cidrs[2]",
                "selector.ip_cidrs[3]",
                "selector.agent_ids[0]",
            ]
        );
    }

    #[test]
    fn bounds_every_list() {
        let spec = MachineGroupSpec {
            description: String::new(),
            selector: AgentSelector {
                hostnames: vec!["h".into(); MAX_SELECTOR_HOSTNAMES + 1],
                ip_cidrs: vec!["10.0.0.0/8".into(); MAX_SELECTOR_CIDRS + 1],
                agent_ids: vec!["a".into(); MAX_SELECTOR_AGENT_IDS + 1],
                ..Default::default()
            },
        };
        assert_eq!(
            fields(spec.validate()),
            [
                "selector.hostnames",
                "selector.ip_cidrs",
                "selector.agent_ids"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_rejected_inside_the_selector() {
        let result: Result<MachineGroupSpec, _> =
            serde_json::from_str(r#"{"selector": {"hostname": ["a"]}}"#);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("unknown field `hostname`")
        );
    }
}
