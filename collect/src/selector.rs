//! Which agents belong to a machine group. A selector is compiled once (its networks parsed) and
//! then matched against many agents, since the server re-evaluates every agent of a tenant when a
//! group changes.

use std::net::IpAddr;

use ipnet::IpNet;
use logplane_model::label_selector::{LabelExpression, LabelOperator};
use logplane_model::network::check_cidr;
use logplane_model::{AgentAttributes, AgentSelector, Labels};

/// What a selector looks at: the agent's id and the attributes it reported. The caller merges the
/// labels of the agent's enrollment token into `attributes.labels` before matching.
#[derive(Debug, Clone, Copy)]
pub struct AgentFacts<'a> {
    pub agent_id: &'a str,
    pub attributes: &'a AgentAttributes,
}

/// A selector ready to match. Built from a validated [`AgentSelector`]; an entry that does not
/// parse (which validation prevents) matches no agent rather than every agent.
#[derive(Debug, Clone)]
pub struct SelectorMatcher {
    selector: AgentSelector,
    networks: Vec<IpNet>,
    /// Set when `ip_cidrs` had entries: an empty `networks` then means "nothing matches".
    has_cidr_criterion: bool,
}

impl SelectorMatcher {
    pub fn new(selector: &AgentSelector) -> Self {
        let networks = selector
            .ip_cidrs
            .iter()
            .filter_map(|cidr| check_cidr(cidr).ok())
            .collect();
        Self {
            selector: selector.clone(),
            networks,
            has_cidr_criterion: !selector.ip_cidrs.is_empty(),
        }
    }

    /// True when every non-empty criterion matches the agent.
    pub fn matches(&self, agent: AgentFacts<'_>) -> bool {
        let selector = &self.selector;
        let labels = &agent.attributes.labels;
        let labels_match = selector
            .match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value));
        if !labels_match {
            return false;
        }
        if !selector
            .match_expressions
            .iter()
            .all(|expression| expression_holds(expression, labels))
        {
            return false;
        }
        if !selector.hostnames.is_empty()
            && !selector
                .hostnames
                .iter()
                .any(|hostname| hostname.eq_ignore_ascii_case(&agent.attributes.hostname))
        {
            return false;
        }
        if self.has_cidr_criterion && !self.ip_in_networks(agent.attributes.ip.as_deref()) {
            return false;
        }
        if !selector.agent_ids.is_empty()
            && !selector.agent_ids.iter().any(|id| id == agent.agent_id)
        {
            return false;
        }
        true
    }

    fn ip_in_networks(&self, ip: Option<&str>) -> bool {
        let Some(ip) = ip.and_then(|ip| ip.parse::<IpAddr>().ok()) else {
            return false;
        };
        // An IPv4 address reported in its IPv6-mapped form (`::ffff:10.0.0.1`) is the same host.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            IpAddr::V4(_) => ip,
        };
        self.networks.iter().any(|network| network.contains(&ip))
    }
}

/// Kubernetes' semantics: `NotIn` and `DoesNotExist` hold for an agent without the label.
pub fn expression_holds(expression: &LabelExpression, labels: &Labels) -> bool {
    let value = labels.get(&expression.key);
    match expression.operator {
        LabelOperator::In => value.is_some_and(|value| expression.values.contains(value)),
        LabelOperator::NotIn => value.is_none_or(|value| !expression.values.contains(value)),
        LabelOperator::Exists => value.is_some(),
        LabelOperator::DoesNotExist => value.is_none(),
    }
}

/// Matches one agent against one selector; use [`SelectorMatcher`] to match many.
pub fn agent_matches(selector: &AgentSelector, agent: AgentFacts<'_>) -> bool {
    SelectorMatcher::new(selector).matches(agent)
}

#[cfg(test)]
mod tests;
