//! Passwords (argon2id, hashed off the async threads, a bounded number at once), opaque bearer tokens (random,
//! stored as SHA-256, with expiry), and the failed-login throttle.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{self, Output, ParamsString, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use qun_proto::{ApiError, ErrorCode};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::rate::{self, Reservation, WindowCounter};

/// Argon2's working memory (19 MiB with the default parameters). Each hashing slot reuses
/// one rather than allocating it per call: with glibc's malloc, freed buffers this large
/// stay with the process (its mmap threshold grows to fit them, and its arenas keep them),
/// so per-call buffers made a busy server's RSS grow to hundreds of MiB and stay there.
type Memory = Vec<Block>;

/// The PHC hash of `password` with these parameters and salt, computed in `memory` (grown
/// to the size the parameters need). What `Argon2::hash_password` computes, bit for bit.
fn compute<'a>(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut Memory,
) -> password_hash::Result<PasswordHash<'a>> {
    let mut salt_buffer = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let params_string = ParamsString::try_from(&params)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let output = Output::init_with(output_len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..blocks])?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: params_string,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Hashes a password with a fresh random salt and the default parameters (argon2id v19,
/// m=19456, t=2, p=1). Blocking: argon2 takes tens of milliseconds.
fn hash_blocking(password: &[u8], memory: &mut Memory) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    compute(Algorithm::default(), Version::default(), Params::default(), password, salt.as_salt(), memory)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))
}

/// Whether `password` matches the PHC string (with the parameters the string names).
fn verify_blocking(password: &str, phc: &str, memory: &mut Memory) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm),
        hash.version.map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    // `Output`'s comparison is constant-time.
    compute(algorithm, version, params, password.as_bytes(), salt, memory)
        .is_ok_and(|computed| computed.hash == Some(expected))
}

/// How long a request waits for a hashing slot before it is refused with 429.
const HASH_WAIT: Duration = Duration::from_secs(2);

/// Bounds the password hashes and checks that run at once. Each argon2 call holds its own
/// ~19 MiB for as long as it runs, so this bounds their memory too (and the blocking pool
/// threads they occupy). A call waits at most `wait` for a slot, then is refused with 429
/// `resource_limited`. The slot goes into the blocking task, so a request abandoned by its
/// client still holds it until its hash is done: the bound holds for work nobody awaits.
#[derive(Debug)]
pub struct HashGate {
    slots: Arc<Semaphore>,
    wait: Duration,
    gauge: Arc<Gauge>,
    /// Working memory for reuse: at most one per slot, made on first use.
    memory: Arc<Mutex<Vec<Memory>>>,
}

/// Hashes running now, and the most that ever ran at once.
#[derive(Debug, Default)]
struct Gauge {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts one running hash while it lives.
struct Running<'a>(&'a Gauge);

impl<'a> Running<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        let now = gauge.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(now, Ordering::SeqCst);
        Running(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashGate {
    /// At most `slots` (at least 1) hashes at once; a call waits at most `wait` for a slot.
    pub fn new(slots: usize, wait: Duration) -> HashGate {
        HashGate { slots: Arc::new(Semaphore::new(slots.max(1))), wait, gauge: Arc::default(), memory: Arc::default() }
    }

    /// The server's gate: one slot per core, a 2 s wait.
    pub fn global() -> &'static HashGate {
        static GATE: OnceLock<HashGate> = OnceLock::new();
        GATE.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            HashGate::new(cores, HASH_WAIT)
        })
    }

    /// Hashes running now.
    pub fn in_flight(&self) -> usize {
        self.gauge.in_flight.load(Ordering::SeqCst)
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.gauge.peak.load(Ordering::SeqCst)
    }

    /// Runs `work` on the blocking pool once a slot is free, with the slot's memory.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => return Err(ApiError::new(ErrorCode::ResourceLimited, "the server is busy, try again later")),
        };
        let (gauge, pool) = (self.gauge.clone(), self.memory.clone());
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _running = Running::enter(&gauge);
            let mut memory = pool.lock().pop().unwrap_or_default();
            let result = work(&mut memory);
            pool.lock().push(memory);
            result
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing task failed");
            ApiError::new(ErrorCode::Internal, "internal error")
        })
    }

    /// Hashes a password; returns a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move |memory| hash_blocking(password.as_bytes(), memory)).await?.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::new(ErrorCode::Internal, "internal error")
        })
    }

    /// Checks a password against a PHC string.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        self.run(move |memory| verify_blocking(&password, &phc, memory)).await
    }

    /// See [`verify_against_dummy`]. `Ok(false)` unless refused.
    pub async fn verify_against_dummy(&self, password: String) -> Result<bool, ApiError> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        self.run(move |memory| {
            let dummy = DUMMY.get_or_init(|| hash_blocking(b"qun: no such user", memory).unwrap_or_default());
            verify_blocking(&password, dummy, memory);
            false
        })
        .await
    }
}

/// Hashes running now in the server's gate (at most one per core).
pub fn hashes_in_flight() -> usize {
    HashGate::global().in_flight()
}

/// Hashes a password on the blocking pool; returns a PHC string. 429 `resource_limited` when
/// no hashing slot frees up in time.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    HashGate::global().hash(password).await
}

/// Checks a password against a PHC string on the blocking pool; 429 as [`hash_password`].
pub async fn verify_password(password: String, phc: String) -> Result<bool, ApiError> {
    HashGate::global().verify(password, phc).await
}

/// Spends the time a password check takes, for a login whose user does not exist: the
/// password is verified against a dummy hash made once (lazily) with the same parameters as
/// real ones, so an unknown user and a wrong password answer after the same time and
/// timing does not tell which user names exist. `Ok(false)`, or 429 as [`hash_password`].
pub async fn verify_against_dummy(password: String) -> Result<bool, ApiError> {
    HashGate::global().verify_against_dummy(password).await
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

/// Failed password logins in one-minute windows, counted per (user, client address) and per
/// client address across users, so that guessing one user's password, and spraying one guess
/// over many users, are both slowed — and a guesser locks the user out only from its own
/// address, never from everywhere. Each attempt reserves its count before the password is
/// checked ([`LoginThrottle::begin`]), so parallel guesses cannot all pass the check; the
/// tables are bounded (see [`crate::rate`]), whatever names an attacker tries.
#[derive(Debug)]
pub struct LoginThrottle {
    per_user_and_address: u32,
    per_address: u32,
    /// (app, client address, hash of the user name): the name is hashed so a key has a fixed
    /// size whatever the request sent; a collision merely shares a window.
    user_and_address: WindowCounter<(i64, IpAddr, u64)>,
    address: WindowCounter<(i64, IpAddr)>,
    names: RandomState,
}

/// Keys each throttle table holds at most (a few MiB each when full).
const THROTTLE_CAPACITY: usize = 65_536;
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);

impl LoginThrottle {
    /// At most `per_user_and_address` failed logins a minute for one user from one address,
    /// and `per_address` from one address across users.
    pub fn new(per_user_and_address: u32, per_address: u32) -> Self {
        LoginThrottle {
            per_user_and_address,
            per_address,
            user_and_address: WindowCounter::new(THROTTLE_CAPACITY, THROTTLE_WINDOW),
            address: WindowCounter::new(THROTTLE_CAPACITY, THROTTLE_WINDOW),
            names: RandomState::new(),
        }
    }

    /// Reserves one failed login of `user` from `client` at `now_ms` before the password is
    /// checked; `None` when either window is full. The attempt then says how it ended; one
    /// that is dropped undecided (refused before the check, or abandoned) counts nothing.
    pub fn begin(&self, app_id: i64, user: &str, client: IpAddr, now_ms: u64) -> Option<LoginAttempt<'_>> {
        let client = rate::address_key(client);
        let user_key = (app_id, client, self.names.hash_one(user));
        let user_and_address = self.user_and_address.reserve(&user_key, self.per_user_and_address, now_ms)?;
        let address = self.address.reserve(&(app_id, client), self.per_address, now_ms)?;
        Some(LoginAttempt { user_and_address, address })
    }

    /// Keys held in the throttle's tables.
    pub fn len(&self) -> usize {
        self.user_and_address.len() + self.address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the throttle's tables hold.
    pub fn capacity(&self) -> usize {
        self.user_and_address.capacity() + self.address.capacity()
    }
}

/// A login whose failure is counted in advance (see [`LoginThrottle::begin`]).
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    user_and_address: Reservation<'a, (i64, IpAddr, u64)>,
    address: Reservation<'a, (i64, IpAddr)>,
}

impl LoginAttempt<'_> {
    /// A wrong password, or no such user: the failure counts.
    pub fn failed(self) {
        self.user_and_address.keep();
        self.address.keep();
    }

    /// The right password: the user's failures from this address are forgotten (the owner
    /// is back), and this attempt is not a failure of the address.
    pub fn succeeded(self) {
        self.user_and_address.forget_key();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_round_trip() {
        let hash = hash_password("secret".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("secret".into(), hash.clone()).await.unwrap());
        assert!(!verify_password("Secret".into(), hash).await.unwrap());
        assert!(!verify_password("secret".into(), "not a hash".into()).await.unwrap());
    }

    #[test]
    fn hashes_match_the_argon2_crates_own_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Vec::new();
        // A hash stored before (made by the crate's own hasher) still verifies, and ours
        // verifies with the crate's verifier.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default().hash_password(b"secret", &salt).unwrap().to_string();
        assert!(verify_blocking("secret", &theirs, &mut memory));
        assert!(!verify_blocking("Secret", &theirs, &mut memory));
        let ours = hash_blocking(b"secret", &mut memory).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"secret", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"secrets", &parsed).is_err());
        // Other parameters than the defaults are read from the string.
        let small = Params::new(1024, 1, 1, None).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, small).hash_password(b"pw", &salt).unwrap();
        assert!(verify_blocking("pw", &other.to_string(), &mut memory));
        assert!(!verify_blocking("pw", "$argon2id$v=19$m=19456,t=2,p=1$bm90IGEgaGFzaA", &mut memory));
    }

    #[tokio::test]
    async fn the_dummy_check_never_accepts() {
        assert!(!verify_against_dummy("qun: no such user".into()).await.unwrap());
        assert!(!verify_against_dummy(String::new()).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_the_gate_has_slots() {
        let gate = Arc::new(HashGate::new(2, Duration::from_secs(600)));
        let phc = hash_blocking(b"pw", &mut Vec::new()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (gate, phc) = (gate.clone(), phc.clone());
            tasks.push(tokio::spawn(async move {
                if i % 3 == 0 {
                    gate.hash(format!("pw-{i}")).await.map(|_| true)
                } else if i % 3 == 1 {
                    gate.verify("pw".into(), phc).await
                } else {
                    gate.verify_against_dummy("pw".into()).await.map(|ok| !ok)
                }
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(true));
        }
        assert!((1..=2).contains(&gate.peak()), "12 calls at once run at most 2 at a time: {}", gate.peak());
        assert_eq!(gate.in_flight(), 0);
        assert!((1..=2).contains(&gate.memory.lock().len()), "one working memory per slot at most");
        assert!(hashes_in_flight() <= std::thread::available_parallelism().unwrap().get());
    }

    #[tokio::test]
    async fn a_call_that_finds_no_slot_in_time_is_refused_with_429() {
        let gate = HashGate::new(1, Duration::from_millis(1));
        let held = gate.slots.clone().acquire_owned().await.unwrap();
        let refused = gate.hash("pw".into()).await.unwrap_err();
        assert_eq!((refused.code, refused.code.http_status()), (ErrorCode::ResourceLimited, 429));
        assert_eq!(refused.code.error_name(), "resource_limited");
        assert_eq!(gate.verify("pw".into(), "x".into()).await.unwrap_err().code, ErrorCode::ResourceLimited);
        assert_eq!(gate.verify_against_dummy("pw".into()).await.unwrap_err().code, ErrorCode::ResourceLimited);
        assert_eq!(gate.peak(), 0, "nothing ran");
        drop(held);
        assert!(gate.hash("pw".into()).await.unwrap().starts_with("$argon2id$"));
        assert_eq!(gate.peak(), 1);
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
    fn the_throttle_counts_per_user_and_address_and_per_address() {
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let there: IpAddr = "198.51.100.1".parse().unwrap();
        let throttle = LoginThrottle::new(3, 5);
        for _ in 0..3 {
            throttle.begin(1, "alice", here, 1_000).expect("under the limit").failed();
        }
        assert!(throttle.begin(1, "alice", here, 30_000).is_none(), "alice is locked out from here");
        assert!(throttle.begin(1, "alice", there, 30_000).is_some(), "but not from elsewhere");
        assert!(throttle.begin(2, "alice", here, 30_000).is_some(), "nor in another app");
        throttle.begin(1, "bob", here, 30_000).expect("another user").failed();
        throttle.begin(1, "carol", here, 30_000).expect("another user").failed();
        assert!(throttle.begin(1, "dave", here, 30_000).is_none(), "5 failures from here across users");
        assert!(throttle.begin(1, "alice", here, 61_000).is_some(), "a minute later");

        // An attempt dropped undecided counts nothing; a success forgets the user's failures.
        let throttle = LoginThrottle::new(2, 100);
        throttle.begin(1, "alice", here, 0).expect("first").failed();
        let undecided = throttle.begin(1, "alice", here, 0).expect("second");
        assert!(throttle.begin(1, "alice", here, 0).is_none(), "reserved before the check");
        drop(undecided);
        throttle.begin(1, "alice", here, 0).expect("given back").succeeded();
        throttle.begin(1, "alice", here, 0).expect("forgotten").failed();
        throttle.begin(1, "alice", here, 0).expect("one failure so far").failed();
        assert!(throttle.begin(1, "alice", here, 0).is_none());
    }

    #[test]
    fn the_throttle_is_bounded_whatever_names_are_tried() {
        let throttle = LoginThrottle::new(10, 10);
        for i in 0..200_000u32 {
            let client = IpAddr::from((u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + i / 4).to_be_bytes());
            if let Some(attempt) = throttle.begin(1, &format!("ghost{i}"), client, u64::from(i) / 100) {
                attempt.failed();
            }
        }
        assert!(throttle.len() <= throttle.capacity(), "{} keys", throttle.len());
        assert!(throttle.capacity() <= 2 * THROTTLE_CAPACITY + 2 * 64);
    }
}
