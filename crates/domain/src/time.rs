//! Time as the law counts it: instants are stored in UTC and reasoned about
//! in Vietnam time (UTC+7, no daylight saving). There is no "now" here; every
//! function that needs the current instant takes it as a parameter.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, Utc};

/// Seconds east of UTC in Vietnam (ICT, UTC+7, no daylight saving).
pub const VIETNAM_OFFSET_SECS: i32 = 7 * 3600;

/// The Vietnam time zone as a fixed offset.
pub fn vietnam() -> FixedOffset {
    // The offset is a valid constant; the fallback only keeps this panic-free.
    FixedOffset::east_opt(VIETNAM_OFFSET_SECS).unwrap_or(Utc.fix())
}

/// Wall-clock time in Vietnam for an instant.
pub fn to_local(instant: DateTime<Utc>) -> NaiveDateTime {
    instant.naive_utc() + chrono::Duration::seconds(i64::from(VIETNAM_OFFSET_SECS))
}

/// The instant at which Vietnam's wall clock shows `local`.
pub fn from_local(local: NaiveDateTime) -> DateTime<Utc> {
    (local - chrono::Duration::seconds(i64::from(VIETNAM_OFFSET_SECS))).and_utc()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn vietnam_is_seven_hours_ahead_all_year() {
        for (month, day) in [(1, 15), (7, 15)] {
            let local = NaiveDate::from_ymd_opt(2026, month, day)
                .and_then(|d| d.and_hms_opt(7, 30, 0))
                .unwrap_or_default();
            let instant = from_local(local);
            assert_eq!(instant.naive_utc(), local - chrono::Duration::hours(7));
            assert_eq!(to_local(instant), local);
            assert_eq!(instant.with_timezone(&vietnam()).naive_local(), local);
        }
    }
}
