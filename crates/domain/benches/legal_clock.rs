//! P4: due-time computations per second on one core, and how the cost grows
//! with the deadline's length and with the number of calendar exceptions.
//!
//! Run: `cargo bench -p motcua-domain --bench legal_clock`
//! (figures and the machine are recorded in docs/performance.md).

use std::hint::black_box;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use motcua_domain::calendar::{CalendarLayer, DayOffKind, DayRule, WorkingCalendar};
use motcua_domain::clock::{TimeLimit, due_time};
use motcua_domain::national::national;
use motcua_domain::time::from_local;

/// 1,024 filings spread over 2024–2026 at varied times of day.
fn filings() -> Vec<DateTime<Utc>> {
    let base = NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    (0..1024i64)
        .map(|i| {
            from_local(base + Duration::minutes((i * 1_009 * 60 + i * 37) % (3 * 365 * 24 * 60)))
        })
        .collect()
}

/// The national calendar plus 10,000 extra closures, one every other day
/// from 1990 on (far more exceptions than any real agency has).
fn crowded() -> WorkingCalendar {
    let mut layer = national().cloned().unwrap_or_default();
    let start = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
    let mut added = 0;
    let mut date = start;
    while added < 10_000 {
        if let std::collections::btree_map::Entry::Vacant(slot) = layer.days.entry(date) {
            slot.insert(DayRule::Off {
                kind: DayOffKind::Closure,
                name: "closure".into(),
            });
            added += 1;
        }
        date += Duration::days(2);
    }
    WorkingCalendar::single(&layer)
}

fn bench(c: &mut Criterion) {
    let national = WorkingCalendar::single(national().unwrap_or(&CalendarLayer::default()));
    let crowded = crowded();
    let filings = filings();
    let mut group = c.benchmark_group("due_time");
    group.throughput(Throughput::Elements(filings.len() as u64));
    let cases: [(&str, &WorkingCalendar, TimeLimit); 4] = [
        ("3_working_days", &national, TimeLimit::working_days(3)),
        ("200_working_days", &national, TimeLimit::working_days(200)),
        (
            "3_working_days_10000_exceptions",
            &crowded,
            TimeLimit::working_days(3),
        ),
        (
            "200_working_days_10000_exceptions",
            &crowded,
            TimeLimit::working_days(200),
        ),
    ];
    for (name, calendar, limit) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                for &received in &filings {
                    let _ = black_box(due_time(calendar, limit, black_box(received)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
