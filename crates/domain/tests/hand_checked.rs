//! Sixty more cases across 2024–2026 on the shipped national calendar: Tết
//! breaks, swapped Mondays and Fridays, make-up Saturdays, filings at the
//! edges of office hours, on Sundays and holidays, pauses that span a
//! holiday, restarts and extensions. Each expected value was checked by
//! hand against the official calendar (and against an independent
//! minute-by-minute count).

use chrono::{DateTime, NaiveDateTime, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{
    ClockEvent, ClockInput, PauseCause, TimeLimit, default_cutoff, evaluate,
};
use motcua_domain::national::national;
use motcua_domain::time::{from_local, to_local};

use Event::*;
use Limit::*;

#[derive(Debug, Clone, Copy)]
enum Limit {
    Days(u32),
    /// Working days given in halves (the law's "0,5 ngày làm việc").
    HalfDays(u32),
    Hours(u32),
    SameDay,
    CalendarDays(u32),
    Months(u32),
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Pause(&'static str),
    Resume(&'static str),
    Restart(&'static str),
    Extend(&'static str, u32),
}

struct Case {
    what: &'static str,
    limit: Limit,
    received: &'static str,
    events: &'static [Event],
    start: &'static str,
    due: &'static str,
}

fn vn(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    from_local(local)
}

fn show(at: DateTime<Utc>) -> String {
    to_local(at).format("%Y-%m-%d %H:%M").to_string()
}

#[test]
fn hand_checked_cases() {
    let calendar = WorkingCalendar::single(national().unwrap_or_else(|e| panic!("{e}")));
    let mut failures = Vec::new();
    for case in CASES {
        let limit = match case.limit {
            Days(amount) => TimeLimit::working_days(amount),
            HalfDays(half_days) => TimeLimit::WorkingDays { half_days },
            Hours(amount) => TimeLimit::WorkingHours { amount },
            SameDay => TimeLimit::SameDay {
                cutoff: default_cutoff(),
            },
            CalendarDays(amount) => TimeLimit::CalendarDays { amount },
            Months(amount) => TimeLimit::Months { amount },
        };
        let events: Vec<ClockEvent> = case
            .events
            .iter()
            .map(|event| match *event {
                Pause(at) => ClockEvent::Paused {
                    at: vn(at),
                    cause: PauseCause::Supplement,
                },
                Resume(at) => ClockEvent::Resumed { at: vn(at) },
                Restart(at) => ClockEvent::Restarted { at: vn(at) },
                Extend(at, working_days) => ClockEvent::Extended {
                    at: vn(at),
                    working_days,
                },
            })
            .collect();
        let input = ClockInput {
            calendar: &calendar,
            limit,
            received_at: vn(case.received),
            events: &events,
        };
        let last = events.last().map_or(vn(case.received), ClockEvent::at);
        match evaluate(input, last) {
            Ok(clock) => {
                let got = (show(clock.effective_start), show(clock.due_at));
                if got != (case.start.to_owned(), case.due.to_owned()) {
                    failures.push(format!(
                        "{}: expected start {} due {}, got start {} due {}",
                        case.what, case.start, case.due, got.0, got.1
                    ));
                }
            }
            Err(error) => failures.push(format!("{}: {error}", case.what)),
        }
    }
    assert!(CASES.len() >= 40);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const CASES: &[Case] = &[
    Case {
        what: "2024 Tết: 1 day from the eve of the break",
        limit: Days(1),
        received: "2024-02-07 16:00",
        events: &[],
        start: "2024-02-07 16:00",
        due: "2024-02-15 16:00",
    },
    Case {
        what: "2024 Tết: 2 days from Tuesday morning",
        limit: Days(2),
        received: "2024-02-06 08:00",
        events: &[],
        start: "2024-02-06 08:00",
        due: "2024-02-15 08:00",
    },
    Case {
        what: "2024 Tết: filed during the break",
        limit: Days(1),
        received: "2024-02-12 09:00",
        events: &[],
        start: "2024-02-15 07:30",
        due: "2024-02-15 17:00",
    },
    Case {
        what: "2024 New Year's Day filing starts on Tuesday",
        limit: Days(1),
        received: "2024-01-01 10:00",
        events: &[],
        start: "2024-01-02 07:30",
        due: "2024-01-02 17:00",
    },
    Case {
        what: "2024 Hùng Kings day skipped",
        limit: Days(1),
        received: "2024-04-17 08:00",
        events: &[],
        start: "2024-04-17 08:00",
        due: "2024-04-19 08:00",
    },
    Case {
        what: "2024 swapped Monday 29/04 and 30/4-1/5 skipped",
        limit: Days(1),
        received: "2024-04-26 10:00",
        events: &[],
        start: "2024-04-26 10:00",
        due: "2024-05-02 10:00",
    },
    Case {
        what: "2024 make-up Saturday 04/05 counted",
        limit: Days(3),
        received: "2024-05-02 09:00",
        events: &[],
        start: "2024-05-02 09:00",
        due: "2024-05-06 09:00",
    },
    Case {
        what: "2024 make-up Saturday reached by 1 day from Friday",
        limit: Days(1),
        received: "2024-05-03 14:00",
        events: &[],
        start: "2024-05-03 14:00",
        due: "2024-05-04 14:00",
    },
    Case {
        what: "2024 National Day break 31/08-03/09",
        limit: Days(1),
        received: "2024-08-30 14:00",
        events: &[],
        start: "2024-08-30 14:00",
        due: "2024-09-04 14:00",
    },
    Case {
        what: "2024 same day after cut-off onto the make-up Saturday",
        limit: SameDay,
        received: "2024-05-03 16:00",
        events: &[],
        start: "2024-05-03 16:00",
        due: "2024-05-04 17:00",
    },
    Case {
        what: "2025 Tết: 5 days from the Friday before",
        limit: Days(5),
        received: "2025-01-24 10:00",
        events: &[],
        start: "2025-01-24 10:00",
        due: "2025-02-07 10:00",
    },
    Case {
        what: "2025 Tết: filed on the Saturday the break starts",
        limit: Days(2),
        received: "2025-01-25 09:00",
        events: &[],
        start: "2025-02-03 07:30",
        due: "2025-02-04 17:00",
    },
    Case {
        what: "2025 make-up Saturday 26/04",
        limit: Days(1),
        received: "2025-04-25 15:00",
        events: &[],
        start: "2025-04-25 15:00",
        due: "2025-04-26 15:00",
    },
    Case {
        what: "2025 30/4-1/5 with the swapped Friday",
        limit: Days(2),
        received: "2025-04-29 13:00",
        events: &[],
        start: "2025-04-29 13:00",
        due: "2025-05-06 11:30",
    },
    Case {
        what: "2025 Hùng Kings Monday: filed Saturday",
        limit: Days(1),
        received: "2025-04-05 10:00",
        events: &[],
        start: "2025-04-08 07:30",
        due: "2025-04-08 17:00",
    },
    Case {
        what: "2025 National Day: 4 working hours from Friday 15:00",
        limit: Hours(4),
        received: "2025-08-29 15:00",
        events: &[],
        start: "2025-08-29 15:00",
        due: "2025-09-03 09:30",
    },
    Case {
        what: "2025 New Year's Eve into the 2026 break",
        limit: Days(1),
        received: "2025-12-31 10:00",
        events: &[],
        start: "2025-12-31 10:00",
        due: "2026-01-05 10:00",
    },
    Case {
        what: "2026 make-up Saturday 10/01 counted",
        limit: Days(2),
        received: "2026-01-09 08:00",
        events: &[],
        start: "2026-01-09 08:00",
        due: "2026-01-12 08:00",
    },
    Case {
        what: "2026 swapped Friday 02/01: filed on it",
        limit: Days(1),
        received: "2026-01-02 09:00",
        events: &[],
        start: "2026-01-05 07:30",
        due: "2026-01-05 17:00",
    },
    Case {
        what: "2026 make-up Saturday 22/08 from 11:45",
        limit: Days(1),
        received: "2026-08-21 11:45",
        events: &[],
        start: "2026-08-21 13:00",
        due: "2026-08-22 11:30",
    },
    Case {
        what: "2026 swapped Monday 31/08 and National Day",
        limit: Days(2),
        received: "2026-08-28 10:00",
        events: &[],
        start: "2026-08-28 10:00",
        due: "2026-09-04 10:00",
    },
    Case {
        what: "2026 filed on National Day",
        limit: Days(1),
        received: "2026-09-02 10:00",
        events: &[],
        start: "2026-09-03 07:30",
        due: "2026-09-03 17:00",
    },
    Case {
        what: "2026 Hùng Kings Sunday and the Monday in lieu",
        limit: Days(2),
        received: "2026-04-24 10:00",
        events: &[],
        start: "2026-04-24 10:00",
        due: "2026-04-29 10:00",
    },
    Case {
        what: "2026 30/4-1/5 Thursday and Friday",
        limit: Days(1),
        received: "2026-04-29 16:30",
        events: &[],
        start: "2026-04-29 16:30",
        due: "2026-05-04 16:30",
    },
    Case {
        what: "11:45 is lunch: the clock starts at 13:00",
        limit: Days(1),
        received: "2026-11-23 11:45",
        events: &[],
        start: "2026-11-23 13:00",
        due: "2026-11-24 11:30",
    },
    Case {
        what: "12:59 is lunch: the clock starts at 13:00",
        limit: Hours(2),
        received: "2026-11-23 12:59",
        events: &[],
        start: "2026-11-23 13:00",
        due: "2026-11-23 15:00",
    },
    Case {
        what: "17:00 is closing time: next morning",
        limit: Days(1),
        received: "2026-11-23 17:00",
        events: &[],
        start: "2026-11-24 07:30",
        due: "2026-11-24 17:00",
    },
    Case {
        what: "16:59 still counts one minute",
        limit: Hours(1),
        received: "2026-11-23 16:59",
        events: &[],
        start: "2026-11-23 16:59",
        due: "2026-11-24 08:29",
    },
    Case {
        what: "07:29 waits for the opening",
        limit: Hours(4),
        received: "2026-11-24 07:29",
        events: &[],
        start: "2026-11-24 07:30",
        due: "2026-11-24 11:30",
    },
    Case {
        what: "Sunday filing",
        limit: Days(3),
        received: "2026-11-22 20:00",
        events: &[],
        start: "2026-11-23 07:30",
        due: "2026-11-25 17:00",
    },
    Case {
        what: "4 hours from opening end at the lunch boundary",
        limit: Hours(4),
        received: "2026-11-24 07:30",
        events: &[],
        start: "2026-11-24 07:30",
        due: "2026-11-24 11:30",
    },
    Case {
        what: "1 hour from 11:00 crosses lunch",
        limit: Hours(1),
        received: "2026-11-24 11:00",
        events: &[],
        start: "2026-11-24 11:00",
        due: "2026-11-24 13:30",
    },
    Case {
        what: "1 day from Monday opening is Monday 17:00",
        limit: Days(1),
        received: "2026-11-23 07:30",
        events: &[],
        start: "2026-11-23 07:30",
        due: "2026-11-23 17:00",
    },
    Case {
        what: "same day at 15:00 exactly",
        limit: SameDay,
        received: "2026-11-23 15:00",
        events: &[],
        start: "2026-11-23 15:00",
        due: "2026-11-23 17:00",
    },
    Case {
        what: "same day at 15:01",
        limit: SameDay,
        received: "2026-11-23 15:01",
        events: &[],
        start: "2026-11-23 15:01",
        due: "2026-11-24 17:00",
    },
    Case {
        what: "same day at lunch before the cut-off",
        limit: SameDay,
        received: "2026-11-23 12:30",
        events: &[],
        start: "2026-11-23 13:00",
        due: "2026-11-23 17:00",
    },
    Case {
        what: "same day on a Sunday",
        limit: SameDay,
        received: "2026-11-22 10:00",
        events: &[],
        start: "2026-11-23 07:30",
        due: "2026-11-23 17:00",
    },
    Case {
        what: "same day after closing on Friday",
        limit: SameDay,
        received: "2026-11-27 17:30",
        events: &[],
        start: "2026-11-30 07:30",
        due: "2026-11-30 17:00",
    },
    Case {
        what: "calendar days ending on a Saturday move to Monday",
        limit: CalendarDays(5),
        received: "2026-11-23 09:00",
        events: &[],
        start: "2026-11-23 09:00",
        due: "2026-11-30 17:00",
    },
    Case {
        what: "calendar days ending on a working day",
        limit: CalendarDays(3),
        received: "2026-11-23 09:00",
        events: &[],
        start: "2026-11-23 09:00",
        due: "2026-11-26 17:00",
    },
    // Civil Code 2015 art. 147: a period starts the day after the event,
    // whether or not that is a working day; art. 148: a period that ends on
    // a rest day ends on the next working day.
    Case {
        what: "calendar days from a Saturday receipt count from the Sunday",
        limit: CalendarDays(5),
        received: "2026-11-28 10:00",
        events: &[],
        start: "2026-11-30 07:30",
        due: "2026-12-03 17:00",
    },
    Case {
        what: "calendar days from a receipt after closing on Friday count from the Saturday",
        limit: CalendarDays(3),
        received: "2026-11-27 17:30",
        events: &[],
        start: "2026-11-30 07:30",
        due: "2026-11-30 17:00",
    },
    Case {
        what: "a month from a Friday ends on the same day number of the next month",
        limit: Months(1),
        received: "2026-10-30 09:00",
        events: &[],
        start: "2026-10-30 09:00",
        due: "2026-11-30 17:00",
    },
    Case {
        what: "a month from 31 March ends on 30 April, a holiday, so on Monday 4 May",
        limit: Months(1),
        received: "2026-03-31 09:00",
        events: &[],
        start: "2026-03-31 09:00",
        due: "2026-05-04 17:00",
    },
    Case {
        what: "two months from 31 December end on the last day of February",
        limit: Months(2),
        received: "2025-12-31 10:00",
        events: &[],
        start: "2025-12-31 10:00",
        due: "2026-03-02 17:00",
    },
    Case {
        what: "half a working day from 07:30 ends at 11:30, not after lunch",
        limit: HalfDays(1),
        received: "2026-11-23 07:30",
        events: &[],
        start: "2026-11-23 07:30",
        due: "2026-11-23 11:30",
    },
    Case {
        what: "half a working day from 10:00: 1 h 30 before lunch, 2 h 30 after",
        limit: HalfDays(1),
        received: "2026-11-23 10:00",
        events: &[],
        start: "2026-11-23 10:00",
        due: "2026-11-23 15:30",
    },
    Case {
        what: "a day and a half from Friday 15:00: 2 h, Monday's 8 h, 2 h on Tuesday",
        limit: HalfDays(3),
        received: "2026-11-27 15:00",
        events: &[],
        start: "2026-11-27 15:00",
        due: "2026-12-01 09:30",
    },
    Case {
        what: "half a working day from 15:00 on the eve of the 2026 Tết break ends after it",
        limit: HalfDays(1),
        received: "2026-02-13 15:00",
        events: &[],
        start: "2026-02-13 15:00",
        due: "2026-02-23 09:30",
    },
    Case {
        what: "calendar days ending in Tết",
        limit: CalendarDays(4),
        received: "2026-02-12 09:00",
        events: &[],
        start: "2026-02-12 09:00",
        due: "2026-02-23 17:00",
    },
    Case {
        what: "pause spanning Hùng Kings day",
        limit: Days(3),
        received: "2026-04-22 08:00",
        events: &[Pause("2026-04-23 10:00"), Resume("2026-04-28 10:00")],
        start: "2026-04-22 08:00",
        due: "2026-05-04 08:00",
    },
    Case {
        what: "pause spanning Tết 2025",
        limit: Days(5),
        received: "2025-01-20 08:00",
        events: &[Pause("2025-01-22 15:00"), Resume("2025-02-04 09:00")],
        start: "2025-01-20 08:00",
        due: "2025-02-06 11:30",
    },
    Case {
        what: "two pauses (supplement then payment)",
        limit: Days(5),
        received: "2026-11-02 08:00",
        events: &[
            Pause("2026-11-03 08:00"),
            Resume("2026-11-04 08:00"),
            Pause("2026-11-05 13:00"),
            Resume("2026-11-05 15:00"),
        ],
        start: "2026-11-02 08:00",
        due: "2026-11-10 10:00",
    },
    Case {
        what: "pause asked and answered within one afternoon",
        limit: Days(1),
        received: "2026-11-23 08:00",
        events: &[Pause("2026-11-23 14:00"), Resume("2026-11-23 16:00")],
        start: "2026-11-23 08:00",
        due: "2026-11-24 10:00",
    },
    Case {
        what: "restart after a pause over a weekend",
        limit: Days(2),
        received: "2026-11-19 09:00",
        events: &[Pause("2026-11-20 10:00"), Restart("2026-11-23 14:00")],
        start: "2026-11-23 14:00",
        due: "2026-11-25 14:00",
    },
    Case {
        what: "restart arriving on a holiday starts on the next working day",
        limit: Days(1),
        received: "2026-08-26 09:00",
        events: &[Pause("2026-08-27 09:00"), Restart("2026-09-01 10:00")],
        start: "2026-09-03 07:30",
        due: "2026-09-03 17:00",
    },
    Case {
        what: "extension after a pause",
        limit: Days(3),
        received: "2026-11-02 09:30",
        events: &[
            Pause("2026-11-03 14:00"),
            Resume("2026-11-09 08:30"),
            Extend("2026-11-09 09:00", 5),
        ],
        start: "2026-11-02 09:30",
        due: "2026-11-17 15:00",
    },
    Case {
        what: "extension across 30/4-1/5",
        limit: Days(2),
        received: "2026-04-27 09:00",
        events: &[Extend("2026-04-28 10:00", 2)],
        start: "2026-04-28 07:30",
        due: "2026-05-05 17:00",
    },
    Case {
        what: "200 working days from 2024",
        limit: Days(200),
        received: "2024-03-01 08:00",
        events: &[],
        start: "2024-03-01 08:00",
        due: "2024-12-13 08:00",
    },
];
