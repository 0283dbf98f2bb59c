//! Who sent a request: the connection's peer, or, when the peer is a proxy the operator named as
//! trusted (`--trusted-proxies`), the address the proxies recorded in the forwarding header the
//! operator named (`--client-address-header`).
//!
//! The header is read from the right, the end the nearest proxy wrote: every hop that is itself a
//! trusted proxy passes the question one hop further out, and the first hop that is not trusted is
//! the client. Whatever lies left of it was written by the client and is never believed: a client
//! that sends `X-Forwarded-For: 6.6.6.6` through one proxy arrives as `6.6.6.6, <its address>`
//! and is counted by its address. The header is named, not guessed, for the same reason: a
//! proxy that writes `X-Forwarded-For` passes a client's own `Forwarded` header on untouched.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use axum::http::request::Parts;
use forwarded_header_value::{ForwardedStanza, Identifier};
use ipnet::IpNet;

/// The most trusted proxies that may be configured: each request from a trusted peer checks its
/// hops against all of them.
pub const MAX_TRUSTED_PROXIES: usize = 256;

/// The most hops read from a forwarding header. A longer chain is not a chain of proxies anyone
/// runs; its client is taken to be the nearest hop reached.
const MAX_HOPS: usize = 32;

/// The client's address; `None` for requests that came through no connection (tests that call
/// the router in process). Resolved once per request by the request middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    pub fn of(parts: &Parts) -> Self {
        parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or(ClientAddress(None))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

/// The header trusted proxies record the client's address in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardingHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, Envoy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardingHeader {
    fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }

    /// The address of one hop; `None` when the hop names none (`unknown`, an obfuscated
    /// identifier, or text that is not an address), which ends the walk.
    fn hop_address(self, hop: &str) -> Option<IpAddr> {
        match self {
            // Some proxies add the port (`192.0.2.7:4711`, `[2001:db8::1]:4711`).
            Self::XForwardedFor => Identifier::from_str(hop).ok()?.ip(),
            Self::Forwarded => ForwardedStanza::from_str(hop).ok()?.forwarded_for_ip(),
        }
    }
}

/// The proxies whose forwarding headers are believed, and which header that is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardingHeader,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardingHeader) -> Result<Self, String> {
        if networks.len() > MAX_TRUSTED_PROXIES {
            return Err(format!(
                "at most {MAX_TRUSTED_PROXIES} trusted proxy networks, got {}",
                networks.len()
            ));
        }
        Ok(Self { networks, header })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.networks
            .iter()
            .any(|network| network.contains(&address))
    }

    /// The client behind a request that arrived from `peer` with `headers`.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`; networks are
        // written as IPv4.
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut nearest = peer;
        let mut walked = 0;
        // Repeated header lines are one list, in order; the last line is the nearest proxy's.
        for line in headers.get_all(self.header.name()).iter().rev() {
            let Ok(text) = line.to_str() else {
                return nearest;
            };
            for hop in text
                .rsplit(',')
                .map(str::trim)
                .filter(|hop| !hop.is_empty())
            {
                walked += 1;
                if walked > MAX_HOPS {
                    return nearest;
                }
                let Some(address) = self.header.hop_address(hop) else {
                    return nearest;
                };
                let address = address.to_canonical();
                if !self.trusts(address) {
                    return address;
                }
                nearest = address;
            }
        }
        nearest
    }
}

/// Parses one `--trusted-proxies` entry: a network (`10.0.0.0/8`) or a single address.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a network such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(networks: &[&str], header: ForwardingHeader) -> TrustedProxies {
        let networks = networks.iter().map(|n| parse_network(n).unwrap()).collect();
        TrustedProxies::new(networks, header).unwrap()
    }

    fn headers(name: &str, lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                line.parse().unwrap(),
            );
        }
        map
    }

    fn client(proxies: &TrustedProxies, peer: &str, headers: &HeaderMap) -> String {
        proxies
            .client_address(peer.parse().unwrap(), headers)
            .to_string()
    }

    #[test]
    fn a_peer_that_is_not_trusted_is_the_client_whatever_it_claims() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardingHeader::XForwardedFor);
        let claims = headers("x-forwarded-for", &["192.0.2.1"]);
        assert_eq!(client(&trusted, "203.0.113.9", &claims), "203.0.113.9");
        let nobody = TrustedProxies::default();
        assert_eq!(client(&nobody, "10.0.0.1", &claims), "10.0.0.1");
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = proxies(
            &["10.0.0.0/8", "172.16.0.1"],
            ForwardingHeader::XForwardedFor,
        );
        // The client wrote 6.6.6.6 itself; two proxies appended what they saw.
        let chain = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.4, 172.16.0.1"]);
        assert_eq!(client(&trusted, "10.1.2.3", &chain), "198.51.100.4");
        // The same chain over repeated header lines.
        let lines = headers(
            "x-forwarded-for",
            &["6.6.6.6", "198.51.100.4", "172.16.0.1"],
        );
        assert_eq!(client(&trusted, "10.1.2.3", &lines), "198.51.100.4");
        // Ports and brackets are accepted; an IPv4-mapped peer is its IPv4 address.
        let ported = headers("x-forwarded-for", &["[2001:db8::7]:4711"]);
        assert_eq!(client(&trusted, "::ffff:10.0.0.1", &ported), "2001:db8::7");
    }

    #[test]
    fn a_chain_of_trusted_hops_ends_at_its_farthest_and_garbage_at_the_nearest() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardingHeader::XForwardedFor);
        let all_trusted = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.2"]);
        assert_eq!(client(&trusted, "10.0.0.1", &all_trusted), "10.9.9.9");
        // An element that is no address ends the walk at the last hop known, so a client cannot
        // make its own address unreadable and take a proxy's place.
        let garbage = headers(
            "x-forwarded-for",
            &["198.51.100.4, not-an-address, 10.0.0.2"],
        );
        assert_eq!(client(&trusted, "10.0.0.1", &garbage), "10.0.0.2");
        let missing = HeaderMap::new();
        assert_eq!(client(&trusted, "10.0.0.1", &missing), "10.0.0.1");
        // A line that is not text ends the walk too, at the hop after it: what lies beyond it
        // is not believed.
        let mut binary = HeaderMap::new();
        binary.append("x-forwarded-for", "198.51.100.9".parse().unwrap());
        binary.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.4\xff").unwrap(),
        );
        binary.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
        assert_eq!(client(&trusted, "10.0.0.1", &binary), "10.0.0.2");
    }

    #[test]
    fn forwarded_is_read_only_when_named_and_its_for_parameter_is_the_hop() {
        let forwarded = headers(
            "forwarded",
            &[r#"for=198.51.100.4;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.2"#],
        );
        let trusted = proxies(&["10.0.0.0/8"], ForwardingHeader::Forwarded);
        assert_eq!(
            client(&trusted, "10.0.0.1", &forwarded),
            "2001:db8:cafe::17"
        );
        let trusted_v6 = proxies(
            &["10.0.0.0/8", "2001:db8:cafe::/48"],
            ForwardingHeader::Forwarded,
        );
        assert_eq!(client(&trusted_v6, "10.0.0.1", &forwarded), "198.51.100.4");
        // An obfuscated hop names no address: the walk ends at the nearest known.
        let hidden = headers("forwarded", &["for=_hidden, for=10.0.0.3"]);
        assert_eq!(client(&trusted, "10.0.0.1", &hidden), "10.0.0.3");
        // Configured for X-Forwarded-For, a `Forwarded` header is the client's own and ignored.
        let xff_only = proxies(&["10.0.0.0/8"], ForwardingHeader::XForwardedFor);
        assert_eq!(client(&xff_only, "10.0.0.1", &forwarded), "10.0.0.1");
    }

    #[test]
    fn networks_parse_from_cidrs_and_single_addresses_and_are_bounded() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network(" 192.0.2.1 ").unwrap().to_string(),
            "192.0.2.1/32"
        );
        assert_eq!(
            parse_network("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert!(
            parse_network("10.0.0.0/33")
                .unwrap_err()
                .contains("10.0.0.0/33")
        );
        let too_many = vec![parse_network("10.0.0.1").unwrap(); MAX_TRUSTED_PROXIES + 1];
        assert!(TrustedProxies::new(too_many, ForwardingHeader::Forwarded).is_err());
    }
}
