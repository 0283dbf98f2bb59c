use logplane_model::{AgentAttributes, AgentSelector, LabelExpression, LabelOperator, Labels};
use proptest::prelude::*;

use super::*;

fn attributes(hostname: &str, ip: Option<&str>, labels: &[(&str, &str)]) -> AgentAttributes {
    AgentAttributes {
        hostname: hostname.to_string(),
        ip: ip.map(str::to_string),
        os: "linux".to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        kubernetes: None,
    }
}

fn facts<'a>(agent_id: &'a str, attributes: &'a AgentAttributes) -> AgentFacts<'a> {
    AgentFacts {
        agent_id,
        attributes,
    }
}

fn expression(key: &str, operator: LabelOperator, values: &[&str]) -> LabelExpression {
    LabelExpression {
        key: key.to_string(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

#[test]
fn an_empty_selector_selects_every_agent() {
    let agent = attributes("web-1", None, &[]);
    assert!(agent_matches(
        &AgentSelector::default(),
        facts("a1", &agent)
    ));
}

#[test]
fn every_non_empty_criterion_must_match() {
    let agent = attributes(
        "Web-1.Example.com",
        Some("10.1.2.3"),
        &[("env", "prod"), ("zone", "b")],
    );
    let mut selector = AgentSelector {
        match_labels: [("env".to_string(), "prod".to_string())]
            .into_iter()
            .collect(),
        match_expressions: vec![expression("zone", LabelOperator::In, &["a", "b"])],
        hostnames: vec!["web-1.example.COM".into(), "web-2".into()],
        ip_cidrs: vec!["192.168.0.0/16".into(), "10.0.0.0/8".into()],
        agent_ids: vec!["a0".into(), "a1".into()],
    };
    assert!(agent_matches(&selector, facts("a1", &agent)));
    assert!(!agent_matches(&selector, facts("a2", &agent)), "agent id");
    selector.ip_cidrs = vec!["10.2.0.0/16".into()];
    assert!(!agent_matches(&selector, facts("a1", &agent)), "network");
    selector.ip_cidrs.clear();
    selector.hostnames = vec!["web-2".into()];
    assert!(!agent_matches(&selector, facts("a1", &agent)), "hostname");
    selector.hostnames.clear();
    selector.match_labels.insert("env".into(), "dev".into());
    assert!(
        !agent_matches(&selector, facts("a1", &agent)),
        "label value"
    );
}

#[test]
fn label_expressions_follow_kubernetes() {
    let with_env = attributes("h", None, &[("env", "prod")]);
    let without = attributes("h", None, &[]);
    let cases = [
        (expression("env", LabelOperator::In, &["prod"]), true, false),
        (expression("env", LabelOperator::In, &["dev"]), false, false),
        (
            expression("env", LabelOperator::NotIn, &["dev"]),
            true,
            true,
        ),
        (
            expression("env", LabelOperator::NotIn, &["prod"]),
            false,
            true,
        ),
        (expression("env", LabelOperator::Exists, &[]), true, false),
        (
            expression("env", LabelOperator::DoesNotExist, &[]),
            false,
            true,
        ),
    ];
    for (expression, expected_with, expected_without) in cases {
        assert_eq!(
            expression_holds(&expression, &with_env.labels),
            expected_with,
            "{expression:?}"
        );
        assert_eq!(
            expression_holds(&expression, &without.labels),
            expected_without,
            "{expression:?}"
        );
    }
}

#[test]
fn a_network_criterion_excludes_agents_without_an_address() {
    let selector = AgentSelector {
        ip_cidrs: vec!["0.0.0.0/0".into(), "::/0".into()],
        ..Default::default()
    };
    let no_ip = attributes("h", None, &[]);
    let garbage_ip = attributes("h", Some("not-an-ip"), &[]);
    let v6 = attributes("h", Some("2001:db8::1"), &[]);
    assert!(!agent_matches(&selector, facts("a", &no_ip)));
    assert!(!agent_matches(&selector, facts("a", &garbage_ip)));
    assert!(agent_matches(&selector, facts("a", &v6)));
}

#[test]
fn ipv4_mapped_addresses_match_ipv4_networks() {
    let selector = AgentSelector {
        ip_cidrs: vec!["10.0.0.0/8".into()],
        ..Default::default()
    };
    let mapped = attributes("h", Some("::ffff:10.9.8.7"), &[]);
    assert!(agent_matches(&selector, facts("a", &mapped)));
}

#[test]
fn an_unparsable_network_matches_nothing_rather_than_everything() {
    let selector = AgentSelector {
        ip_cidrs: vec!["bogus".into()],
        ..Default::default()
    };
    let agent = attributes("h", Some("10.0.0.1"), &[]);
    assert!(!agent_matches(&selector, facts("a", &agent)));
}

fn label_map() -> impl Strategy<Value = Labels> {
    proptest::collection::vec(("[a-c]", "[x-z]"), 0..4)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn label_expression() -> impl Strategy<Value = LabelExpression> {
    let operator = prop_oneof![
        Just(LabelOperator::In),
        Just(LabelOperator::NotIn),
        Just(LabelOperator::Exists),
        Just(LabelOperator::DoesNotExist),
    ];
    ("[a-c]", operator, proptest::collection::vec("[x-z]", 1..3)).prop_map(
        |(key, operator, values)| LabelExpression {
            key,
            operator,
            values: if operator.takes_values() {
                values
            } else {
                vec![]
            },
        },
    )
}

fn selector() -> impl Strategy<Value = AgentSelector> {
    (
        label_map(),
        proptest::collection::vec(label_expression(), 0..3),
        proptest::collection::vec("h[0-2]", 0..2),
        proptest::collection::vec(
            prop_oneof![
                Just("10.0.0.0/8"),
                Just("10.1.0.0/16"),
                Just("192.168.0.0/16")
            ],
            0..2,
        ),
        proptest::collection::vec("a[0-2]", 0..2),
    )
        .prop_map(
            |(match_labels, match_expressions, hostnames, cidrs, agent_ids)| AgentSelector {
                match_labels,
                match_expressions,
                hostnames,
                ip_cidrs: cidrs.into_iter().map(str::to_string).collect(),
                agent_ids,
            },
        )
}

fn agent() -> impl Strategy<Value = (String, AgentAttributes)> {
    (
        "a[0-2]",
        "[hH][0-2]",
        prop_oneof![
            Just(None),
            any::<[u8; 4]>().prop_map(|b| Some(format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]))),
            (any::<u8>(), any::<u8>()).prop_map(|(c, d)| Some(format!("10.1.{c}.{d}"))),
        ],
        label_map(),
    )
        .prop_map(|(agent_id, hostname, ip, labels)| {
            let attributes = AgentAttributes {
                hostname,
                ip,
                os: String::new(),
                labels,
                kubernetes: None,
            };
            (agent_id, attributes)
        })
}

/// The selector with only one of its criteria kept.
fn single_criteria(selector: &AgentSelector) -> Vec<AgentSelector> {
    vec![
        AgentSelector {
            match_labels: selector.match_labels.clone(),
            ..Default::default()
        },
        AgentSelector {
            match_expressions: selector.match_expressions.clone(),
            ..Default::default()
        },
        AgentSelector {
            hostnames: selector.hostnames.clone(),
            ..Default::default()
        },
        AgentSelector {
            ip_cidrs: selector.ip_cidrs.clone(),
            ..Default::default()
        },
        AgentSelector {
            agent_ids: selector.agent_ids.clone(),
            ..Default::default()
        },
    ]
}

proptest! {
    /// The definition itself: a selector matches exactly when each of its criteria, alone,
    /// matches.
    #[test]
    fn a_selector_is_the_conjunction_of_its_criteria(selector in selector(), (id, agent) in agent()) {
        let whole = agent_matches(&selector, facts(&id, &agent));
        let each = single_criteria(&selector)
            .iter()
            .all(|single| agent_matches(single, facts(&id, &agent)));
        prop_assert_eq!(whole, each);
    }

    /// Adding a criterion can only shrink a group.
    #[test]
    fn adding_a_criterion_never_adds_members(
        selector in selector(),
        extra in label_expression(),
        (id, agent) in agent(),
    ) {
        let mut narrower = selector.clone();
        narrower.match_expressions.push(extra);
        if agent_matches(&narrower, facts(&id, &agent)) {
            prop_assert!(agent_matches(&selector, facts(&id, &agent)));
        }
    }

    /// An agent always matches a selector built from what it reports about itself.
    #[test]
    fn an_agent_matches_a_selector_of_its_own_facts((id, agent) in agent(), take in 0usize..4) {
        let selector = AgentSelector {
            match_labels: agent.labels.iter().take(take).map(|(k, v)| (k.clone(), v.clone())).collect(),
            match_expressions: agent
                .labels
                .keys()
                .take(take)
                .map(|key| LabelExpression { key: key.clone(), operator: LabelOperator::Exists, values: vec![] })
                .collect(),
            hostnames: vec![agent.hostname.to_uppercase()],
            ip_cidrs: agent.ip.iter().map(|ip| format!("{ip}/32")).collect(),
            agent_ids: vec![id.clone()],
        };
        prop_assert!(agent_matches(&selector, facts(&id, &agent)));
    }

    /// `NotIn` is the complement of `In`, and `DoesNotExist` of `Exists`.
    #[test]
    fn negated_operators_are_complements(labels in label_map(), key in "[a-c]", values in proptest::collection::vec("[x-z]", 1..3)) {
        let with = |operator| LabelExpression { key: key.clone(), operator, values: values.clone() };
        prop_assert_ne!(
            expression_holds(&with(LabelOperator::In), &labels),
            expression_holds(&with(LabelOperator::NotIn), &labels)
        );
        let exists = LabelExpression { key: key.clone(), operator: LabelOperator::Exists, values: vec![] };
        let absent = LabelExpression { operator: LabelOperator::DoesNotExist, ..exists.clone() };
        prop_assert_ne!(expression_holds(&exists, &labels), expression_holds(&absent, &labels));
    }

    /// Network containment agrees with comparing the masked address.
    #[test]
    fn cidr_matching_agrees_with_masking(address in any::<u32>(), prefix in 0u8..=32, probe in any::<u32>()) {
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        let network = std::net::Ipv4Addr::from(address & mask);
        let selector = AgentSelector { ip_cidrs: vec![format!("{network}/{prefix}")], ..Default::default() };
        let agent = attributes("h", Some(&std::net::Ipv4Addr::from(probe).to_string()), &[]);
        let expected = probe & mask == address & mask;
        prop_assert_eq!(agent_matches(&selector, facts("a", &agent)), expected);
    }
}
