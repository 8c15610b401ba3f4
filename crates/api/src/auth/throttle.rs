//! Slowing down guessing without letting an attacker lock anyone out.
//!
//! **Logins** ([`LoginThrottle`]) are counted per (account, client address)
//! and per client address. An attempt is *reserved* — counted as a failure —
//! before its password is hashed, in one short transaction that locks the
//! pair's and the address's counts, so concurrent attempts cannot all pass
//! a check made before any of them failed: of 40 attempts at once, at most the limit are
//! evaluated and the rest get 429. A success gives its reservation back.
//! Past a limit within the window, further attempts wait for a delay that
//! doubles with each new failure.
//!
//! Failures per account from anywhere are only a high ceiling, counted by one
//! atomic update after that transaction (a storm on one account does not
//! queue on its row; the ceiling may be crossed by the attempts in flight
//! when it is reached): crossing it
//! raises an alert (a log line and the `motcua_login_account_ceiling_total`
//! metric) and refuses addresses the account has never logged in from, while
//! its owner, from an address they logged in from before, still gets in. So
//! five wrong passwords from someone else's machine no longer keep `admin` out.
//!
//! **Other guessable things** ([`AttemptLimiter`]): registrations per
//! address, wrong second factors per dossier code on the public look-up.
//!
//! **Rates** ([`RateLimiter`]): the public endpoints' requests per address,
//! a burst and then one per interval.
//!
//! The counts are in the database (`motcua_persistence::throttle`), so every
//! server on it counts the same attempts: two servers allow no more than
//! one. Counts older than their window are forgotten now and then.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use motcua_persistence::throttle::{self, Counter, Kind};
use motcua_persistence::{Db, DbConnection, DbError};

use crate::error::ApiError;

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

/// How long an address an account logged in from stays known.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Every this many counted attempts a server forgets expired counts.
const FORGET_EVERY: u32 = 500;

/// Counts a call on `calls`; every [`FORGET_EVERY`]th runs `forget` in its
/// own write (a failure is only logged as `what`: the counts stay, and are
/// forgotten next time).
fn now_and_then(
    calls: &AtomicU32,
    db: &Db,
    what: &str,
    forget: impl FnOnce(&mut DbConnection) -> Result<usize, DbError>,
) {
    if calls
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(FORGET_EVERY)
        && let Err(error) = db.write(forget)
    {
        tracing::warn!(%error, "{what} could not be forgotten");
    }
}

fn chrono(duration: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}

/// How long until `until`, if it is still ahead.
fn until(until: DateTime<Utc>, now: DateTime<Utc>) -> Option<Duration> {
    (until - now).to_std().ok().filter(|wait| !wait.is_zero())
}

/// Counts one more failure at `now` (a count out of its window starts
/// over); past `limit`, blocks for a delay that doubles per failure.
fn add_failure(counter: &mut Counter, now: DateTime<Utc>, limit: u32, limits: &ThrottleLimits) {
    if now - counter.last_at >= chrono(limits.window) {
        counter.count = 0;
    }
    counter.count += 1;
    counter.last_at = now;
    if counter.count >= limit {
        let doublings = (counter.count - limit).min(16);
        let delay = limits
            .first_delay
            .saturating_mul(1 << doublings)
            .min(limits.max_delay);
        counter.blocked_until = Some(now + chrono(delay));
    }
}

fn blocked(counter: &Counter, now: DateTime<Utc>) -> Option<Duration> {
    counter.blocked_until.and_then(|at| until(at, now))
}

fn account_of(username: &str) -> String {
    username.trim().to_lowercase()
}

/// The key of an (account, address) pair.
fn pair_key(account: &str, address: &str) -> String {
    format!("{account}\n{address}")
}

/// A refusal: wait this long (429 with `Retry-After`). Returned from inside
/// the transaction, so a refused attempt writes nothing.
fn refused(retry_after: Duration) -> ApiError {
    ApiError::TooManyRequests { retry_after }
}

/// The failed-login throttle (its counts are in the database).
#[derive(Debug)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    alerts: Option<prometheus::IntCounter>,
    attempts: AtomicU32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottleLimits::default())
    }
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
            alerts,
            attempts: AtomicU32::new(0),
        }
    }

    /// The alert counter, for the metrics registry.
    pub fn alerts(&self) -> Option<prometheus::IntCounter> {
        self.alerts.clone()
    }

    /// Reserves an attempt for `username` from `address`: 429 with the wait
    /// if it must wait, else the attempt is counted as a failure until
    /// [`LoginThrottle::succeeded`] gives it back. Blocking.
    pub fn reserve(
        &self,
        db: &Db,
        username: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let account = account_of(username);
        let verdict = db.write(|conn| self.reserve_in(conn, &account, address, now));
        if verdict.is_ok() {
            // The account's failures from everywhere: counted outside the
            // transaction, so a storm on one account does not queue on its row.
            let stale = now - chrono(self.limits.window);
            let failures =
                db.write(|conn| throttle::bump(conn, Kind::Account, &account, now, stale))?;
            if failures == self.limits.account_ceiling {
                if let Some(alerts) = &self.alerts {
                    alerts.inc();
                }
                tracing::warn!(
                    failures,
                    "an account crossed the failed-login ceiling; logins from addresses it never \
                     used are refused until the window passes"
                );
            }
        }
        self.now_and_then(db, now);
        verdict
    }

    fn reserve_in(
        &self,
        conn: &mut DbConnection,
        account: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let limits = self.limits;
        let pair = pair_key(account, address);
        // Always in this order, so two attempts never wait for each other's locks.
        let mut by_pair = throttle::lock(conn, Kind::Pair, &pair, now)?;
        let mut by_address = throttle::lock(conn, Kind::Address, address, now)?;
        let by_account = throttle::peek(conn, Kind::Account, account, now)?;
        let known = throttle::peek(conn, Kind::Known, &pair, now)?;
        let mut wait = blocked(&by_pair, now).max(blocked(&by_address, now));
        // Past the ceiling, unknown addresses wait until the account's
        // failures leave the window (Retry-After says so).
        let window = chrono(limits.window);
        if known.count == 0
            && now - by_account.last_at < window
            && by_account.count >= limits.account_ceiling
        {
            wait = wait.max(until(by_account.last_at + window, now));
        }
        if let Some(wait) = wait {
            return Err(refused(wait));
        }
        add_failure(&mut by_pair, now, limits.per_pair, &limits);
        add_failure(&mut by_address, now, limits.per_address, &limits);
        throttle::store(conn, Kind::Pair, &pair, &by_pair)?;
        throttle::store(conn, Kind::Address, address, &by_address)?;
        Ok(())
    }

    /// A reserved attempt succeeded: its failure is given back, the pair's
    /// failures are forgotten and the address becomes known for the
    /// account. Blocking.
    pub fn succeeded(
        &self,
        db: &Db,
        username: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let account = account_of(username);
        let pair = pair_key(&account, address);
        db.write(|conn| -> Result<(), DbError> {
            throttle::lock(conn, Kind::Pair, &pair, now)?;
            let mut by_address = throttle::lock(conn, Kind::Address, address, now)?;
            let mut known = throttle::lock(conn, Kind::Known, &pair, now)?;
            throttle::store(conn, Kind::Pair, &pair, &Counter::fresh(now))?;
            by_address.count = by_address.count.saturating_sub(1);
            throttle::store(conn, Kind::Address, address, &by_address)?;
            known.count = 1;
            known.last_at = now;
            throttle::store(conn, Kind::Known, &pair, &known)
        })?;
        db.write(|conn| throttle::take_back(conn, Kind::Account, &account))?;
        Ok(())
    }

    /// Now and then, forgets counts that left their window.
    fn now_and_then(&self, db: &Db, now: DateTime<Utc>) {
        let window = chrono(self.limits.window.max(self.limits.max_delay));
        now_and_then(&self.attempts, db, "expired login counts", |conn| {
            throttle::forget(
                conn,
                &[Kind::Pair, Kind::Address, Kind::Account],
                now - window,
            )?;
            throttle::forget(conn, &[Kind::Known], now - chrono(KNOWN_FOR))
        });
    }
}

/// Counts attempts per key (an address, a dossier code) within a window:
/// past `limit`, the key pauses until the window that began with its first
/// counted attempt ends. Reservation locks the key's count, so concurrent
/// attempts cannot overshoot the limit; the count is in the database.
#[derive(Debug)]
pub struct AttemptLimiter {
    kind: Kind,
    limit: u32,
    window: Duration,
    attempts: AtomicU32,
}

impl AttemptLimiter {
    /// At most `limit` attempts per key of `kind` in each `window`.
    pub fn new(kind: Kind, limit: u32, window: Duration) -> Self {
        AttemptLimiter {
            kind,
            limit,
            window,
            attempts: AtomicU32::new(0),
        }
    }

    /// Counts an attempt for `key`, or 429 with the wait when the key is
    /// paused. Blocking.
    pub fn reserve(&self, db: &Db, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let window = chrono(self.window);
        let verdict = db.write(|conn| -> Result<(), ApiError> {
            let mut counter = throttle::lock(conn, self.kind, key, now)?;
            if now - counter.first_at >= window {
                counter = Counter::fresh(now);
            }
            if counter.count >= self.limit {
                return Err(refused(
                    until(counter.first_at + window, now).unwrap_or_default(),
                ));
            }
            counter.count += 1;
            counter.last_at = now;
            throttle::store(conn, self.kind, key, &counter)?;
            Ok(())
        });
        now_and_then(&self.attempts, db, "expired attempt counts", |conn| {
            throttle::forget(conn, &[self.kind], now - window)
        });
        verdict
    }

    /// Gives back an attempt that turned out not to count (a right answer).
    /// Blocking.
    pub fn release(&self, db: &Db, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        db.write(|conn| -> Result<(), DbError> {
            let mut counter = throttle::lock(conn, self.kind, key, now)?;
            counter.count = counter.count.saturating_sub(1);
            throttle::store(conn, self.kind, key, &counter)
        })?;
        Ok(())
    }
}

/// A rate per key: a burst of `burst` requests, then one per `interval` —
/// a leaky bucket whose level is the counter's `count` and which last
/// leaked at its `last_at`. Each request locks its key's counter for one
/// short transaction, so requests at once through any number of servers on
/// the database pass no more than the burst.
#[derive(Debug)]
pub struct RateLimiter {
    kind: Kind,
    burst: u32,
    interval: Duration,
    calls: AtomicU32,
}

impl RateLimiter {
    /// A burst of `burst` requests per key of `kind`, then one per `interval`.
    pub fn new(kind: Kind, burst: u32, interval: Duration) -> Self {
        RateLimiter {
            kind,
            burst,
            interval,
            calls: AtomicU32::new(0),
        }
    }

    /// Lets a request of `key` through at `now`, or 429 with the wait until
    /// the bucket has room. Blocking.
    pub fn reserve(&self, db: &Db, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let interval = chrono(self.interval);
        let verdict = db.write(|conn| -> Result<(), ApiError> {
            let mut bucket = throttle::lock(conn, self.kind, key, now)?;
            leak(&mut bucket, now, interval);
            if bucket.count >= self.burst {
                return Err(refused(
                    until(bucket.last_at + interval, now).unwrap_or_default(),
                ));
            }
            if bucket.count == 0 {
                bucket.last_at = now;
            }
            bucket.count += 1;
            throttle::store(conn, self.kind, key, &bucket)?;
            Ok(())
        });
        // A bucket untouched for `burst` intervals is empty: forget it.
        let empty_since = now - interval * i32::try_from(self.burst).unwrap_or(i32::MAX);
        now_and_then(&self.calls, db, "empty rate buckets", |conn| {
            throttle::forget(conn, &[self.kind], empty_since)
        });
        verdict
    }
}

/// Lets the bucket leak one request per whole `interval` since it last
/// leaked; an emptied bucket's clock starts again at `now`.
fn leak(bucket: &mut Counter, now: DateTime<Utc>, interval: chrono::TimeDelta) {
    let elapsed = now - bucket.last_at;
    if interval <= chrono::TimeDelta::zero() {
        bucket.count = 0;
        return;
    }
    if elapsed < interval {
        return;
    }
    let intervals = elapsed.num_microseconds().unwrap_or(i64::MAX)
        / interval.num_microseconds().unwrap_or(i64::MAX).max(1);
    match u32::try_from(intervals) {
        Ok(leaked) if leaked < bucket.count => {
            bucket.count -= leaked;
            bucket.last_at += interval * i32::try_from(leaked).unwrap_or(i32::MAX);
        }
        _ => {
            bucket.count = 0;
            bucket.last_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_persistence::Backend;
    use motcua_persistence::testing::TestDb;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_pair: 3,
            per_address: 5,
            account_ceiling: 8,
            ..ThrottleLimits::default()
        })
    }

    /// The seconds to wait, or `None` to go ahead.
    fn wait(result: Result<(), ApiError>) -> Option<u64> {
        match result {
            Ok(()) => None,
            Err(ApiError::TooManyRequests { retry_after }) => Some(retry_after.as_secs()),
            Err(other) => panic!("{other}"),
        }
    }

    /// Now, in whole seconds (stored instants keep microseconds: a wait
    /// computed from one may fall a fraction short of the whole second).
    fn now() -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(0)
    }

    fn later(at: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        at + chrono::TimeDelta::seconds(seconds)
    }

    /// Runs `test` on a fresh database of each backend (PostgreSQL where reachable).
    fn on_both(test: impl Fn(&Db)) {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if let Some(database) = TestDb::migrated(backend) {
                test(&database.open());
            }
        }
    }

    #[test]
    fn a_pair_is_slowed_after_its_limit_and_the_delay_doubles() {
        on_both(|db| {
            let (t, now) = (throttle(), now());
            for _ in 0..3 {
                assert_eq!(wait(t.reserve(db, "Clerk", "10.0.0.1", now)), None);
            }
            assert_eq!(wait(t.reserve(db, "CLERK", "10.0.0.1", now)), Some(30));
            let later = later(now, 31);
            assert_eq!(wait(t.reserve(db, "clerk", "10.0.0.1", later)), None);
            assert_eq!(wait(t.reserve(db, "clerk", "10.0.0.1", later)), Some(60));
            assert_eq!(
                wait(t.reserve(db, "clerk", "10.0.0.2", now)),
                None,
                "the owner at another address is not locked out"
            );
        });
    }

    /// 40 attempts at once from threads with their own connections, and
    /// from two throttles (two servers) on the same database: exactly the
    /// limit gets through.
    #[test]
    fn reservations_hold_under_concurrency_across_servers() {
        on_both(|db| {
            let (first, second, now) = (throttle(), throttle(), now());
            let passed: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..40)
                    .map(|n| {
                        let t = if n % 2 == 0 { &first } else { &second };
                        scope.spawn(move || t.reserve(db, "admin", "10.0.0.1", now).is_ok())
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| usize::from(h.join().unwrap_or(false)))
                    .sum()
            });
            assert_eq!(passed, 3);
        });
    }

    #[test]
    fn an_address_is_slowed_across_accounts() {
        on_both(|db| {
            let (t, now) = (throttle(), now());
            for n in 0..5 {
                assert_eq!(
                    wait(t.reserve(db, &format!("user{n}"), "10.0.0.1", now)),
                    None
                );
            }
            assert!(wait(t.reserve(db, "someone-else", "10.0.0.1", now)).is_some());
            assert_eq!(wait(t.reserve(db, "someone-else", "10.0.0.2", now)), None);
        });
    }

    #[test]
    fn past_the_account_ceiling_only_known_addresses_get_in() {
        on_both(|db| {
            let (t, now) = (throttle(), now());
            assert_eq!(wait(t.reserve(db, "admin", "owner", now)), None);
            assert!(t.succeeded(db, "admin", "owner", now).is_ok());
            for n in 0..8 {
                assert_eq!(
                    wait(t.reserve(db, "admin", &format!("attacker-{n}"), now)),
                    None
                );
            }
            assert_eq!(
                t.alerts().map(|a| a.get()),
                Some(1),
                "the ceiling raised one alert"
            );
            assert_eq!(
                wait(t.reserve(db, "admin", "attacker-99", now)),
                Some(15 * 60),
                "Retry-After: until the failures leave the window"
            );
            assert_eq!(
                wait(t.reserve(db, "admin", "owner", now)),
                None,
                "the owner's known address"
            );
        });
    }

    #[test]
    fn success_gives_the_reservation_back_and_old_failures_expire() {
        on_both(|db| {
            let (t, now) = (throttle(), now());
            for _ in 0..3 {
                assert_eq!(wait(t.reserve(db, "clerk", "a", now)), None);
            }
            assert!(t.succeeded(db, "clerk", "a", now).is_ok());
            assert_eq!(wait(t.reserve(db, "clerk", "a", now)), None);
            let later = later(now, 16 * 60);
            for _ in 0..3 {
                assert_eq!(wait(t.reserve(db, "clerk", "b", later)), None);
            }
        });
    }

    #[test]
    fn an_attempt_limiter_pauses_a_key_for_the_rest_of_its_window() {
        on_both(|db| {
            let limiter = AttemptLimiter::new(Kind::Code, 2, Duration::from_secs(3600));
            let now = now();
            assert_eq!(wait(limiter.reserve(db, "code", now)), None);
            assert_eq!(wait(limiter.reserve(db, "code", now)), None);
            let later_on = later(now, 600);
            assert_eq!(wait(limiter.reserve(db, "code", later_on)), Some(3000));
            assert!(limiter.release(db, "code", later_on).is_ok());
            assert_eq!(wait(limiter.reserve(db, "code", later_on)), None);
            assert_eq!(wait(limiter.reserve(db, "other", later_on)), None);
            assert_eq!(wait(limiter.reserve(db, "code", later(now, 3600))), None);
        });
    }

    fn rate() -> RateLimiter {
        RateLimiter::new(Kind::Lookup, 10, Duration::from_secs(3))
    }

    #[test]
    fn a_rate_allows_its_burst_then_one_request_per_interval() {
        on_both(|db| {
            let (limiter, now) = (rate(), now());
            for _ in 0..10 {
                assert_eq!(wait(limiter.reserve(db, "10.0.0.1", now)), None);
            }
            assert_eq!(
                wait(limiter.reserve(db, "10.0.0.1", later(now, 1))),
                Some(2)
            );
            assert_eq!(
                wait(limiter.reserve(db, "10.0.0.2", now)),
                None,
                "per address"
            );
            // One leaked after 3 s, two more after 9 s: three requests pass.
            assert_eq!(wait(limiter.reserve(db, "10.0.0.1", later(now, 3))), None);
            assert_eq!(
                wait(limiter.reserve(db, "10.0.0.1", later(now, 4))),
                Some(2)
            );
            for _ in 0..2 {
                assert_eq!(wait(limiter.reserve(db, "10.0.0.1", later(now, 9))), None);
            }
            assert_eq!(
                wait(limiter.reserve(db, "10.0.0.1", later(now, 9))),
                Some(3)
            );
            // Quiet for 30 s: the whole burst again.
            let quiet = later(now, 39);
            for _ in 0..10 {
                assert_eq!(wait(limiter.reserve(db, "10.0.0.1", quiet)), None);
            }
            assert_eq!(wait(limiter.reserve(db, "10.0.0.1", quiet)), Some(3));
        });
    }

    /// 40 requests at once from threads with their own connections, through
    /// two limiters (two servers) on one database: exactly the burst passes.
    #[test]
    fn a_rate_holds_under_concurrency_across_servers() {
        on_both(|db| {
            let (first, second, now) = (rate(), rate(), now());
            let passed: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..40)
                    .map(|n| {
                        let limiter = if n % 2 == 0 { &first } else { &second };
                        scope.spawn(move || limiter.reserve(db, "10.0.0.9", now).is_ok())
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| usize::from(h.join().unwrap_or(false)))
                    .sum()
            });
            assert_eq!(passed, 10);
        });
    }
}
