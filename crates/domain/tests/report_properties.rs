//! Form 06's invariants over random dossier histories (docs/requirements.md §9.1).

use chrono::{DateTime, Duration, Utc};
use motcua_domain::clock::Outcome;
use motcua_domain::reports::{Finish, Kstt06Row, OpenAtEnd, Period, ReportDossier, kstt06};
use proptest::prelude::*;

fn base() -> DateTime<Utc> {
    Period::parse("2026-09")
        .map(|p| p.start)
        .unwrap_or_default()
}

prop_compose! {
    fn dossier()(
        group in 0..4u8,
        online in any::<bool>(),
        refused in proptest::bool::weighted(0.1),
        accepted_hours in 0i64..(120 * 24),
        finish in proptest::option::of((1i64..(60 * 24), 0..5u8, any::<bool>())),
        overdue in any::<bool>(),
        waiting in any::<bool>(),
    ) -> (ReportDossier, bool, bool) {
        let at = base() + Duration::hours(accepted_hours);
        let finished = finish.map(|(after, kind, apology)| {
            let how = match kind {
                0 => Finish::Result { outcome: Outcome::Early, apology },
                1 => Finish::Result { outcome: Outcome::OnTime, apology },
                2 => Finish::Result { outcome: Outcome::Late, apology },
                3 => Finish::Withdrawn,
                _ => Finish::Stopped,
            };
            (at + Duration::hours(after), how)
        });
        let dossier = ReportDossier {
            group: format!("g{group}"),
            online,
            accepted_at: (!refused).then_some(at),
            finished: if refused { None } else { finished },
            refused_at: refused.then_some(at),
            open_at_end: None,
        };
        (dossier, overdue, waiting)
    }
}

/// The dossiers as the report sees them at the end of `period`.
fn at_end(dossiers: &[(ReportDossier, bool, bool)], period: &Period) -> Vec<ReportDossier> {
    dossiers
        .iter()
        .map(|(d, overdue, waiting)| {
            let mut d = d.clone();
            d.open_at_end = d.open_at(period.end).then_some(OpenAtEnd {
                overdue: *overdue,
                waiting_for_supplement: *waiting,
            });
            d
        })
        .collect()
}

fn balanced(row: &Kstt06Row) -> bool {
    row.taken_on == row.new_online + row.new_direct + row.carried_over
        && row.resolved == row.early + row.on_time + row.late
        && row.in_progress == row.within_deadline + row.overdue
        && row.taken_on == row.resolved + row.in_progress + row.withdrawn + row.stopped
        && row.waiting_supplement <= row.in_progress
        && row.late_with_apology <= row.late
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_columns_add_up_and_periods_chain(dossiers in proptest::collection::vec(dossier(), 0..120)) {
        let months = ["2026-09", "2026-10", "2026-11", "2026-12"].map(|m| Period::parse(m).unwrap_or_else(|e| panic!("{e}")));
        let mut previous_in_progress = None;
        for period in &months {
            let report = kstt06(&at_end(&dossiers, period), period);
            prop_assert!(balanced(&report.total), "{:?}", report.total);
            for (_, row) in &report.rows {
                prop_assert!(balanced(row), "{row:?}");
            }
            let sum = report.rows.iter().fold(Kstt06Row::default(), |mut sum, (_, r)| {
                sum.taken_on += r.taken_on; sum.resolved += r.resolved; sum.in_progress += r.in_progress;
                sum.withdrawn += r.withdrawn; sum.stopped += r.stopped; sum.refused_at_intake += r.refused_at_intake;
                sum
            });
            prop_assert_eq!((sum.taken_on, sum.resolved, sum.in_progress, sum.withdrawn, sum.stopped, sum.refused_at_intake),
                (report.total.taken_on, report.total.resolved, report.total.in_progress, report.total.withdrawn, report.total.stopped, report.total.refused_at_intake));
            if let Some(open) = previous_in_progress {
                prop_assert_eq!(report.total.carried_over, open, "carried over = previous in progress");
            }
            previous_in_progress = Some(report.total.in_progress);
        }
        // A quarter is the sum of its months' new dossiers and ends where the last month ends.
        let quarter = Period::parse("2026-Q4").unwrap_or_else(|e| panic!("{e}"));
        let q = kstt06(&at_end(&dossiers, &quarter), &quarter).total;
        let months_new: u64 = months[1..].iter().map(|p| { let r = kstt06(&at_end(&dossiers, p), p).total; r.new_online + r.new_direct }).sum();
        prop_assert_eq!(q.new_online + q.new_direct, months_new);
        prop_assert_eq!(q.in_progress, kstt06(&at_end(&dossiers, &months[3]), &months[3]).total.in_progress);
    }
}
