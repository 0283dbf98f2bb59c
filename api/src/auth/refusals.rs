//! Refused credentials: an unknown API key at the token exchange, an unknown enrollment token,
//! a token that fails verification or names a revoked key. Each is audited, which is a write;
//! so that a flood of bad credentials cannot turn into a flood of writes, each client address
//! has a budget of refusals. Within it a refusal is audited and answered 401; beyond it, 429
//! with `Retry-After` and nothing written. Valid credentials never draw on the budget, so one
//! misconfigured agent behind a NAT does not lock its healthy neighbours out.

use std::net::{IpAddr, Ipv6Addr};

use logplane_model::audit::NewAuditEvent;
use logplane_quota::rate_limit::Budget;

use crate::app::AppState;
use crate::extract::ClientAddress;
use crate::problem::ApiError;

/// The name an address's budget goes by. An IPv6 client is counted by its /64, which one host or
/// site usually holds whole: counting single addresses would let it take a fresh budget with each
/// of its 2^64 addresses.
fn budget_name(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// The answer to a refused credential: audited and 401 with `reason` while the client's address
/// has refusals left, otherwise 429 and not audited.
pub async fn refuse(
    state: &AppState,
    client: ClientAddress,
    mut event: NewAuditEvent,
    reason: String,
) -> ApiError {
    event.client_address = client.0.map(|address| address.to_string());
    if let Some(address) = client.0 {
        let name = budget_name(address);
        if let Err(limited) = state
            .refusal_limits
            .check_name(Budget::ClientAddress, &name)
        {
            return ApiError::RateLimited {
                detail: format!(
                    "too many refused credentials from this address; retry in {} s",
                    limited.retry_after_seconds()
                ),
                limited,
            };
        }
    }
    if let Err(error) = state.store.record_denied(event).await {
        tracing::warn!(%error, "could not record a refused credential");
    }
    ApiError::Unauthorized(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let name = |text: &str| budget_name(text.parse().unwrap());
        assert_eq!(name("192.0.2.7"), "192.0.2.7");
        assert_eq!(name("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(name("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(name("2001:db8:1:2:bbbb::9"), name("2001:db8:1:2:aaaa::1"));
        assert_ne!(name("2001:db8:1:3::1"), name("2001:db8:1:2::1"));
    }
}
