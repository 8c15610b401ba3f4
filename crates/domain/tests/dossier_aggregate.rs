//! The dossier aggregate, command by command, on the shipped national
//! calendar (November 2026 has no holiday: every weekday is 8 working hours,
//! 07:30–11:30 and 13:30–17:30 Vietnam time).

use chrono::{DateTime, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{ClockEvent, Outcome, PauseCause, SupplementMode, TimeLimit};
use motcua_domain::dossier::*;
use motcua_domain::lifecycle::{Refusal, Role, State};
use motcua_domain::money::Vnd;
use motcua_domain::national::national;
use motcua_domain::procedure::{
    Delivery, DocumentRequirement, Fee, ProcedureDefinition, ProcedureStep,
};
use motcua_domain::time::{from_local, to_local};
use uuid::Uuid;

fn calendar() -> WorkingCalendar {
    WorkingCalendar::single(national().unwrap_or_else(|e| panic!("{e}")))
}

/// Vietnam local time "YYYY-MM-DD HH:MM" as an instant.
fn vn(text: &str) -> DateTime<Utc> {
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    from_local(local)
}

fn show(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| to_local(at).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "—".into())
}

/// Three working days, pause on supplement, 5 days of extension allowed,
/// a fixed fee of 50,000 đồng (40,000 online).
fn procedure() -> ProcedureDefinition {
    ProcedureDefinition {
        time_limit: TimeLimit::working_days(3),
        on_supplement: SupplementMode::Pause,
        verification_extension_days: 5,
        fee: Fee::Fixed {
            amount: Vnd::new(50_000).unwrap_or_else(|_| panic!("fee")),
            online_amount: Some(Vnd::new(40_000).unwrap_or_else(|_| panic!("fee"))),
            note: None,
        },
        documents: ["TK", "CM"]
            .map(|code| DocumentRequirement {
                code: code.into(),
                name: code.into(),
                mandatory: code == "TK",
                originals: 0,
                copies: 0,
            })
            .to_vec(),
        deliveries: vec![Delivery::Desk, Delivery::Online],
        steps: vec![ProcedureStep {
            name: "Thẩm định".into(),
            role: Role::Officer,
            hours: 8,
        }],
        decided_by: None,
    }
}

fn filed_online(at: &str) -> Dossier {
    Dossier {
        state: State::Submitted,
        channel: Channel::Online,
        result_delivery: Delivery::Online,
        submitted_at: Some(vn(at)),
        acknowledged_at: None,
        received_at: None,
        accepted_at: None,
        due_at: None,
        finished_at: None,
        outcome: None,
        ledger: Vec::new(),
        particulars: Particulars::default(),
    }
}

const CLERK: Actor = Actor {
    id: Some(Uuid::from_u128(1)),
    role: Role::Clerk,
};
const OFFICER: Actor = Actor {
    id: Some(Uuid::from_u128(2)),
    role: Role::Officer,
};
const LEADER: Actor = Actor {
    id: Some(Uuid::from_u128(3)),
    role: Role::Leader,
};
const CITIZEN: Actor = Actor {
    id: Some(Uuid::from_u128(4)),
    role: Role::Citizen,
};
const GATEWAY: Actor = Actor {
    id: None,
    role: Role::PaymentGateway,
};

/// Runs `command` at `at`, panicking on a rejection.
fn run(dossier: &Dossier, command: Command, actor: Actor, at: &str) -> Handled {
    try_run(dossier, command, actor, at).unwrap_or_else(|e| panic!("{e}"))
}

fn try_run(
    dossier: &Dossier,
    command: Command,
    actor: Actor,
    at: &str,
) -> Result<Handled, Rejection> {
    let (procedure, calendar) = (procedure(), calendar());
    let context = Context {
        procedure: &procedure,
        calendar: &calendar,
        at: vn(at),
    };
    dossier.handle(command, actor, &context)
}

fn accepted() -> Dossier {
    let filed = filed_online("2026-11-02 09:00");
    run(
        &filed,
        Command::Accept(Accept::default()),
        CLERK,
        "2026-11-02 14:00",
    )
    .dossier
}

fn refusal(rejection: Rejection) -> Refusal {
    match rejection {
        Rejection::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Accepted, then asked for the online fee of 40,000 đồng on Tuesday 09:00.
fn awaiting_payment() -> Dossier {
    run(
        &accepted(),
        Command::RequestPayment(RequestPayment {
            amount: 40_000,
            reason: "Phí thẩm định".into(),
        }),
        OFFICER,
        "2026-11-03 09:00",
    )
    .dossier
}

fn invalid_fields(rejection: Rejection) -> Vec<String> {
    match rejection {
        Rejection::Invalid(fields) => fields.into_iter().map(|i| i.field).collect(),
        other => panic!("expected invalid fields, got {other:?}"),
    }
}

#[test]
fn accepting_an_online_filing_starts_the_clock_at_the_portal_receipt() {
    let filed = filed_online("2026-11-02 09:00");
    let done = run(
        &filed,
        Command::Accept(Accept::default()),
        CLERK,
        "2026-11-02 14:00",
    );
    let dossier = &done.dossier;
    assert_eq!(dossier.state, State::Accepted);
    assert_eq!(show(dossier.acknowledged_at), "2026-11-02 14:00");
    assert_eq!(show(dossier.accepted_at), "2026-11-02 14:00");
    // The clock counts from the portal's receipt, not from the desk's acceptance.
    assert_eq!(show(dossier.received_at), "2026-11-02 09:00");
    assert_eq!(show(dossier.due_at), "2026-11-05 09:00");
    assert_eq!(
        (done.event.from, done.event.to, done.event.actor),
        (Some(State::Submitted), State::Accepted, CLERK)
    );
}

#[test]
fn a_supplement_request_pauses_the_clock_and_the_supplement_resumes_it() {
    let asked = run(
        &accepted(),
        Command::RequestSupplement(RequestSupplement {
            reason: "  Giấy tờ bị mờ ".into(),
            items: vec![MissingItem {
                requirement_code: Some("CM".into()),
                name: "Giấy tờ chứng minh chỗ ở".into(),
                problem: "ảnh mờ".into(),
            }],
        }),
        OFFICER,
        "2026-11-03 09:00",
    );
    assert_eq!(asked.dossier.state, State::SupplementRequested);
    assert_eq!(
        asked.dossier.ledger,
        vec![ClockEvent::Paused {
            at: vn("2026-11-03 09:00"),
            cause: PauseCause::Supplement
        }]
    );
    let (record, request) = asked
        .dossier
        .particulars
        .last_supplement_request()
        .unwrap_or_else(|| panic!("no request recorded"));
    assert_eq!(request.reason, "Giấy tờ bị mờ", "texts are kept trimmed");
    assert_eq!((record.by, record.role), (OFFICER.id, Some(Role::Officer)));

    // A working day later the citizen supplies: the due time moves by it.
    let supplied = run(
        &asked.dossier,
        Command::Supply(Supply {
            documents: vec![DocumentEntry {
                requirement_code: "CM".into(),
                originals: 0,
                copies: 0,
                file_id: Some("f".into()),
            }],
            note: None,
        }),
        CITIZEN,
        "2026-11-04 09:00",
    );
    assert_eq!(supplied.dossier.state, State::InProcessing);
    assert_eq!(show(supplied.dossier.due_at), "2026-11-06 09:00");
    assert_eq!(supplied.dossier.particulars.documents.len(), 1);
}

#[test]
fn an_intake_supplement_moves_the_receipt_to_the_completion() {
    let filed = filed_online("2026-11-02 09:00");
    let asked = run(
        &filed,
        Command::RequestSupplement(RequestSupplement {
            reason: "Thiếu tờ khai".into(),
            items: vec![MissingItem {
                requirement_code: Some("TK".into()),
                name: "Tờ khai".into(),
                problem: "thiếu".into(),
            }],
        }),
        CLERK,
        "2026-11-02 10:00",
    );
    assert_eq!(asked.dossier.state, State::IntakeSupplement);
    assert_eq!(show(asked.dossier.acknowledged_at), "2026-11-02 10:00");
    assert_eq!(
        asked.dossier.received_at, None,
        "no clock before acceptance"
    );
    let completed = run(
        &asked.dossier,
        Command::Supply(Supply {
            documents: Vec::new(),
            note: Some("Đã nộp bản giấy tại Bộ phận Một cửa".into()),
        }),
        CITIZEN,
        "2026-11-04 08:00",
    );
    assert_eq!(completed.dossier.state, State::Submitted);
    let accepted = run(
        &completed.dossier,
        Command::Accept(Accept::default()),
        CLERK,
        "2026-11-04 15:00",
    );
    assert_eq!(show(accepted.dossier.received_at), "2026-11-04 08:00");
    assert_eq!(
        show(accepted.dossier.acknowledged_at),
        "2026-11-02 10:00",
        "the first acknowledgement stands"
    );
}

#[test]
fn completing_classifies_the_result_and_returning_sets_the_delivery() {
    let complete = || {
        Command::Complete(Complete {
            outcome: Verdict::Approved,
            result_files: Vec::new(),
            electronic_result: true,
            note: None,
        })
    };
    let early = run(&accepted(), complete(), OFFICER, "2026-11-04 09:00");
    assert_eq!(early.dossier.state, State::ResultReady);
    assert_eq!(early.dossier.outcome, Some(Outcome::Early));
    assert_eq!(show(early.dossier.finished_at), "2026-11-04 09:00");
    let late = run(&accepted(), complete(), OFFICER, "2026-11-06 09:00");
    assert_eq!(late.dossier.outcome, Some(Outcome::Late));

    let returned = run(
        &early.dossier,
        Command::Return(ReturnResult {
            delivery: Delivery::Desk,
            tracking_number: None,
        }),
        CLERK,
        "2026-11-04 10:00",
    );
    assert_eq!(returned.dossier.state, State::Returned);
    assert_eq!(returned.dossier.result_delivery, Delivery::Desk);
    assert_eq!(returned.dossier.finished_at, early.dossier.finished_at);
}

#[test]
fn the_lifecycle_is_asked_before_the_payload() {
    // A citizen may not accept, whatever the body.
    let wrong_role = try_run(
        &filed_online("2026-11-02 09:00"),
        Command::Accept(Accept::default()),
        CITIZEN,
        "2026-11-02 10:00",
    );
    assert!(matches!(
        wrong_role.map(|_| ()).map_err(refusal),
        Err(Refusal::WrongRole { .. })
    ));
    // Refusing an accepted dossier is the wrong state, even with an empty reason.
    let wrong_state = try_run(
        &accepted(),
        Command::Refuse(Refuse {
            reason: String::new(),
            legal_basis: String::new(),
        }),
        CLERK,
        "2026-11-03 09:00",
    );
    assert!(matches!(
        wrong_state.map(|_| ()).map_err(refusal),
        Err(Refusal::WrongState { .. })
    ));
}

#[test]
fn an_unacceptable_payload_names_every_field_and_changes_nothing() {
    let filed = filed_online("2026-11-02 09:00");
    let rejected = try_run(
        &filed,
        Command::RequestSupplement(RequestSupplement {
            reason: " ".into(),
            items: Vec::new(),
        }),
        CLERK,
        "2026-11-02 10:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(
        rejected,
        Err(vec!["items".to_owned(), "reason".to_owned()]),
        "Form 02 lists at least one document"
    );

    let nowhere = try_run(
        &accepted(),
        Command::HandOver(HandOver::default()),
        CLERK,
        "2026-11-03 09:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(nowhere, Err(vec!["to_step".to_owned()]));

    let control = try_run(
        &accepted(),
        Command::Stop(Stop {
            reason: "dừng\u{7}".into(),
        }),
        LEADER,
        "2026-11-03 09:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(control, Err(vec!["reason".to_owned()]));

    // A desk takes at most a hundred originals or copies of a document.
    let asked = run(
        &accepted(),
        Command::RequestSupplement(RequestSupplement {
            reason: "Thiếu".into(),
            items: vec![MissingItem {
                requirement_code: Some("CM".into()),
                name: "Giấy tờ".into(),
                problem: String::new(),
            }],
        }),
        OFFICER,
        "2026-11-03 08:00",
    );
    let heaps = try_run(
        &asked.dossier,
        Command::Supply(Supply {
            documents: vec![DocumentEntry {
                requirement_code: "CM".into(),
                originals: 1,
                copies: 2_147_483_648,
                file_id: None,
            }],
            note: None,
        }),
        CLERK,
        "2026-11-03 09:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(heaps, Err(vec!["documents[0].copies".to_owned()]));

    // What is asked for and supplied is a document of the procedure; online,
    // an uploaded file; and something arrives.
    let unknown = try_run(
        &accepted(),
        Command::RequestSupplement(RequestSupplement {
            reason: "Thiếu".into(),
            items: vec![MissingItem {
                requirement_code: Some("ZZ".into()),
                name: "?".into(),
                problem: "p".repeat(MAX_TEXT + 1),
            }],
        }),
        OFFICER,
        "2026-11-03 08:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(
        unknown,
        Err(vec![
            "items[0].requirement_code".to_owned(),
            "items[0].problem".to_owned()
        ])
    );
    let supply = |documents: Vec<DocumentEntry>| {
        Command::Supply(Supply {
            documents,
            note: None,
        })
    };
    let paper = DocumentEntry {
        requirement_code: "CM".into(),
        originals: 0,
        copies: 1,
        file_id: None,
    };
    for (documents, who, field) in [
        (Vec::new(), CLERK, "documents"),
        (vec![paper.clone(); MAX_ITEMS + 1], CLERK, "documents"),
        (vec![paper.clone()], CITIZEN, "documents[0].file_id"),
    ] {
        let refused = try_run(&asked.dossier, supply(documents), who, "2026-11-03 09:00")
            .map(|_| ())
            .map_err(invalid_fields);
        assert_eq!(refused, Err(vec![field.to_owned()]), "{field}");
    }
    assert!(
        try_run(
            &asked.dossier,
            supply(vec![paper]),
            CLERK,
            "2026-11-03 09:00"
        )
        .is_ok()
    );

    // A hand-over names a step of the procedure, and units and people by id.
    let astray = try_run(
        &accepted(),
        Command::HandOver(HandOver {
            to_step: Some("Không có bước này".into()),
            to_agency_id: Some("not-an-id".into()),
            to_user_id: Some("zzz".into()),
            note: None,
        }),
        CLERK,
        "2026-11-03 09:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(
        astray,
        Err(vec![
            "to_step".to_owned(),
            "to_agency_id".to_owned(),
            "to_user_id".to_owned()
        ])
    );

    // A note may run over lines; a reason is one line.
    let lines = HandOver {
        to_step: Some("Thẩm định".into()),
        note: Some("dòng một\ndòng hai\tcột".into()),
        ..HandOver::default()
    };
    assert!(
        try_run(
            &accepted(),
            Command::HandOver(lines),
            CLERK,
            "2026-11-03 09:00"
        )
        .is_ok()
    );
}

#[test]
fn a_payment_must_settle_the_fee_due_once() {
    let pay = |amount: i64, method: Option<PaymentMethod>, reference: &str| {
        Command::RecordPayment(RecordPayment {
            amount,
            method,
            reference: reference.into(),
            note: None,
        })
    };
    let awaiting = awaiting_payment();
    assert_eq!(awaiting.state, State::AwaitingPayment);

    let short = try_run(&awaiting, pay(1, None, "GW-1"), GATEWAY, "2026-11-03 10:00");
    assert_eq!(
        short.map(|_| ()).map_err(refusal),
        Err(Refusal::PaymentAmountMismatch {
            paid: 1,
            due: Some(40_000)
        })
    );
    // Staff record cash or transfer only; the gateway's method is always online.
    let claimed_online = try_run(
        &awaiting,
        pay(40_000, Some(PaymentMethod::Online), "BL-1"),
        CLERK,
        "2026-11-03 10:00",
    );
    assert_eq!(
        claimed_online.map(|_| ()).map_err(invalid_fields),
        Err(vec!["method".to_owned()])
    );
    let paid = run(
        &awaiting,
        pay(40_000, Some(PaymentMethod::Cash), "GW-2"),
        GATEWAY,
        "2026-11-03 10:00",
    );
    assert_eq!(paid.dossier.state, State::InProcessing);
    let Some(Command::RecordPayment(recorded)) = paid.event.command() else {
        panic!("not a payment event");
    };
    assert_eq!(recorded.method, Some(PaymentMethod::Online));
    assert!(paid.event.payload().contains("\"method\":\"online\""));

    // Paid: no second payment until another fee is requested.
    let twice = try_run(
        &paid.dossier,
        pay(50_000, Some(PaymentMethod::Cash), "BL-2"),
        CLERK,
        "2026-11-03 11:00",
    );
    assert_eq!(
        twice.map(|_| ()).map_err(refusal),
        Err(Refusal::FeeAlreadyPaid)
    );
}

#[test]
fn a_fee_asked_for_is_the_procedures_fixed_fee_or_none_if_exempt() {
    let ask = |amount: i64| {
        Command::RequestPayment(RequestPayment {
            amount,
            reason: "Phí".into(),
        })
    };
    let wrong = try_run(&accepted(), ask(123), OFFICER, "2026-11-03 09:00");
    assert_eq!(
        wrong.map(|_| ()).map_err(invalid_fields),
        Err(vec!["amount".to_owned()]),
        "a fixed fee is asked for as it is"
    );
    let huge = try_run(&accepted(), ask(i64::MAX), OFFICER, "2026-11-03 09:00");
    assert!(matches!(huge, Err(Rejection::Invalid(_))));

    let (mut exempt, calendar) = (procedure(), calendar());
    exempt.fee = Fee::Exempt { note: None };
    let context = Context {
        procedure: &exempt,
        calendar: &calendar,
        at: vn("2026-11-03 09:00"),
    };
    let refused = accepted().handle(ask(50_000), OFFICER, &context);
    assert_eq!(
        refused.map(|_| ()).map_err(refusal),
        Err(Refusal::NoFeeCharged)
    );

    let mut by_formula = procedure();
    by_formula.fee = Fee::Formula {
        note: "2.000 đồng một trang".into(),
    };
    let context = Context {
        procedure: &by_formula,
        ..context
    };
    let asked = accepted()
        .handle(ask(18_000), OFFICER, &context)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(asked.dossier.fee_due(&by_formula), Some(18_000));
}

#[test]
fn a_fee_paid_up_front_is_the_procedures_fee_for_the_channel() {
    let filed = filed_online("2026-11-02 09:00");
    let procedure = procedure();
    assert_eq!(filed.fee_due(&procedure), Some(40_000), "online amount");
    let mut at_desk = filed.clone();
    at_desk.channel = Channel::Direct;
    assert_eq!(at_desk.fee_due(&procedure), Some(50_000));
    let paid = run(
        &filed,
        Command::RecordPayment(RecordPayment {
            amount: 40_000,
            method: None,
            reference: "GW-9".into(),
            note: None,
        }),
        GATEWAY,
        "2026-11-02 09:05",
    );
    assert_eq!(paid.dossier.state, State::Submitted, "a side record only");
    assert!(paid.dossier.particulars.paid());
    assert_eq!(
        paid.dossier.acknowledged_at, None,
        "paying is not acknowledging"
    );
}

#[test]
fn an_extension_adds_working_days_within_the_allowance() {
    let extend = |days: u32| {
        Command::ExtendVerification(ExtendVerification {
            working_days: days,
            reason: "Xác minh".into(),
        })
    };
    let extended = run(&accepted(), extend(2), OFFICER, "2026-11-03 09:00");
    assert_eq!(show(extended.dossier.due_at), "2026-11-09 09:00");
    assert_eq!(extended.dossier.particulars.extension_days, 2);
    let beyond = try_run(&extended.dossier, extend(4), OFFICER, "2026-11-03 10:00");
    assert_eq!(
        beyond.map(|_| ()).map_err(refusal),
        Err(Refusal::ExtensionBeyondAllowance {
            requested: 4,
            available: 3
        })
    );
}

/// The agency at fault apologises: for the processing only a leader; for
/// the desk's own error at intake its clerk too (Form 04).
#[test]
fn the_agency_at_fault_apologises() {
    let apology = |fault| {
        Command::Apologise(Apologise {
            reason: "Tiếp nhận thiếu giấy tờ".into(),
            new_appointment_at: vn("2026-11-10 09:00"),
            fault,
        })
    };
    let refused = try_run(
        &accepted(),
        apology(ApologyFault::Processing),
        CLERK,
        "2026-11-03 09:00",
    );
    assert_eq!(
        refused.map(|_| ()).map_err(refusal),
        Err(Refusal::WrongRole {
            action: "apologise for the processing",
            role: Role::Clerk
        })
    );
    for actor in [CLERK, LEADER] {
        let given = run(
            &accepted(),
            apology(ApologyFault::Intake),
            actor,
            "2026-11-03 09:00",
        );
        let fault = given.dossier.particulars.apology.map(|a| a.fault);
        assert_eq!(fault, Some(ApologyFault::Intake), "{:?}", actor.role);
    }
}

#[test]
fn an_apology_is_kept_once_and_never_moves_the_due_time() {
    let apology = |at: &str| {
        Command::Apologise(Apologise {
            reason: "Chờ xác minh".into(),
            new_appointment_at: vn(at),
            fault: ApologyFault::Processing,
        })
    };
    let given = run(
        &accepted(),
        apology("2026-11-10 09:00"),
        LEADER,
        "2026-11-03 09:00",
    );
    let record = given
        .dossier
        .particulars
        .apology
        .clone()
        .unwrap_or_else(|| panic!("no apology kept"));
    assert_eq!(show(Some(record.new_appointment_at)), "2026-11-10 09:00");
    assert_eq!(show(given.dossier.due_at), "2026-11-05 09:00");
    let again = try_run(
        &given.dossier,
        apology("2026-11-11 09:00"),
        LEADER,
        "2026-11-03 10:00",
    );
    assert_eq!(
        again.map(|_| ()).map_err(refusal),
        Err(Refusal::ApologyAlreadyGiven)
    );
    let past = try_run(
        &accepted(),
        apology("2026-11-01 09:00"),
        LEADER,
        "2026-11-03 09:00",
    );
    assert_eq!(
        past.map(|_| ()).map_err(invalid_fields),
        Err(vec!["new_appointment_at".to_owned()])
    );
    // Due 2026-11-05 09:00: a new appointment at or before it is no new one.
    for early in ["2026-11-04 09:00", "2026-11-05 09:00"] {
        let not_later = try_run(&accepted(), apology(early), LEADER, "2026-11-03 09:00");
        assert_eq!(
            not_later.map(|_| ()).map_err(invalid_fields),
            Err(vec!["new_appointment_at".to_owned()]),
            "{early}"
        );
    }
}

#[test]
fn withdrawing_finishes_only_a_dossier_whose_clock_runs() {
    let withdraw = || {
        Command::Withdraw(Withdraw {
            reason: "Nộp nhầm".into(),
        })
    };
    let early = run(
        &filed_online("2026-11-02 09:00"),
        withdraw(),
        CITIZEN,
        "2026-11-02 10:00",
    );
    assert_eq!(early.dossier.state, State::Withdrawn);
    assert_eq!(
        (early.dossier.finished_at, early.dossier.acknowledged_at),
        (None, None)
    );
    let late = run(&accepted(), withdraw(), CITIZEN, "2026-11-03 10:00");
    assert_eq!(show(late.dossier.finished_at), "2026-11-03 10:00");
    assert_eq!(
        late.dossier.ledger,
        vec![ClockEvent::Stopped {
            at: vn("2026-11-03 10:00")
        }]
    );
}

#[test]
fn a_denial_states_its_reason() {
    let deny = |note: Option<&str>| {
        Command::Complete(Complete {
            outcome: Verdict::Denied,
            result_files: Vec::new(),
            electronic_result: false,
            note: note.map(str::to_owned),
        })
    };
    // Nothing, spaces, or characters that print as nothing.
    for silent in [
        None,
        Some("  "),
        Some("\u{200b}"),
        Some("\u{feff}\u{2060}"),
        Some("\u{3164}"),
    ] {
        let refused = try_run(&accepted(), deny(silent), OFFICER, "2026-11-04 09:00");
        assert_eq!(
            refused.map(|_| ()).map_err(invalid_fields),
            Err(vec!["note".to_owned()])
        );
    }
    let denied = run(
        &accepted(),
        deny(Some("không đủ điều kiện")),
        OFFICER,
        "2026-11-04 09:00",
    );
    let (_, result) = denied
        .dossier
        .particulars
        .denial()
        .unwrap_or_else(|| panic!("no denial"));
    assert_eq!(result.note.as_deref(), Some("không đủ điều kiện"));
}

#[test]
fn a_rating_is_kept_once() {
    let ready = run(
        &accepted(),
        Command::Complete(Complete {
            outcome: Verdict::Denied,
            result_files: Vec::new(),
            electronic_result: false,
            note: Some("không đủ điều kiện".into()),
        }),
        OFFICER,
        "2026-11-04 09:00",
    )
    .dossier;
    let rate = || {
        Command::Rate(Rate {
            overall: Satisfaction::Satisfied,
            criteria: Default::default(),
            comment: Some("  Nhanh ".into()),
        })
    };
    let rated = run(&ready, rate(), CITIZEN, "2026-11-04 10:00");
    let rating = rated
        .dossier
        .particulars
        .rating
        .clone()
        .unwrap_or_else(|| panic!("no rating"));
    assert_eq!(
        (rating.overall, rating.comment.as_deref()),
        (Satisfaction::Satisfied, Some("Nhanh"))
    );
    let again = try_run(&rated.dossier, rate(), CITIZEN, "2026-11-04 11:00");
    assert_eq!(
        again.map(|_| ()).map_err(refusal),
        Err(Refusal::AlreadyRated)
    );
}

#[test]
fn records_written_before_the_types_still_read() {
    // As earlier releases stored them: the whole request body with `kind`,
    // `at`, `by` and `role`, fields of their own, and items as bare codes.
    let stored = r#"{
        "applicant": {"full_name": "Nguyễn Văn An", "national_id": null, "phone": "0912345678", "email": null, "address": null},
        "documents": [{"requirement_code": "TK", "originals": 1, "copies": 0, "file_id": null}],
        "postal_address": null, "online_kind": "full", "completed_at": null, "extension_days": 0,
        "apology": {"reason": "Chậm", "new_appointment_at": "2026-11-10T02:00:00Z", "at": "2026-11-03T02:00:00Z"},
        "rating": null,
        "records": [
            {"kind": "supplement_request", "reason": "Thiếu", "items": ["CM"], "at": "2026-11-02T03:00:00Z", "by": "00000000-0000-0000-0000-000000000001"},
            {"kind": "handover", "to_step": "Thẩm định", "note": "gấp", "extra": 1, "at": "2026-11-02T04:00:00Z", "role": "clerk"},
            {"kind": "payment", "amount": 15000, "method": "online", "reference": "GW-1", "at": "2026-11-02T05:00:00Z", "role": "payment_gateway"}
        ]
    }"#;
    let particulars: Particulars = serde_json::from_str(stored).unwrap_or_else(|e| panic!("{e}"));
    let (_, request) = particulars
        .last_supplement_request()
        .unwrap_or_else(|| panic!("no request"));
    assert_eq!(request.items[0].requirement_code.as_deref(), Some("CM"));
    assert_eq!(particulars.handovers().count(), 1);
    assert!(particulars.paid());
    assert_eq!(
        particulars.online_kind,
        Some(motcua_domain::online::OnlineServiceKind::Full)
    );
    // What is written now reads back the same.
    let written = serde_json::to_string(&particulars).unwrap_or_else(|e| panic!("{e}"));
    let reread: Particulars = serde_json::from_str(&written).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reread, particulars);
}

#[test]
fn a_desk_intake_opens_the_dossier_as_the_clerk_decides() {
    let (procedure, calendar) = (procedure(), calendar());
    let context = Context {
        procedure: &procedure,
        calendar: &calendar,
        at: vn("2026-11-02 09:00"),
    };
    let open = |decision: IntakeDecision, actor: Actor| {
        Dossier::open(
            Opening::Desk {
                channel: Channel::Direct,
                decision,
            },
            Particulars::default(),
            Delivery::Desk,
            actor,
            &context,
        )
    };
    let accepted = open(IntakeDecision::Accept, CLERK).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accepted.dossier.state, State::Accepted);
    assert_eq!(show(accepted.dossier.received_at), "2026-11-02 09:00");
    assert_eq!(show(accepted.dossier.due_at), "2026-11-05 09:00");
    assert_eq!(
        (accepted.event.action(), accepted.event.from),
        ("intake_accept", None)
    );

    let refused = open(
        IntakeDecision::Refuse(Refuse {
            reason: "Sai thẩm quyền".into(),
            legal_basis: "Điều 9".into(),
        }),
        CLERK,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.dossier.state, State::Refused);
    assert_eq!(show(refused.dossier.finished_at), "2026-11-02 09:00");
    assert_eq!(
        refused.dossier.received_at, None,
        "a refused dossier has no clock"
    );
    assert!(refused.dossier.particulars.last_refusal().is_some());

    let by_citizen = open(IntakeDecision::Accept, CITIZEN)
        .map(|_| ())
        .map_err(refusal);
    assert!(matches!(by_citizen, Err(Refusal::WrongRole { .. })));
}

#[test]
fn every_event_reads_back_as_the_command_it_records() {
    // One dossier's whole life; each event's stored form gives its command back.
    let mut dossier = accepted();
    let steps = [
        (
            Command::HandOver(HandOver {
                to_step: Some("Thẩm định".into()),
                ..HandOver::default()
            }),
            CLERK,
            "2026-11-02 15:00",
        ),
        (
            Command::RequestPayment(RequestPayment {
                amount: 40_000,
                reason: "Phí".into(),
            }),
            OFFICER,
            "2026-11-03 08:00",
        ),
        (
            Command::RecordPayment(RecordPayment {
                amount: 40_000,
                method: None,
                reference: "GW-1".into(),
                note: None,
            }),
            GATEWAY,
            "2026-11-03 09:00",
        ),
        (
            Command::ExtendVerification(ExtendVerification {
                working_days: 1,
                reason: "Xác minh".into(),
            }),
            OFFICER,
            "2026-11-03 10:00",
        ),
        (
            Command::Complete(Complete {
                outcome: Verdict::Approved,
                result_files: vec!["f".into()],
                electronic_result: true,
                note: Some("xong".into()),
            }),
            OFFICER,
            "2026-11-04 10:00",
        ),
        (
            Command::Return(ReturnResult {
                delivery: Delivery::Online,
                tracking_number: None,
            }),
            CLERK,
            "2026-11-04 11:00",
        ),
        (
            Command::Rate(Rate {
                overall: Satisfaction::VerySatisfied,
                criteria: [("thai_do".to_owned(), Satisfaction::Satisfied)].into(),
                comment: None,
            }),
            CITIZEN,
            "2026-11-04 12:00",
        ),
    ];
    for (command, actor, at) in steps {
        let handled = run(&dossier, command, actor, at);
        let recorded = handled
            .event
            .command()
            .cloned()
            .unwrap_or_else(|| panic!("no command"));
        let reread = Command::from_stored(handled.event.action(), &handled.event.payload())
            .unwrap_or_else(|e| panic!("{}: {e}", handled.event.action()));
        assert_eq!(reread, recorded);
        dossier = handled.dossier;
    }
    assert_eq!(dossier.state, State::Returned);
    assert!(Command::from_stored("file_online", "{}").is_err());
}

#[test]
fn references_criteria_and_new_appointments_have_their_bounds() {
    let awaiting = awaiting_payment();
    // A receipt number has one spelling: accents and invisible characters
    // would let the same number be recorded twice.
    for reference in ["ĐỒNG-1", "BL-1\u{200b}", "BL\u{ff0d}1"] {
        let refused = try_run(
            &awaiting,
            Command::RecordPayment(RecordPayment {
                amount: 40_000,
                method: Some(PaymentMethod::Cash),
                reference: reference.into(),
                note: None,
            }),
            CLERK,
            "2026-11-03 10:00",
        )
        .map(|_| ())
        .map_err(invalid_fields);
        assert_eq!(refused, Err(vec!["reference".to_owned()]), "{reference}");
    }
    // A criterion named twice is refused, not overwritten.
    let twice: Result<Rate, _> = serde_json::from_str(
        r#"{"overall":"satisfied","criteria":{"thai_do":"satisfied","thai_do":"dissatisfied"}}"#,
    );
    assert!(twice.is_err());
    // A new appointment lies within a year of the legal due time.
    let far = try_run(
        &accepted(),
        Command::Apologise(Apologise {
            reason: "Chờ xác minh".into(),
            new_appointment_at: vn("2027-11-09 09:00"),
            fault: ApologyFault::Processing,
        }),
        LEADER,
        "2026-11-03 09:00",
    )
    .map(|_| ())
    .map_err(invalid_fields);
    assert_eq!(far, Err(vec!["new_appointment_at".to_owned()]));
}

/// Processing across agencies: each hand-over begins a step at the agency
/// it names; the agency whose step ran over its budget by the most is at
/// fault. Accepted Monday 2/11 08:00 (due Thursday 08:00); appraisal at
/// department D from 08:00 (8 working hours: due Tuesday 08:00), handed on
/// to police unit P only on Wednesday 08:00; P (no budgeted step) finishes
/// Thursday 09:00, late.
#[test]
fn the_agency_whose_step_ran_over_its_budget_is_at_fault() {
    let (receiving, department, police) = (
        Uuid::from_u128(10),
        Uuid::from_u128(11),
        Uuid::from_u128(12),
    );
    let hand_over = |to: Uuid, step: Option<&str>| {
        Command::HandOver(HandOver {
            to_step: step.map(Into::into),
            to_agency_id: Some(to.to_string()),
            to_user_id: None,
            note: None,
        })
    };
    let accepted = run(
        &filed_online("2026-11-02 08:00"),
        Command::Accept(Accept::default()),
        CLERK,
        "2026-11-02 08:00",
    )
    .dossier;
    let at_d = run(
        &accepted,
        hand_over(department, Some("thẩm định")),
        CLERK,
        "2026-11-02 08:00",
    )
    .dossier;
    assert_eq!(at_d.particulars.holder(), Some(department));
    let (procedure, calendar) = (procedure(), calendar());
    let steps = at_d
        .steps(receiving, &procedure, &calendar, vn("2026-11-02 17:00"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Dossier::at_fault(&steps, vn("2026-11-02 17:00")),
        None,
        "within its budget so far"
    );

    let at_p = run(&at_d, hand_over(police, None), OFFICER, "2026-11-04 08:00").dossier;
    assert_eq!(at_p.particulars.holder(), Some(police));
    let done = run(
        &at_p,
        Command::Complete(Complete {
            outcome: Verdict::Approved,
            result_files: Vec::new(),
            electronic_result: true,
            note: None,
        }),
        OFFICER,
        "2026-11-05 09:00",
    );
    assert_eq!(done.dossier.outcome, Some(Outcome::Late));
    let at = vn("2026-11-05 10:00");
    let steps = done
        .dossier
        .steps(receiving, &procedure, &calendar, at)
        .unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<_> = steps
        .iter()
        .map(|step| {
            (
                step.agency,
                step.budget_hours,
                step.deadline.as_ref().map(|d| show(Some(d.due_at))),
                step.deadline.as_ref().and_then(|d| d.outcome),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                department,
                Some(8),
                Some("2026-11-03 08:00".to_owned()),
                Some(Outcome::Late)
            ),
            (police, None, None, None),
        ]
    );
    assert_eq!(Dossier::at_fault(&steps, at), Some(department));
}
