//! Slowing down password guessing: failed logins are counted per account and
//! per client address; past a limit within a window, further attempts are
//! refused for a delay that doubles with each new failure (429 with
//! `Retry-After`). A successful login clears its account's count.
//!
//! The state is in memory, per process. (No maintained crate counts failures
//! only; rate limiters such as governor count every attempt.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of the throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures per account before attempts are delayed.
    pub per_account: u32,
    /// Failures per client address before attempts are delayed.
    pub per_address: u32,
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
            per_account: 5,
            per_address: 20,
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

/// The failed-login counters of one process.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    state: Mutex<HashMap<String, Failures>>,
}

fn account_key(username: &str) -> String {
    format!("account:{}", username.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: ThrottleLimits) -> Self {
        LoginThrottle {
            limits,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` if the account or the address must wait before trying again.
    pub fn check(&self, username: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let Ok(state) = self.state.lock() else {
            return Ok(());
        };
        let wait = [account_key(username), address_key(address)]
            .iter()
            .filter_map(|key| state.get(key)?.blocked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, address: &str, now: Instant) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.len() > 100_000 {
            let window = self.limits.window;
            state.retain(|_, f| now.saturating_duration_since(f.last) < window);
        }
        for (key, limit) in [
            (account_key(username), self.limits.per_account),
            (address_key(address), self.limits.per_address),
        ] {
            let entry = state.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            if now.saturating_duration_since(entry.last) >= self.limits.window {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= limit {
                let doublings = (entry.count - limit).min(16);
                let delay = self
                    .limits
                    .first_delay
                    .saturating_mul(1 << doublings)
                    .min(self.limits.max_delay);
                entry.blocked_until = Some(now + delay);
            }
        }
    }

    /// Records a successful login: the account's failures are forgotten.
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.remove(&account_key(username));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_account: 3,
            per_address: 5,
            ..ThrottleLimits::default()
        })
    }

    #[test]
    fn an_account_is_slowed_after_repeated_failures_and_the_delay_doubles() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..2 {
            assert!(t.check("Clerk", "10.0.0.1", now).is_ok());
            t.failed("Clerk", "10.0.0.1", now);
        }
        t.failed("clerk", "10.0.0.2", now);
        assert_eq!(
            t.check("CLERK", "10.0.0.9", now),
            Err(Duration::from_secs(30))
        );
        assert!(
            t.check("clerk", "10.0.0.9", now + Duration::from_secs(31))
                .is_ok()
        );
        t.failed("clerk", "10.0.0.3", now + Duration::from_secs(31));
        assert_eq!(
            t.check("clerk", "10.0.0.9", now + Duration::from_secs(31)),
            Err(Duration::from_secs(60))
        );
        assert!(
            t.check("officer", "10.0.0.9", now).is_ok(),
            "other accounts are not affected"
        );
    }

    #[test]
    fn an_address_is_slowed_across_accounts() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..5 {
            t.failed(&format!("user{n}"), "10.0.0.1", now);
        }
        assert!(t.check("someone-else", "10.0.0.1", now).is_err());
        assert!(t.check("someone-else", "10.0.0.2", now).is_ok());
    }

    #[test]
    fn success_clears_the_account_and_old_failures_expire() {
        let t = throttle();
        let now = Instant::now();
        t.failed("clerk", "a", now);
        t.failed("clerk", "b", now);
        t.succeeded("clerk");
        t.failed("clerk", "c", now);
        assert!(t.check("clerk", "d", now).is_ok());
        let later = now + Duration::from_secs(16 * 60);
        t.failed("clerk", "e", later);
        t.failed("clerk", "f", later);
        assert!(
            t.check("clerk", "g", later).is_ok(),
            "failures older than the window do not count"
        );
    }
}
