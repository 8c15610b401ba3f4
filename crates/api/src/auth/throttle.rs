//! Slowing down guessing without letting an attacker lock anyone out.
//!
//! **Logins** ([`LoginThrottle`]) are counted per (account, client address)
//! and per client address. An attempt is *reserved* — counted as a failure —
//! before its password is hashed, under one lock, so concurrent attempts
//! cannot all pass a check made before any of them failed: of 40 attempts at
//! once, at most the limit are evaluated and the rest get 429. A success
//! gives its reservation back. Past a limit within the window, further
//! attempts wait for a delay that doubles with each new failure.
//!
//! Failures per account from anywhere are only a high ceiling: crossing it
//! raises an alert (a log line and the `motcua_login_account_ceiling_total`
//! metric) and refuses addresses the account has never logged in from, while
//! its owner, from an address they logged in from before, still gets in. So
//! five wrong passwords from someone else's machine no longer keep `admin` out.
//!
//! **Other guessable things** ([`AttemptLimiter`]): registrations per
//! address, wrong second factors per dossier code on the public look-up.
//!
//! The state is in memory, per process, and bounded (entries older than the
//! window are dropped when the table grows); with several server processes
//! each keeps its own counts, so the effective limits multiply by the number
//! of processes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries a table keeps before old ones are dropped.
const MAX_ENTRIES: usize = 100_000;

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures per (account, address) before attempts are delayed.
    pub per_pair: u32,
    /// Failures per client address before attempts are delayed.
    pub per_address: u32,
    /// Failures per account from anywhere before the alert is raised and
    /// addresses the account never logged in from are refused.
    pub account_ceiling: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// The first delay; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            per_pair: 5,
            per_address: 20,
            account_ceiling: 100,
            window: Duration::from_secs(15 * 60),
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl Failures {
    /// Counts one more failure at `now`; past `limit`, blocks for a delay
    /// that doubles per failure.
    fn add(&mut self, now: Instant, limit: u32, limits: &ThrottleLimits) {
        if now.saturating_duration_since(self.last) >= limits.window {
            self.count = 0;
        }
        self.count += 1;
        self.last = now;
        if self.count >= limit {
            let doublings = (self.count - limit).min(16);
            let delay = limits
                .first_delay
                .saturating_mul(1 << doublings)
                .min(limits.max_delay);
            self.blocked_until = Some(now + delay);
        }
    }

    fn wait(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }
}

fn fresh(now: Instant) -> Failures {
    Failures {
        count: 0,
        last: now,
        blocked_until: None,
    }
}

#[derive(Debug, Default)]
struct LoginState {
    pairs: HashMap<(String, String), Failures>,
    addresses: HashMap<String, Failures>,
    accounts: HashMap<String, Failures>,
    /// (account, address) pairs that logged in successfully, and when.
    known: HashMap<(String, String), Instant>,
}

fn bound<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, keep: impl Fn(&V) -> bool) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, v| keep(v));
    }
    if map.len() >= MAX_ENTRIES {
        // Still full of live entries: forget them rather than grow.
        map.clear();
    }
}

/// The failed-login counters of one process.
#[derive(Debug)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    state: Mutex<LoginState>,
    alerts: Option<prometheus::IntCounter>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottleLimits::default())
    }
}

fn account_of(username: &str) -> String {
    username.trim().to_lowercase()
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: ThrottleLimits) -> Self {
        let alerts = prometheus::IntCounter::new(
            "motcua_login_account_ceiling_total",
            "Times an account crossed the failed-login ceiling (a possible attack on it)",
        )
        .ok();
        LoginThrottle {
            limits,
            state: Mutex::new(LoginState::default()),
            alerts,
        }
    }

    /// The alert counter, for the metrics registry.
    pub fn alerts(&self) -> Option<prometheus::IntCounter> {
        self.alerts.clone()
    }

    /// Reserves an attempt for `username` from `address`: `Err(wait)` if it
    /// must wait, else the attempt is counted as a failure until
    /// [`LoginThrottle::succeeded`] gives it back.
    pub fn reserve(&self, username: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut state) = self.state.lock() else {
            return Err(self.limits.first_delay);
        };
        let account = account_of(username);
        let pair = (account.clone(), address.to_owned());
        let window = self.limits.window;
        let live = |f: &Failures| now.saturating_duration_since(f.last) < window;
        let mut wait = [
            state.pairs.get(&pair).and_then(|f| f.wait(now)),
            state.addresses.get(address).and_then(|f| f.wait(now)),
        ]
        .into_iter()
        .flatten()
        .max();
        // Past the ceiling, unknown addresses wait until the account's
        // failures leave the window (Retry-After says so).
        let ceiling_wait = state
            .accounts
            .get(&account)
            .filter(|f| live(f) && f.count >= self.limits.account_ceiling)
            .map(|f| (f.last + window).saturating_duration_since(now));
        if !state.known.contains_key(&pair) {
            wait = wait.max(ceiling_wait);
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        let limits = self.limits;
        bound(&mut state.pairs, live);
        bound(&mut state.addresses, live);
        bound(&mut state.accounts, live);
        state
            .pairs
            .entry(pair)
            .or_insert_with(|| fresh(now))
            .add(now, limits.per_pair, &limits);
        state
            .addresses
            .entry(address.to_owned())
            .or_insert_with(|| fresh(now))
            .add(now, limits.per_address, &limits);
        let failures = state.accounts.entry(account).or_insert_with(|| fresh(now));
        if now.saturating_duration_since(failures.last) >= window {
            failures.count = 0;
        }
        failures.count += 1;
        failures.last = now;
        if failures.count == limits.account_ceiling {
            if let Some(alerts) = &self.alerts {
                alerts.inc();
            }
            tracing::warn!(
                failures = failures.count,
                "an account crossed the failed-login ceiling; logins from addresses it never \
                 used are refused until the window passes"
            );
        }
        Ok(())
    }

    /// A reserved attempt succeeded: its failure is given back, the pair's
    /// failures are forgotten and the address becomes known for the account.
    pub fn succeeded(&self, username: &str, address: &str, now: Instant) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let account = account_of(username);
        let pair = (account.clone(), address.to_owned());
        state.pairs.remove(&pair);
        if let Some(failures) = state.addresses.get_mut(address) {
            failures.count = failures.count.saturating_sub(1);
        }
        if let Some(failures) = state.accounts.get_mut(&account) {
            failures.count = failures.count.saturating_sub(1);
        }
        let window = self.limits.window.saturating_mul(4 * 24 * 30);
        bound(&mut state.known, |at| {
            now.saturating_duration_since(*at) < window
        });
        state.known.insert(pair, now);
    }
}

/// Counts attempts per key (an address, a dossier code) within a window:
/// past `limit`, the key pauses until the window that began with its first
/// counted attempt ends. Reservation is atomic, so concurrent attempts
/// cannot overshoot the limit.
#[derive(Debug)]
pub struct AttemptLimiter {
    limit: u32,
    window: Duration,
    state: Mutex<HashMap<String, (u32, Instant)>>,
}

impl AttemptLimiter {
    /// At most `limit` attempts per key in each `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        AttemptLimiter {
            limit,
            window,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `key`, or `Err(wait)` when the key is paused.
    pub fn reserve(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut state) = self.state.lock() else {
            return Err(self.window);
        };
        let window = self.window;
        bound(&mut state, |(_, since)| {
            now.saturating_duration_since(*since) < window
        });
        let entry = state.entry(key.to_owned()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        if entry.0 >= self.limit {
            return Err((entry.1 + window).saturating_duration_since(now));
        }
        entry.0 += 1;
        Ok(())
    }

    /// Gives back an attempt that turned out not to count (a right answer).
    pub fn release(&self, key: &str) {
        if let Ok(mut state) = self.state.lock()
            && let Some(entry) = state.get_mut(key)
        {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_pair: 3,
            per_address: 5,
            account_ceiling: 8,
            ..ThrottleLimits::default()
        })
    }

    #[test]
    fn a_pair_is_slowed_after_its_limit_and_the_delay_doubles() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.reserve("Clerk", "10.0.0.1", now).is_ok());
        }
        assert_eq!(
            t.reserve("CLERK", "10.0.0.1", now),
            Err(Duration::from_secs(30))
        );
        let later = now + Duration::from_secs(31);
        assert!(t.reserve("clerk", "10.0.0.1", later).is_ok());
        assert_eq!(
            t.reserve("clerk", "10.0.0.1", later),
            Err(Duration::from_secs(60))
        );
        assert!(
            t.reserve("clerk", "10.0.0.2", now).is_ok(),
            "the owner at another address is not locked out"
        );
    }

    #[test]
    fn reservations_hold_under_concurrency() {
        let t = std::sync::Arc::new(throttle());
        let now = Instant::now();
        let passed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..40)
                .map(|_| {
                    let t = t.clone();
                    scope.spawn(move || t.reserve("admin", "10.0.0.1", now).is_ok())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap_or(false)))
                .sum()
        });
        assert_eq!(passed, 3);
    }

    #[test]
    fn an_address_is_slowed_across_accounts() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..5 {
            assert!(t.reserve(&format!("user{n}"), "10.0.0.1", now).is_ok());
        }
        assert!(t.reserve("someone-else", "10.0.0.1", now).is_err());
        assert!(t.reserve("someone-else", "10.0.0.2", now).is_ok());
    }

    #[test]
    fn past_the_account_ceiling_only_known_addresses_get_in() {
        let t = throttle();
        let now = Instant::now();
        assert!(t.reserve("admin", "owner", now).is_ok());
        t.succeeded("admin", "owner", now);
        for n in 0..8 {
            assert!(t.reserve("admin", &format!("attacker-{n}"), now).is_ok());
        }
        assert_eq!(
            t.alerts().map(|a| a.get()),
            Some(1),
            "the ceiling raised one alert"
        );
        assert_eq!(
            t.reserve("admin", "attacker-99", now),
            Err(Duration::from_secs(15 * 60)),
            "Retry-After: until the failures leave the window"
        );
        assert!(
            t.reserve("admin", "owner", now).is_ok(),
            "the owner's known address"
        );
    }

    #[test]
    fn success_gives_the_reservation_back_and_old_failures_expire() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..2 {
            assert!(t.reserve("clerk", "a", now).is_ok());
        }
        assert!(t.reserve("clerk", "a", now).is_ok());
        t.succeeded("clerk", "a", now);
        assert!(t.reserve("clerk", "a", now).is_ok());
        let later = now + Duration::from_secs(16 * 60);
        for _ in 0..2 {
            assert!(t.reserve("clerk", "b", later).is_ok());
        }
        assert!(t.reserve("clerk", "b", later).is_ok());
    }

    #[test]
    fn an_attempt_limiter_pauses_a_key_for_the_rest_of_its_window() {
        let limiter = AttemptLimiter::new(2, Duration::from_secs(3600));
        let now = Instant::now();
        assert!(limiter.reserve("code", now).is_ok());
        assert!(limiter.reserve("code", now).is_ok());
        let later = now + Duration::from_secs(600);
        assert_eq!(
            limiter.reserve("code", later),
            Err(Duration::from_secs(3000))
        );
        limiter.release("code");
        assert!(limiter.reserve("code", later).is_ok());
        assert!(limiter.reserve("other", later).is_ok());
        assert!(
            limiter
                .reserve("code", now + Duration::from_secs(3600))
                .is_ok()
        );
    }
}
