//! Passwords (argon2id, hashed off the async threads) and opaque bearer tokens (random,
//! stored as SHA-256, with expiry).

use std::collections::HashMap;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Hashes a password with a fresh random salt (blocking: argon2 takes tens of milliseconds).
fn hash_blocking(password: &[u8]) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))
}

/// Hashes a password on the blocking pool; returns a PHC string.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(password.as_bytes())).await?
}

/// Checks a password against a PHC string on the blocking pool.
pub async fn verify_password(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc)).await.unwrap_or(false)
}

/// Spends the time a password check takes, for a login whose user does not exist: the
/// password is verified against a dummy hash made once (lazily) with the same parameters as
/// real ones, so an unknown user and a wrong password answer after the same time and
/// timing does not tell which user names exist. Always `false`.
pub async fn verify_against_dummy(password: String) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let dummy = DUMMY.get_or_init(|| hash_blocking(b"qun: no such user").unwrap_or_default());
        verify_blocking(&password, dummy);
        false
    })
    .await
    .unwrap_or(false)
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A new opaque token (32 random bytes, URL-safe base64) and the hash we store.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("qun{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A random secret for generated client credentials.
pub fn random_secret(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// Counts failed password logins per (app, user) in one-minute windows, so password guessing
/// is throttled. In memory and per node: a cluster multiplies the allowance by its node count.
///
/// `parking_lot::Mutex` (no poisoning): held only for a map lookup, never across an `.await`.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures_per_window: u32,
    window_ms: u64,
    failures: Mutex<HashMap<(i64, String), (u64, u32)>>,
}

impl LoginThrottle {
    pub fn new(max_failures_per_window: u32) -> Self {
        LoginThrottle { max_failures_per_window, window_ms: 60_000, failures: Mutex::new(HashMap::new()) }
    }

    /// Whether a login attempt may proceed at `now_ms`.
    pub fn allows(&self, app_id: i64, user: &str, now_ms: u64) -> bool {
        let failures = self.failures.lock();
        match failures.get(&(app_id, user.to_owned())) {
            Some(&(window_start, count)) => {
                now_ms.saturating_sub(window_start) >= self.window_ms || count < self.max_failures_per_window
            }
            None => true,
        }
    }

    pub fn record_failure(&self, app_id: i64, user: &str, now_ms: u64) {
        let mut failures = self.failures.lock();
        if failures.len() > 100_000 {
            // Bound the memory an attacker can make us hold: forget windows that are over.
            failures.retain(|_, (start, _)| now_ms.saturating_sub(*start) < self.window_ms);
        }
        let entry = failures.entry((app_id, user.to_owned())).or_insert((now_ms, 0));
        if now_ms.saturating_sub(entry.0) >= self.window_ms {
            *entry = (now_ms, 0);
        }
        entry.1 += 1;
    }

    pub fn record_success(&self, app_id: i64, user: &str) {
        self.failures.lock().remove(&(app_id, user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_round_trip() {
        let hash = hash_password("secret".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("secret".into(), hash.clone()).await);
        assert!(!verify_password("Secret".into(), hash).await);
        assert!(!verify_password("secret".into(), "not a hash".into()).await);
    }

    #[tokio::test]
    async fn the_dummy_check_never_accepts() {
        assert!(!verify_against_dummy("qun: no such user".into()).await);
        assert!(!verify_against_dummy(String::new()).await);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), hash_a);
        assert_eq!(hash_a.len(), 32);
    }

    #[test]
    fn throttle_blocks_after_the_limit_for_one_window() {
        let throttle = LoginThrottle::new(3);
        for _ in 0..3 {
            assert!(throttle.allows(1, "alice", 1_000));
            throttle.record_failure(1, "alice", 1_000);
        }
        assert!(!throttle.allows(1, "alice", 30_000));
        assert!(throttle.allows(1, "bob", 30_000));
        assert!(throttle.allows(1, "alice", 61_000));
        throttle.record_success(1, "alice");
        assert!(throttle.allows(1, "alice", 30_000));
    }
}
