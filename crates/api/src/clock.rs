//! The application's notion of "now" for dossier handling. The system clock
//! in production; tests set it, so that due times can be checked against
//! hand-computed values. (Tokens always use the system clock.)

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Where "now" comes from.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stays at `at` until [`Clock::set`] moves it.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(Mutex::new(at))))
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Some(fixed) => fixed.lock().map(|at| *at).unwrap_or_else(|_| Utc::now()),
            None => Utc::now(),
        }
    }

    /// Moves a fixed clock (no effect on the system clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(fixed) = &self.0
            && let Ok(mut current) = fixed.lock()
        {
            *current = at;
        }
    }
}
