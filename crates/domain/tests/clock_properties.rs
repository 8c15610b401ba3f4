//! Properties of the legal clock over random filings in 2024–2026 on the
//! shipped national calendar.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{
    ClockEvent, ClockInput, DeadlineState, Outcome, PauseCause, TimeLimit, classify, due_time,
    evaluate,
};
use motcua_domain::national::national;
use motcua_domain::time::{from_local, to_local};
use proptest::prelude::*;

fn calendar() -> &'static WorkingCalendar {
    static CALENDAR: std::sync::OnceLock<WorkingCalendar> = std::sync::OnceLock::new();
    CALENDAR.get_or_init(|| WorkingCalendar::single(national().unwrap_or_else(|e| panic!("{e}"))))
}

/// Any minute from 2024-01-01 to mid-2026, Vietnam time.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..(365 * 2 + 180) * 24 * 60).prop_map(|minutes| {
        let base = NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default();
        from_local(base + Duration::minutes(minutes))
    })
}

fn limit() -> impl Strategy<Value = TimeLimit> {
    prop_oneof![
        (0u32..120).prop_map(|half_days| TimeLimit::WorkingDays { half_days }),
        (0u32..200).prop_map(|amount| TimeLimit::WorkingHours { amount }),
        (0u32..45).prop_map(|amount| TimeLimit::CalendarDays { amount }),
        (1u32..24).prop_map(|amount| TimeLimit::Months { amount }),
        (9u32..17).prop_map(|h| TimeLimit::SameDay {
            cutoff: chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default()
        }),
    ]
}

fn clock(
    limit: TimeLimit,
    received: DateTime<Utc>,
    events: &[ClockEvent],
    as_of: DateTime<Utc>,
) -> motcua_domain::clock::LegalClock {
    let input = ClockInput {
        calendar: calendar(),
        limit,
        received_at: received,
        events,
    };
    evaluate(input, as_of).unwrap_or_else(|e| panic!("{e}"))
}

fn working(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    calendar().working_time_between(to_local(from), to_local(to))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_due_time_is_never_before_the_start(limit in limit(), received in instant()) {
        let (start, due) = due_time(calendar(), limit, received).unwrap_or_else(|e| panic!("{e}"));
        prop_assert!(start >= received);
        prop_assert!(due >= start);
        prop_assert!(calendar().is_working_instant(to_local(start)));
    }

    #[test]
    fn a_pause_moves_the_due_time_by_exactly_its_working_time(
        amount in 1u32..30,
        received in instant(),
        pause_after in 0i64..(20 * 24 * 60),
        pause_length in 0i64..(20 * 24 * 60),
    ) {
        let limit = TimeLimit::working_days(amount);
        let from = received + Duration::minutes(pause_after);
        let to = from + Duration::minutes(pause_length);
        let plain = clock(limit, received, &[], to);
        let events = [
            ClockEvent::Paused { at: from, cause: PauseCause::Supplement },
            ClockEvent::Resumed { at: to },
        ];
        let paused = clock(limit, received, &events, to);
        prop_assert!(paused.due_at >= plain.due_at);
        let removed = working(from.max(plain.effective_start), to);
        prop_assert_eq!(paused.paused, removed);
        prop_assert_eq!(working(plain.due_at, paused.due_at), removed);
    }

    #[test]
    fn splitting_a_pause_in_two_changes_nothing(
        amount in 1u32..30,
        received in instant(),
        pause_after in 0i64..(10 * 24 * 60),
        first in 0i64..(10 * 24 * 60),
        second in 0i64..(10 * 24 * 60),
    ) {
        let limit = TimeLimit::working_days(amount);
        let a = received + Duration::minutes(pause_after);
        let b = a + Duration::minutes(first);
        let c = b + Duration::minutes(second);
        let whole = [
            ClockEvent::Paused { at: a, cause: PauseCause::Supplement },
            ClockEvent::Resumed { at: c },
        ];
        let split = [
            ClockEvent::Paused { at: a, cause: PauseCause::Supplement },
            ClockEvent::Resumed { at: b },
            ClockEvent::Paused { at: b, cause: PauseCause::Payment },
            ClockEvent::Resumed { at: c },
        ];
        prop_assert_eq!(clock(limit, received, &whole, c).due_at, clock(limit, received, &split, c).due_at);
    }

    #[test]
    fn eight_working_hours_make_a_working_day(n in 0u32..80, received in instant()) {
        let days = due_time(calendar(), TimeLimit::working_days(n), received);
        let hours = due_time(calendar(), TimeLimit::WorkingHours { amount: 8 * n }, received);
        prop_assert_eq!(days.ok(), hours.ok());
    }

    #[test]
    fn half_a_working_day_is_four_working_hours(n in 0u32..160, received in instant()) {
        let halves = due_time(calendar(), TimeLimit::WorkingDays { half_days: n }, received);
        let hours = due_time(calendar(), TimeLimit::WorkingHours { amount: 4 * n }, received);
        prop_assert_eq!(halves.ok(), hours.ok());
    }

    #[test]
    fn consumed_and_remaining_add_up_to_the_budget(
        limit in limit(),
        received in instant(),
        later in 0i64..(60 * 24 * 60),
        pause in proptest::option::of((0i64..(10 * 24 * 60), 0i64..(10 * 24 * 60))),
    ) {
        let as_of = received + Duration::minutes(later);
        let events: Vec<ClockEvent> = match pause {
            Some((after, length)) => vec![
                ClockEvent::Paused { at: received + Duration::minutes(after), cause: PauseCause::Payment },
                ClockEvent::Resumed { at: received + Duration::minutes(after + length) },
            ],
            None => vec![],
        };
        let c = clock(limit, received, &events, as_of);
        prop_assert_eq!(c.consumed + c.remaining, c.budget);
        prop_assert_eq!(c.state == DeadlineState::Overdue, as_of > c.due_at);
        if c.state == DeadlineState::WithinDeadline {
            prop_assert!(c.remaining >= Duration::zero());
        }
    }

    #[test]
    fn classification_agrees_with_the_due_time(
        limit in limit(),
        received in instant(),
        finish_after in 0i64..(60 * 24 * 60),
    ) {
        let (_, due) = due_time(calendar(), limit, received).unwrap_or_else(|e| panic!("{e}"));
        let finished = received + Duration::minutes(finish_after);
        let outcome = classify(finished, due);
        let (f, d) = (to_local(finished).date(), to_local(due).date());
        match outcome {
            Outcome::Late => prop_assert!(finished > due),
            Outcome::OnTime => prop_assert!(finished <= due && f == d),
            Outcome::Early => prop_assert!(finished <= due && f < d),
        }
        prop_assert_eq!(classify(due, due), Outcome::OnTime);
        prop_assert_eq!(classify(due + Duration::seconds(1), due), Outcome::Late);
        let stopped = clock(limit, received, &[ClockEvent::Stopped { at: finished }], finished);
        prop_assert_eq!(stopped.outcome(), Some(outcome));
    }
}
