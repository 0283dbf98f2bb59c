//! Access tokens: short-lived JWTs signed with HS256 under a secret every replica shares (kept in
//! the store, or read from `--signing-key-file`). The algorithm is pinned, and `exp`, `iss`,
//! `aud` and `sub` are required, so `alg: none`, algorithm confusion and stripped claims all fail
//! verification. Each kind of caller has its own audience.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use logplane_model::{Caller, Role};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "logplane";
const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock skew tolerated between replicas, in seconds.
const LEEWAY_SECONDS: u64 = 5;
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The API key (or agent) the token was minted for.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub role: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is invalid: {0}")]
    Invalid(String),
}

pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl TokenService {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        debug_assert!(
            secret.len() >= MIN_SIGNING_KEY_BYTES,
            "HS256 keys shorter than the hash are weak"
        );
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn mint(&self, caller: &Caller) -> Result<String, TokenError> {
        let now = unix_seconds();
        let claims = Claims {
            iss: ISSUER.to_string(),
            aud: caller.role.audience().to_string(),
            sub: caller.key_id.clone(),
            tenant: caller.tenant.clone(),
            role: caller.role.as_str().to_string(),
            exp: now + self.ttl.as_secs(),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Verifies signature, algorithm, issuer, expiry and that the token was issued for `audience`.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.leeway = LEEWAY_SECONDS;
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if Role::parse(&data.claims.role).is_none() {
            return Err(TokenError::Invalid(format!(
                "unknown role {:?}",
                data.claims.role
            )));
        }
        Ok(data.claims)
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logplane_model::authz::{AUDIENCE_API, AUDIENCE_WORKER};

    fn service() -> TokenService {
        TokenService::new(&[7u8; 32], Duration::from_secs(60))
    }

    fn editor() -> Caller {
        Caller {
            key_id: "key-1".into(),
            role: Role::Editor,
            tenant: Some("acme".into()),
        }
    }

    #[test]
    fn a_minted_token_verifies_for_its_audience_only() {
        let service = service();
        let token = service.mint(&editor()).unwrap();
        let claims = service.verify(&token, AUDIENCE_API).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.tenant.as_deref(),
                claims.role.as_str()
            ),
            ("key-1", Some("acme"), "editor")
        );
        assert!(service.verify(&token, AUDIENCE_WORKER).is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = TokenService::new(&[8u8; 32], Duration::from_secs(60));
        let token = other.mint(&editor()).unwrap();
        assert!(service().verify(&token, AUDIENCE_API).is_err());
    }
}
