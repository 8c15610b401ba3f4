//! Argon2id password hashing at the OWASP-recommended parameters (argon2's
//! defaults: m = 19 MiB, t = 2, p = 1). Hashing is slow on purpose. Request
//! handlers hash through [`Passwords::hash_bounded`] and
//! [`Passwords::verify_bounded`], on the hasher's own pool of N threads
//! (N = half the cores, at least 1, by default, `MOTCUA_PASSWORD_HASHERS`),
//! which run only when nothing else wants the cores; a request that cannot
//! get a turn within [`HASH_WAIT`] gets 429 with `Retry-After`. So a storm of
//! logins or registrations holds at most N × 19 MiB — on N threads, whose
//! allocator arenas are reused hash after hash, rather than on whichever of
//! the blocking pool's many threads is free — and database work keeps the
//! blocking pool to itself (measured: docs/security.md).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::error::ApiError;

/// How long a request waits for a turn to hash before it is refused.
pub const HASH_WAIT: Duration = Duration::from_secs(3);

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    /// A hash of a random password, verified against when the username is
    /// unknown, so that unknown users take as long as known ones.
    dummy: String,
    /// Turns to hash: at most this many hashes run or wait in the pool.
    turns: Arc<Semaphore>,
    /// The pool's queue (as long as there are turns, so a send never blocks).
    jobs: SyncSender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Makes the calling (hashing) thread run only when the cores have nothing
/// else to do: Linux's `SCHED_IDLE` policy, under which a request or
/// database thread that wakes up takes the core at once; elsewhere, or if
/// that is refused, the lowest priority (nice 19). Measured on 2 cores: the
/// read p99 during 50 concurrent logins was 2.6–3.3× its value alone with
/// nice 10, 1.8–3.1× with `SCHED_IDLE` (docs/performance.md, P7).
fn yield_the_cores() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::ThreadPriority;
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_ok() {
            return;
        }
    }
    #[cfg(unix)]
    if let Err(error) = rustix::process::nice(19) {
        tracing::warn!(%error, "the hashing thread keeps its priority");
    }
}

/// Starts `threads` hashing threads that take jobs from one queue, and
/// returns once each has yielded the cores; they end when the last
/// [`Passwords`] clone is dropped.
fn hashing_pool(threads: usize) -> Result<SyncSender<Job>, String> {
    let (jobs, queue): (SyncSender<Job>, Receiver<Job>) = sync_channel(threads);
    let queue = Arc::new(Mutex::new(queue));
    let (started, ready) = std::sync::mpsc::channel();
    for n in 0..threads {
        let queue = Arc::clone(&queue);
        let started = started.clone();
        std::thread::Builder::new()
            .name(format!("motcua-hash-{n}"))
            .spawn(move || {
                // Hashing yields the cores to everything else: requests and
                // the database run first, logins take what is left.
                yield_the_cores();
                let _ = started.send(());
                loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| format!("cannot start a hashing thread: {e}"))?;
    }
    for _ in 0..threads {
        ready
            .recv()
            .map_err(|_| "a hashing thread ended at start".to_owned())?;
    }
    Ok(jobs)
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords")
    }
}

impl Passwords {
    /// Prepares the hasher (computes the dummy hash once), with one turn per
    /// two cores (at least one): a storm of logins then leaves the other
    /// cores to everything else (on 2 cores, the read p99 during 50
    /// concurrent logins went from 6.4× to 3.1× its value alone, and the
    /// storm's peak from 272 to 123 MiB; docs/performance.md).
    pub fn new() -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_hashers((cores / 2).max(1))
    }

    /// Prepares the hasher with a pool of `hashers` threads (at most that
    /// many hashes at once).
    pub fn with_hashers(hashers: usize) -> Result<Self, String> {
        let hashers = hashers.max(1);
        let random = uuid::Uuid::new_v4().to_string();
        Ok(Passwords {
            dummy: hash(&random)?,
            turns: Arc::new(Semaphore::new(hashers)),
            jobs: hashing_pool(hashers)?,
        })
    }

    /// Runs `work` on the hashing pool once a turn is free (429 if none frees up in time).
    async fn in_turn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::TooManyRequests {
            retry_after: Duration::from_secs(2),
        };
        let turn = tokio::time::timeout(HASH_WAIT, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _turn = turn;
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::Internal("the hashing pool has stopped".into()))?;
        result
            .await
            .map_err(|_| ApiError::Internal("a hashing job was dropped".into()))
    }

    /// [`Passwords::hash`], in turn with every other hash of the process.
    pub async fn hash_bounded(&self, password: String) -> Result<String, ApiError> {
        let hasher = self.clone();
        self.in_turn(move || hasher.hash(&password))
            .await?
            .map_err(ApiError::Internal)
    }

    /// [`Passwords::verify`], in turn with every other hash of the process.
    pub async fn verify_bounded(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let hasher = self.clone();
        self.in_turn(move || hasher.verify(&password, stored.as_deref()))
            .await
    }

    /// An Argon2id PHC string for `password`, with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        hash(password)
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// user), verifies against the dummy hash and answers `false`, spending
    /// the same time.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        match stored {
            Some(hash) => matches(password, hash),
            None => {
                let _ = matches(password, &self.dummy);
                false
            }
        }
    }
}

/// Runs Argon2 into `out` with working memory that goes back to the
/// operating system when the hash is done. The memory is reserved as 33
/// MiB though the hash uses only its 19: glibc maps a request above its
/// largest threshold (32 MiB) afresh and unmaps it on free, whereas a
/// freed 19 MiB block raises the threshold and the next one stays in the
/// thread's heap for good (two logins left an idle server 39 MiB larger;
/// docs/performance.md, P6). The unused part is never touched, so it takes
/// no memory.
fn run_argon2(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    const RESERVED_BLOCKS: usize = (33 << 20) / std::mem::size_of::<Block>();
    let blocks = argon2.params().block_count();
    let mut memory = Vec::with_capacity(blocks.max(RESERVED_BLOCKS));
    memory.resize(blocks, Block::default());
    argon2.hash_password_into_with_memory(password, salt, out, &mut memory)
}

/// An Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`)
/// with a fresh 16-byte random salt.
fn hash(password: &str) -> Result<String, String> {
    let argon2 = Argon2::default();
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    run_argon2(&argon2, password.as_bytes(), &salt, &mut out).map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `stored` (a PHC string, under the
/// algorithm, version and parameters it names); compared in constant time.
fn matches(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed))
    else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    run_argon2(
        &Argon2::new(algorithm, version, params),
        password.as_bytes(),
        salt,
        &mut out,
    )
    .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// Passwords people commonly choose, refused outright.
const COMMON: [&str; 12] = [
    "password",
    "password1",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "matkhau123",
    "motcua123",
    "abc123456",
    "iloveyou",
    "admin12345",
    "11111111",
];

/// The password policy (NIST SP 800-63B style): 10 to 128 characters, not a
/// common password, not containing the username, not one repeated character.
/// Returns the reason a person can act on.
pub fn check_password_policy(password: &str, username: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < 10 {
        return Err("must be at least 10 characters long".into());
    }
    if length > 128 {
        return Err("must be at most 128 characters long".into());
    }
    let lower = password.to_lowercase();
    if COMMON.iter().any(|c| lower == *c) {
        return Err("is too common; choose a less predictable password".into());
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err("must not contain the username".into());
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Err("must not be one character repeated".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let passwords = Passwords::new().unwrap_or_else(|e| panic!("{e}"));
        let hash = passwords
            .hash("Tiên Sơn 2026!")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords.verify("Tiên Sơn 2026!", Some(&hash)));
        assert!(!passwords.verify("Tiên Sơn 2025!", Some(&hash)));
        assert!(!passwords.verify("Tiên Sơn 2026!", None));
        assert!(!passwords.verify("x", Some("not a hash")));
        assert_ne!(
            passwords.hash("same").ok(),
            passwords.hash("same").ok(),
            "salted"
        );
    }

    /// The hashing threads run under `SCHED_IDLE` (policy 5 in
    /// `/proc/…/sched`), as the cores' last claim.
    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_threads_only_take_idle_cores() {
        let _passwords = Passwords::with_hashers(2).unwrap_or_else(|e| panic!("{e}"));
        let policies: Vec<String> = std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.starts_with("motcua-hash-"))
            })
            .filter_map(|task| std::fs::read_to_string(task.path().join("sched")).ok())
            .filter_map(|sched| {
                sched
                    .lines()
                    .find(|line| line.starts_with("policy"))
                    .map(|line| line.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .collect();
        assert!(policies.len() >= 2, "{policies:?}");
        assert!(policies.iter().all(|policy| policy == "5"), "{policies:?}");
    }

    /// Hashes stored before motcua ran Argon2 in its own memory (by the
    /// argon2 crate's hasher) still verify, and the crate's verifier
    /// accepts motcua's: the same PHC strings, either way.
    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let passwords = Passwords::new().unwrap_or_else(|e| panic!("{e}"));
        let theirs = Argon2::default()
            .hash_password(b"Phu Lang 2026!")
            .map(|h| h.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(passwords.verify("Phu Lang 2026!", Some(&theirs)));
        assert!(!passwords.verify("Phu Lang 2025!", Some(&theirs)));
        let ours = passwords
            .hash("Dai Dong 2026!")
            .unwrap_or_else(|e| panic!("{e}"));
        let parsed = PasswordHash::new(&ours).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            Argon2::default()
                .verify_password(b"Dai Dong 2026!", &parsed)
                .is_ok()
        );
        // Other parameters named in a stored hash are honoured.
        let lighter = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).unwrap_or_else(|e| panic!("{e}")),
        )
        .hash_password(b"nhe hon")
        .map(|h| h.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(lighter.contains("m=8192,t=3,p=1"));
        assert!(passwords.verify("nhe hon", Some(&lighter)));
    }

    #[test]
    fn the_policy_explains_itself() {
        assert_eq!(
            check_password_policy("short", "an"),
            Err("must be at least 10 characters long".into())
        );
        assert!(check_password_policy("Password1", "an").is_err());
        assert!(check_password_policy("password1!", "x").is_ok());
        assert!(check_password_policy("1234567890", "x").is_err());
        assert!(check_password_policy("my-clerk.tien-son", "clerk.tien-son").is_err());
        assert!(check_password_policy("aaaaaaaaaaaa", "x").is_err());
        assert!(check_password_policy(&"x1".repeat(65), "y").is_err());
        assert!(check_password_policy("motcua-demo", "clerk").is_ok());
    }
}
