//! Service-quality indicators in the shape of Decision 766/QĐ-TTg (2022),
//! for the parts this system holds data for (docs/requirements.md §9.2).
//!
//! Decision 766 scores a province's service to citizens out of 100 points.
//! Each indicator here is a share (numerator over denominator) scored as
//! `share × maximum`. Which dossiers count is written next to each builder
//! below and in docs/reports.md; the inputs are counted by the caller over
//! one period and one agency subtree.
//!
//! Indicators whose data lives outside motcua (publication of procedures on
//! the national portal, digitisation of documents) are listed as not
//! computable rather than left out, so that an auditor sees what is missing.

use serde::Serialize;

use crate::reports::Kstt06Row;

/// A numerator over a denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    /// Dossiers meeting the indicator.
    pub numerator: u64,
    /// Dossiers the indicator is measured over.
    pub denominator: u64,
}

impl Share {
    /// Counts one dossier of the denominator; `met` says whether it is in the numerator.
    pub fn count(&mut self, met: bool) {
        self.denominator += 1;
        if met {
            self.numerator += 1;
        }
    }
}

/// What the indicators are computed from, counted over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndicatorFacts {
    /// Form 06 totals for the period (the progress indicator).
    pub form06: Kstt06Row,
    /// New dossiers of procedures offered as full online service; met if filed online.
    pub online_filing: Share,
    /// Payments recorded in the period; met if paid online.
    pub online_payment: Share,
    /// Results recorded in the period; met if delivered electronically.
    pub electronic_result: Share,
    /// Results recorded in the period; met if neither late nor rated dissatisfied.
    pub satisfaction: Share,
    /// Online filings whose acknowledgement fell due in the period; met if acknowledged by then.
    pub acknowledgement: Share,
}

/// Which indicator (docs/reports.md lists how each is counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKey {
    /// Công khai, minh bạch (not computable here).
    Publicity,
    /// Tiến độ giải quyết.
    Progress,
    /// Dịch vụ công trực tuyến.
    OnlineFiling,
    /// Thanh toán trực tuyến.
    OnlinePayment,
    /// Mức độ hài lòng.
    Satisfaction,
    /// Trả kết quả điện tử.
    ElectronicResult,
    /// Số hóa hồ sơ, kết quả (not computable here).
    Digitisation,
    /// Tiếp nhận hồ sơ trực tuyến đúng hạn (not scored by Decision 766).
    Acknowledgement,
}

impl IndicatorKey {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKey::Publicity => "publicity",
            IndicatorKey::Progress => "progress",
            IndicatorKey::OnlineFiling => "online_filing",
            IndicatorKey::OnlinePayment => "online_payment",
            IndicatorKey::Satisfaction => "satisfaction",
            IndicatorKey::ElectronicResult => "electronic_result",
            IndicatorKey::Digitisation => "digitisation",
            IndicatorKey::Acknowledgement => "acknowledgement",
        }
    }
}

/// One indicator. Each field is documented with its column's Vietnamese
/// title first (as in the CSV header), then its meaning.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Indicator {
    /// Mã chỉ số — the indicator.
    pub key: IndicatorKey,
    /// Chỉ số — its Vietnamese name.
    pub name: &'static str,
    /// Tính được — whether this system holds the data to compute it.
    pub computable: bool,
    /// Tử số — dossiers meeting it (none when not computable).
    pub numerator: Option<u64>,
    /// Mẫu số — dossiers it is measured over (none when not computable).
    pub denominator: Option<u64>,
    /// Tỷ lệ — numerator / denominator (none when there is nothing to measure).
    pub ratio: Option<f64>,
    /// Điểm — ratio × maximum, to two decimals.
    pub points: Option<f64>,
    /// Điểm tối đa — the points Decision 766 gives it (none when it is not scored there).
    pub maximum: Option<f64>,
    /// Ghi chú — why it is not computable, or how it is counted.
    pub note: &'static str,
}

fn scored(
    key: IndicatorKey,
    name: &'static str,
    share: Share,
    maximum: Option<f64>,
    note: &'static str,
) -> Indicator {
    let ratio = (share.denominator > 0).then(|| share.numerator as f64 / share.denominator as f64);
    Indicator {
        key,
        name,
        computable: true,
        numerator: Some(share.numerator),
        denominator: Some(share.denominator),
        ratio,
        points: ratio
            .zip(maximum)
            .map(|(r, max)| (r * max * 100.0).round() / 100.0),
        maximum,
        note,
    }
}

fn not_computable(key: IndicatorKey, name: &'static str, note: &'static str) -> Indicator {
    Indicator {
        key,
        name,
        computable: false,
        numerator: None,
        denominator: None,
        ratio: None,
        points: None,
        maximum: None,
        note,
    }
}

/// The indicators, in the order of Decision 766's groups.
pub fn indicators(facts: &IndicatorFacts) -> Vec<Indicator> {
    let form = facts.form06;
    let progress = Share {
        numerator: form.early + form.on_time + form.within_deadline,
        denominator: form.resolved + form.in_progress,
    };
    vec![
        not_computable(
            IndicatorKey::Publicity,
            "Công khai, minh bạch",
            "publication of procedures and dossier status on the national portal is outside this system",
        ),
        scored(
            IndicatorKey::Progress,
            "Tiến độ giải quyết",
            progress,
            Some(20.0),
            "results early or on time, plus dossiers open and within their deadline at the end of the period, over all resolved and open dossiers",
        ),
        scored(
            IndicatorKey::OnlineFiling,
            "Dịch vụ công trực tuyến",
            facts.online_filing,
            Some(12.0),
            "dossiers accepted in the period for procedures offered as full online service, filed online",
        ),
        scored(
            IndicatorKey::OnlinePayment,
            "Thanh toán trực tuyến",
            facts.online_payment,
            Some(10.0),
            "fee payments recorded in the period, paid online",
        ),
        scored(
            IndicatorKey::Satisfaction,
            "Mức độ hài lòng",
            facts.satisfaction,
            Some(6.0),
            "results recorded in the period, neither late nor rated dissatisfied",
        ),
        scored(
            IndicatorKey::ElectronicResult,
            "Trả kết quả điện tử",
            facts.electronic_result,
            Some(6.0),
            "results recorded in the period, delivered online",
        ),
        not_computable(
            IndicatorKey::Digitisation,
            "Số hóa hồ sơ, kết quả",
            "digitisation of submitted documents and results is not recorded by this system",
        ),
        scored(
            IndicatorKey::Acknowledgement,
            "Tiếp nhận hồ sơ trực tuyến đúng hạn",
            facts.acknowledgement,
            None,
            "online filings whose acknowledgement deadline fell in the period, acknowledged by it (required by law; not scored by Decision 766)",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(numerator: u64, denominator: u64) -> Share {
        Share {
            numerator,
            denominator,
        }
    }

    fn find<'a>(all: &'a [Indicator], key: &str) -> &'a Indicator {
        all.iter()
            .find(|i| i.key.as_str() == key)
            .unwrap_or_else(|| panic!("{key}"))
    }

    #[test]
    fn progress_counts_open_dossiers_within_their_deadline() {
        // 10 resolved (3 early, 5 on time, 2 late); 4 open (3 within, 1 overdue).
        let form06 = Kstt06Row {
            resolved: 10,
            early: 3,
            on_time: 5,
            late: 2,
            in_progress: 4,
            within_deadline: 3,
            overdue: 1,
            ..Kstt06Row::default()
        };
        let all = indicators(&IndicatorFacts {
            form06,
            ..IndicatorFacts::default()
        });
        let progress = find(&all, "progress");
        // (3 + 5 + 3) / (10 + 4) = 11/14; 20 × 11/14 = 15.714…
        assert_eq!(
            (progress.numerator, progress.denominator),
            (Some(11), Some(14))
        );
        assert_eq!(progress.points, Some(15.71));
        assert_eq!(progress.maximum, Some(20.0));
    }

    #[test]
    fn shares_are_scored_against_their_maximum() {
        let all = indicators(&IndicatorFacts {
            online_filing: share(3, 10),
            online_payment: share(1, 4),
            electronic_result: share(2, 2),
            satisfaction: share(7, 8),
            acknowledgement: share(5, 6),
            ..IndicatorFacts::default()
        });
        let points = |key| find(&all, key).points;
        assert_eq!(points("online_filing"), Some(3.6));
        assert_eq!(points("online_payment"), Some(2.5));
        assert_eq!(points("electronic_result"), Some(6.0));
        assert_eq!(points("satisfaction"), Some(5.25));
        // Required by law but not scored: a ratio without points.
        let acknowledgement = find(&all, "acknowledgement");
        assert_eq!(acknowledgement.points, None);
        assert_eq!(acknowledgement.ratio, Some(5.0 / 6.0));
        // Nothing resolved or open: nothing to measure, no points rather than full or none.
        let progress = find(&all, "progress");
        assert_eq!((progress.ratio, progress.points), (None, None));
    }

    #[test]
    fn what_this_system_cannot_see_is_said_not_computable() {
        let all = indicators(&IndicatorFacts::default());
        let missing: Vec<&str> = all
            .iter()
            .filter(|i| !i.computable)
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(missing, ["publicity", "digitisation"]);
        let maxima: f64 = all.iter().filter_map(|i| i.maximum).sum();
        assert_eq!(maxima, 54.0, "20 + 12 + 10 + 6 + 6 of Decision 766's 100");
    }

    #[test]
    fn a_share_counts_its_dossiers() {
        let mut s = Share::default();
        for met in [true, false, true] {
            s.count(met);
        }
        assert_eq!(s, share(2, 3));
    }
}
