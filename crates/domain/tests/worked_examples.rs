//! The worked examples of docs/requirements.md §7, on the shipped national calendar.

use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{
    ClockEvent, ClockInput, LegalClock, PauseCause, SupplementMode, TimeLimit, default_cutoff,
    due_time, evaluate,
};
use motcua_domain::national::national;
use motcua_domain::time::{from_local, to_local};

fn calendar() -> WorkingCalendar {
    WorkingCalendar::single(national().unwrap_or_else(|e| panic!("{e}")))
}

/// Vietnam local time "YYYY-MM-DD HH:MM" as an instant.
fn vn(text: &str) -> DateTime<Utc> {
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    from_local(local)
}

fn show(at: DateTime<Utc>) -> String {
    to_local(at).format("%Y-%m-%d %H:%M").to_string()
}

fn days(amount: u32) -> TimeLimit {
    TimeLimit::working_days(amount)
}

#[test]
fn three_working_days_across_tet() {
    let (start, due) =
        due_time(&calendar(), days(3), vn("2026-02-12 10:00")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(show(start), "2026-02-12 10:00");
    assert_eq!(show(due), "2026-02-24 10:00");
}

#[test]
fn one_working_day_onto_a_make_up_saturday() {
    let (_, due) =
        due_time(&calendar(), days(1), vn("2026-01-09 16:00")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(show(due), "2026-01-10 16:00");
}

#[test]
fn five_working_days_filed_on_a_sunday_before_a_day_off_in_lieu() {
    let (start, due) =
        due_time(&calendar(), days(5), vn("2026-04-26 20:00")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(show(start), "2026-04-28 07:30");
    assert_eq!(show(due), "2026-05-06 17:00");
}

#[test]
fn same_day_after_the_cutoff_before_national_day() {
    let limit = TimeLimit::SameDay {
        cutoff: default_cutoff(),
    };
    let (_, due) =
        due_time(&calendar(), limit, vn("2026-08-28 15:30")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(show(due), "2026-09-03 17:00");
}

fn with_supplement(mode: SupplementMode) -> String {
    let calendar = calendar();
    let received = vn("2026-11-02 09:30");
    let asked = vn("2026-11-03 14:00");
    let arrived = vn("2026-11-09 08:30");
    let events = match mode {
        SupplementMode::Pause => vec![
            ClockEvent::Paused {
                at: asked,
                cause: PauseCause::Supplement,
            },
            ClockEvent::Resumed { at: arrived },
        ],
        SupplementMode::Restart => vec![
            ClockEvent::Paused {
                at: asked,
                cause: PauseCause::Supplement,
            },
            ClockEvent::Restarted { at: arrived },
        ],
    };
    let input = ClockInput {
        calendar: &calendar,
        limit: days(3),
        received_at: received,
        events: &events,
    };
    let clock = evaluate(input, vn("2026-11-09 09:00")).unwrap_or_else(|e| panic!("{e}"));
    show(clock.due_at)
}

#[test]
fn a_supplement_in_pause_mode_moves_the_due_time_by_the_paused_working_time() {
    assert_eq!(with_supplement(SupplementMode::Pause), "2026-11-10 15:00");
}

#[test]
fn a_supplement_in_restart_mode_restarts_the_full_budget() {
    assert_eq!(with_supplement(SupplementMode::Restart), "2026-11-12 08:30");
}

/// The legal clock of a dossier with no events, evaluated at its receipt.
fn evaluated_at_receipt(limit: TimeLimit, received_at: DateTime<Utc>) -> LegalClock {
    let calendar = calendar();
    let input = ClockInput {
        calendar: &calendar,
        limit,
        received_at,
        events: &[],
    };
    evaluate(input, received_at).unwrap_or_else(|e| panic!("{e}"))
}

/// Tết 2027 is projected (the eve, Fri 05/02, to Thu 11/02 with two days in
/// lieu): 10 working days from Friday 29/01 09:00 are 6.5 hours that day,
/// 32 from Monday 01/02 to Thursday 04/02, then 40 from Friday 12/02 to
/// Thursday 18/02, and the last 1.5 on Friday 19/02: due 09:00 that day
/// (not Friday 12/02, as before the projection), and provisional.
#[test]
fn ten_working_days_across_the_projected_tet_2027() {
    let clock = evaluated_at_receipt(days(10), vn("2027-01-29 09:00"));
    assert_eq!(show(clock.due_at), "2027-02-19 09:00");
    assert_eq!(clock.provisional_years, vec![2027]);
}

#[test]
fn the_calendar_knows_it_has_no_2027_tet_yet() {
    let (_, due) =
        due_time(&calendar(), days(10), vn("2026-12-28 08:00")).unwrap_or_else(|e| panic!("{e}"));
    let clock = evaluated_at_receipt(days(10), vn("2026-12-28 08:00"));
    assert_eq!(clock.due_at, due);
    assert_eq!(clock.provisional_years, vec![2027]);
    let _ = NaiveDate::default();
}
