//! Explanations of due times, acknowledgement deadlines and control-slip steps.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{
    ClockEvent, ClockInput, DeadlineState, Outcome, PauseCause, TimeLimit, acknowledgement_due,
    evaluate_explained, step_deadline,
};
use motcua_domain::explain::{DayReason, MoveReason, Step};
use motcua_domain::national::national;
use motcua_domain::time::{from_local, to_local};

fn calendar() -> WorkingCalendar {
    WorkingCalendar::single(national().unwrap_or_else(|e| panic!("{e}")))
}

fn vn(text: &str) -> DateTime<Utc> {
    from_local(
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap_or_else(|e| panic!("{text}: {e}")),
    )
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn show(at: DateTime<Utc>) -> String {
    to_local(at).format("%Y-%m-%d %H:%M").to_string()
}

#[test]
fn a_filing_on_hung_kings_sunday_explains_every_day_it_skips() {
    let calendar = calendar();
    let input = ClockInput {
        calendar: &calendar,
        limit: TimeLimit::working_days(5),
        received_at: vn("2026-04-26 20:00"),
        events: &[],
    };
    let (clock, steps) =
        evaluate_explained(input, vn("2026-04-29 10:00")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(show(clock.due_at), "2026-05-06 17:00");

    assert_eq!(
        steps[0],
        Step::Received {
            at: vn("2026-04-26 20:00")
        }
    );
    assert_eq!(
        steps[1],
        Step::StartMoved {
            from: vn("2026-04-26 20:00"),
            to: vn("2026-04-28 07:30"),
            reason: MoveReason::NonWorkingDay {
                reason: DayReason::Holiday {
                    name: "Giỗ Tổ Hùng Vương".into()
                }
            },
        }
    );
    assert!(
        matches!(steps[2], Step::Budget { working_time, .. } if working_time == Duration::hours(40))
    );
    let skipped: Vec<(NaiveDate, DayReason)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::SkippedDay { date, reason } => Some((*date, reason.clone())),
            _ => None,
        })
        .collect();
    let break_name = "Ngày Chiến thắng và Quốc tế Lao động".to_owned();
    assert_eq!(
        skipped,
        vec![
            (
                date("2026-04-30"),
                DayReason::Holiday {
                    name: break_name.clone()
                }
            ),
            (
                date("2026-05-01"),
                DayReason::Holiday {
                    name: break_name.clone()
                }
            ),
            (
                date("2026-05-02"),
                DayReason::WeekendInBreak {
                    name: break_name.clone()
                }
            ),
            (
                date("2026-05-03"),
                DayReason::WeekendInBreak { name: break_name }
            ),
        ]
    );
    assert_eq!(
        steps[steps.len() - 2],
        Step::Due {
            at: vn("2026-05-06 17:00")
        }
    );
    assert!(matches!(
        steps.last(),
        Some(Step::Status { state: DeadlineState::WithinDeadline, consumed, remaining, paused: false, .. })
            if *consumed == Duration::minutes(8 * 60 + 150) && *consumed + *remaining == Duration::hours(40)
    ));

    let printed: Vec<String> = steps.iter().map(Step::vietnamese).collect();
    assert_eq!(printed[0], "Tiếp nhận hồ sơ lúc 20:00 Chủ nhật 26/04/2026.");
    assert_eq!(
        printed[1],
        "Tiếp nhận vào ngày không làm việc (nghỉ lễ Giỗ Tổ Hùng Vương): thời hạn bắt đầu tính từ 07:30 thứ Ba 28/04/2026."
    );
    assert_eq!(
        printed[2],
        "Thời hạn giải quyết: 5 ngày làm việc (40 giờ làm việc)."
    );
    assert!(printed.contains(
        &"Không tính thứ Năm 30/04/2026: nghỉ lễ Ngày Chiến thắng và Quốc tế Lao động.".to_owned()
    ));
    assert!(printed.contains(&"Hạn giải quyết theo quy định: 17:00 thứ Tư 06/05/2026.".to_owned()));
    assert_eq!(
        printed.last().map(String::as_str),
        Some(
            "Tại thời điểm 10:00 thứ Tư 29/04/2026: đã sử dụng 10 giờ 30 phút, còn 29 giờ 30 phút."
        )
    );
}

#[test]
fn pauses_and_make_up_days_appear_in_time_order_with_what_they_removed() {
    let calendar = calendar();
    let events = [
        ClockEvent::Paused {
            at: vn("2026-01-07 14:00"),
            cause: PauseCause::Payment,
        },
        ClockEvent::Resumed {
            at: vn("2026-01-08 09:00"),
        },
    ];
    let input = ClockInput {
        calendar: &calendar,
        limit: TimeLimit::working_days(3),
        received_at: vn("2026-01-07 08:00"),
        events: &events,
    };
    let (clock, steps) =
        evaluate_explained(input, vn("2026-01-12 08:00")).unwrap_or_else(|e| panic!("{e}"));
    // 3 days from Wed 08:00 would be Sat 10/01 (make-up) 08:00; the pause
    // removed 3h (Wed) + 1.5h (Thu), so 3.5h in the morning and 1h after lunch.
    assert_eq!(show(clock.due_at), "2026-01-10 14:00");
    let kinds: Vec<&str> = steps
        .iter()
        .map(|s| match s {
            Step::Received { .. } => "received",
            Step::Budget { .. } => "budget",
            Step::Paused { .. } => "paused",
            Step::MakeUpDay { .. } => "make_up",
            Step::SkippedDay { .. } => "skipped",
            Step::Due { .. } => "due",
            Step::Status { .. } => "status",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["received", "budget", "paused", "make_up", "due", "status"]
    );
    let paused = steps.iter().find_map(|s| match s {
        Step::Paused { working_time, .. } => Some(*working_time),
        _ => None,
    });
    assert_eq!(paused, Some(Duration::minutes(4 * 60 + 30)));
    let text = steps[2].vietnamese();
    assert_eq!(
        text,
        "Tạm dừng tính thời hạn (chờ nộp phí, lệ phí) từ 14:00 thứ Tư 07/01/2026 đến 09:00 thứ Năm 08/01/2026: không tính 4 giờ 30 phút làm việc."
    );
    let json = serde_json::to_value(&steps[2]).unwrap_or_default();
    assert_eq!(json["kind"], "paused");
    assert_eq!(json["working_seconds"], 4 * 3600 + 1800);
}

#[test]
fn a_deadline_into_2027_is_provisional_and_says_so() {
    let calendar = calendar();
    let input = ClockInput {
        calendar: &calendar,
        limit: TimeLimit::working_days(30),
        received_at: vn("2026-12-10 09:00"),
        events: &[],
    };
    let (clock, steps) =
        evaluate_explained(input, vn("2026-12-10 09:00")).unwrap_or_else(|e| panic!("{e}"));
    assert!(clock.is_provisional());
    let note = steps
        .iter()
        .find(|s| matches!(s, Step::Provisional { .. }))
        .map(Step::vietnamese);
    assert_eq!(
        note.as_deref(),
        Some("Lưu ý: lịch nghỉ năm 2027 chưa được công bố chính thức; thời hạn là tạm tính.")
    );
}

#[test]
fn an_open_pause_keeps_the_dossier_within_its_deadline() {
    let calendar = calendar();
    let events = [ClockEvent::Paused {
        at: vn("2026-11-03 14:00"),
        cause: PauseCause::Supplement,
    }];
    let input = ClockInput {
        calendar: &calendar,
        limit: TimeLimit::working_days(3),
        received_at: vn("2026-11-02 09:30"),
        events: &events,
    };
    let (clock, _) =
        evaluate_explained(input, vn("2026-11-20 10:00")).unwrap_or_else(|e| panic!("{e}"));
    assert!(clock.is_paused);
    assert_eq!(clock.state, DeadlineState::WithinDeadline);
    assert_eq!(clock.consumed, Duration::hours(11));
    assert_eq!(clock.remaining, Duration::hours(13));
}

#[test]
fn an_overdue_dossier_reports_its_overrun() {
    let calendar = calendar();
    let input = ClockInput {
        calendar: &calendar,
        limit: TimeLimit::working_days(1),
        received_at: vn("2026-11-23 08:00"),
        events: &[],
    };
    let (clock, steps) =
        evaluate_explained(input, vn("2026-11-25 10:00")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clock.state, DeadlineState::Overdue);
    assert_eq!(clock.remaining, -Duration::hours(10));
    assert_eq!(
        steps.last().map(Step::vietnamese).as_deref(),
        Some("Tại thời điểm 10:00 thứ Tư 25/11/2026: đã sử dụng 18 giờ, quá hạn 10 giờ.")
    );
}

#[test]
fn online_filings_must_be_acknowledged_within_eight_working_hours() {
    let calendar = calendar();
    for (submitted, due) in [
        ("2026-11-23 10:00", "2026-11-24 10:00"),
        ("2026-11-27 20:00", "2026-11-30 17:00"),
        ("2026-08-28 16:00", "2026-09-03 16:00"),
    ] {
        let got = acknowledgement_due(&calendar, vn(submitted)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(show(got), due, "{submitted}");
    }
}

#[test]
fn control_slip_steps_have_their_own_due_times() {
    let calendar = calendar();
    // A 3-hour step handed over at 16:00 Friday is due 09:30 Monday.
    let step = step_deadline(
        &calendar,
        vn("2026-11-27 16:00"),
        3,
        &[],
        Some(vn("2026-11-30 09:00")),
        vn("2026-11-30 12:00"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(show(step.due_at), "2026-11-30 09:30");
    assert_eq!(step.outcome, Some(Outcome::OnTime));
    // Finished after its due time: late, even if the dossier is on time overall.
    let late = step_deadline(
        &calendar,
        vn("2026-11-27 16:00"),
        3,
        &[],
        Some(vn("2026-11-30 10:00")),
        vn("2026-11-30 12:00"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(late.outcome, Some(Outcome::Late));
    // A pause inside the step moves its due time; an unfinished step is judged at the instant asked.
    let events = [
        ClockEvent::Paused {
            at: vn("2026-11-30 08:00"),
            cause: PauseCause::Supplement,
        },
        ClockEvent::Resumed {
            at: vn("2026-11-30 13:00"),
        },
    ];
    let open = step_deadline(
        &calendar,
        vn("2026-11-27 16:00"),
        3,
        &events,
        None,
        vn("2026-11-30 14:00"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Friday 1h, Monday 07:30-08:00, then 1.5h after the pause ends at 13:00.
    assert_eq!(show(open.due_at), "2026-11-30 14:30");
    assert_eq!(
        (open.outcome, open.state),
        (None, DeadlineState::WithinDeadline)
    );
}
