//! Rules for what identifies an agent on the network: hostnames, IP addresses, CIDR networks and
//! agent ids. Selectors and agent attributes share them, so a selector can only name values an
//! agent can report.

use std::net::IpAddr;

use ipnet::IpNet;
use utoipa::openapi::schema::Array;

use crate::schema_util::{bounded_list, bounded_string};

pub const MAX_HOSTNAME_CHARS: usize = 253;
pub const MAX_AGENT_ID_CHARS: usize = 64;
pub const HOSTNAME_PATTERN: &str = "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$";
pub const AGENT_ID_PATTERN: &str = "^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$";

/// DNS hostnames (RFC 1123): letters, digits, `-` and `.`, at most 253 characters. Case is kept
/// as written and ignored when matching, as DNS does.
pub fn check_hostname(hostname: &str) -> Result<(), String> {
    if hostname.is_empty() || hostname.len() > MAX_HOSTNAME_CHARS {
        return Err(format!("must be 1 to {MAX_HOSTNAME_CHARS} characters long"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !hostname.chars().all(allowed)
        || !edge_ok(hostname.chars().next())
        || !edge_ok(hostname.chars().last())
    {
        return Err(
            "must be letters, digits, '-' and '.', starting and ending with a letter or digit"
                .to_string(),
        );
    }
    Ok(())
}

pub fn check_ip_address(ip: &str) -> Result<IpAddr, String> {
    ip.parse::<IpAddr>()
        .map_err(|_| format!("must be an IPv4 or IPv6 address, got {ip:?}"))
}

/// A network in CIDR notation with its host bits zero: `10.1.0.0/16` is accepted, `10.1.2.3/16`
/// is not, because a reader could not tell whether the writer meant the network or a typo.
pub fn check_cidr(cidr: &str) -> Result<IpNet, String> {
    let Some((_, prefix)) = cidr.split_once('/') else {
        return Err(format!(
            "must be a network such as 10.0.0.0/8 or 2001:db8::/32, got {cidr:?}"
        ));
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("must end with a prefix length, got {cidr:?}"));
    }
    let network: IpNet = cidr.parse().map_err(|_| {
        format!("must be a network such as 10.0.0.0/8 or 2001:db8::/32, got {cidr:?}")
    })?;
    if network.trunc() != network {
        return Err(format!(
            "must have its host bits zero: did you mean {}?",
            network.trunc()
        ));
    }
    Ok(network)
}

/// Agent ids are issued by the server at enrollment; selectors may name them.
pub fn check_agent_id(agent_id: &str) -> Result<(), String> {
    if agent_id.is_empty() || agent_id.len() > MAX_AGENT_ID_CHARS {
        return Err(format!("must be 1 to {MAX_AGENT_ID_CHARS} characters long"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !agent_id.chars().all(allowed)
        || !edge_ok(agent_id.chars().next())
        || !edge_ok(agent_id.chars().last())
    {
        return Err(
            "must be letters, digits, '-' and '_', starting and ending with a letter or digit"
                .to_string(),
        );
    }
    Ok(())
}

pub fn hostnames_schema() -> Array {
    bounded_list(
        "The agent's hostname is one of these (compared without regard to ASCII case). At most \
         1000 hostnames of at most 253 characters.",
        0,
        crate::machine_group::MAX_SELECTOR_HOSTNAMES,
        bounded_string(1, MAX_HOSTNAME_CHARS, Some(HOSTNAME_PATTERN)),
    )
}

pub fn cidrs_schema() -> Array {
    bounded_list(
        "The agent's IP address lies in one of these networks (`10.0.0.0/8`, `2001:db8::/32`), \
         written with the host bits zero. At most 256.",
        0,
        crate::machine_group::MAX_SELECTOR_CIDRS,
        bounded_string(3, 43, Some("^[0-9A-Fa-f:.]+/[0-9]{1,3}$")),
    )
}

pub fn agent_ids_schema() -> Array {
    bounded_list(
        "The agent's id is one of these. At most 1000.",
        0,
        crate::machine_group::MAX_SELECTOR_AGENT_IDS,
        bounded_string(1, MAX_AGENT_ID_CHARS, Some(AGENT_ID_PATTERN)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_must_name_a_network() {
        assert!(check_cidr("10.0.0.0/8").is_ok());
        assert!(check_cidr("0.0.0.0/0").is_ok());
        assert!(check_cidr("2001:db8::/32").is_ok());
        assert!(check_cidr("192.168.1.7/32").is_ok());
        assert!(
            check_cidr("10.1.2.3/8")
                .unwrap_err()
                .contains("did you mean 10.0.0.0/8")
        );
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "x/8"] {
            assert!(check_cidr(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn hostnames_and_agent_ids_have_small_alphabets() {
        assert!(check_hostname("Web-1.example.COM").is_ok());
        assert!(check_hostname("web_1").is_err());
        assert!(check_hostname(".web").is_err());
        assert!(check_hostname(&"a".repeat(254)).is_err());
        assert!(check_agent_id("0190c5a4-7b7e-7cc1-a9f5-2d6f1c0b7e11").is_ok());
        assert!(check_agent_id("a/b").is_err());
        assert!(check_agent_id("").is_err());
    }
}
