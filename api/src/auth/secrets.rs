//! API key secrets. They are 256 random bits, so a plain SHA-256 is the right storage hash: a
//! slow password hash only helps against guessable secrets, and would make every token exchange
//! cost tens of milliseconds.

use sha2::{Digest, Sha256};

/// Prefix that marks a string as a Logplane secret, so secret scanners can find leaked ones.
const SECRET_PREFIX: &str = "lp_";

pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 64);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
