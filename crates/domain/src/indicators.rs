//! Service-quality indicators of Decision 766/QĐ-TTg (2022) as the national
//! public-service portal computes them, for the parts this system holds
//! data for (docs/reports.md, "Indicators").
//!
//! Decision 766 scores a province's service to citizens out of 100 points
//! in groups (publicity 18, progress 20, online service and payment 22,
//! digitisation 22, satisfaction 18); the portal splits the groups into the
//! indicators below, each a share (numerator over denominator) scored
//! either linearly (`share × maximum`) or with full points from a threshold
//! (`min(maximum, maximum × share / threshold)`). The shares are counted by
//! the caller over one period and one agency subtree; the formulas that
//! combine counts (progress, satisfaction) are here.
//!
//! Indicators whose data lives outside motcua (publication on the national
//! portal, complaints, digitisation, the portal's copy of fee data) are
//! listed as not computable rather than left out, so that an auditor sees
//! what is missing.

use serde::Serialize;

use crate::reports::Kstt06Row;

/// A numerator over a denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    /// What meets the indicator.
    pub numerator: u64,
    /// What the indicator is measured over.
    pub denominator: u64,
}

impl Share {
    /// Counts one item of the denominator; `met` says whether it is in the numerator.
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
    /// Form 06 totals for the period.
    pub form06: Kstt06Row,
    /// Withdrawals and stops after acceptance in the period that came
    /// before the legal due time (part of Form 06's `withdrawn + stopped`).
    pub ended_in_time: u64,
    /// Dossiers of progress's denominator in time by their clock but asked
    /// for a supplement more than once after acceptance (the portal counts
    /// them late).
    pub repeated_supplement_in_time: u64,
    /// Results of the period, early or on time, that the citizen rated
    /// dissatisfied.
    pub dissatisfied_in_time: u64,
    /// Procedures in force: how many offer online service (partial or full).
    pub online_offer: Share,
    /// Procedures offering online service: how many had an online filing
    /// accepted in the period.
    pub online_use: Share,
    /// Dossiers accepted in the period: how many were filed online.
    pub online_filing: Share,
    /// Fee payments recorded in the period: how many were paid online.
    pub online_payment: Share,
    /// Procedures in force that charge a fee: how many had a fee paid online
    /// in the period.
    pub payment_offer: Share,
    /// Results recorded in the period: how many were delivered electronically.
    pub electronic_result: Share,
    /// Online filings whose acknowledgement fell due in the period: how many
    /// were acknowledged by then.
    pub acknowledgement: Share,
}

impl IndicatorFacts {
    /// Progress as the portal counts it: dossiers handled in the period
    /// (results, withdrawals and stops after acceptance, and those still
    /// open at the end) that were or are in time — early or on-time
    /// results, withdrawals and stops before the due time, open dossiers
    /// within it, none asked for a supplement more than once after
    /// acceptance — over all of them.
    pub fn progress(&self) -> Share {
        let form = &self.form06;
        let in_time = form.early + form.on_time + form.within_deadline + self.ended_in_time;
        Share {
            numerator: in_time.saturating_sub(self.repeated_supplement_in_time),
            denominator: form.resolved + form.in_progress + form.withdrawn + form.stopped,
        }
    }

    /// Satisfaction as the portal counts it: 100% less the late share and
    /// the share rated dissatisfied (complaints are outside motcua), over
    /// the same dossiers as progress.
    pub fn satisfaction(&self) -> Share {
        let progress = self.progress();
        Share {
            numerator: progress.numerator.saturating_sub(self.dissatisfied_in_time),
            denominator: progress.denominator,
        }
    }
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
    /// Thủ tục cung cấp dịch vụ công trực tuyến.
    OnlineOffer,
    /// Dịch vụ công trực tuyến có phát sinh hồ sơ.
    OnlineUse,
    /// Tỷ lệ hồ sơ trực tuyến.
    OnlineFiling,
    /// Hồ sơ thanh toán trực tuyến.
    OnlinePayment,
    /// Thủ tục có thanh toán trực tuyến.
    PaymentOffer,
    /// Đồng bộ thông tin phí, lệ phí (not computable here).
    FeeSync,
    /// Mức độ hài lòng về tiếp nhận, giải quyết TTHC.
    Satisfaction,
    /// Xử lý phản ánh, kiến nghị (not computable here).
    Complaints,
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
            IndicatorKey::OnlineOffer => "online_offer",
            IndicatorKey::OnlineUse => "online_use",
            IndicatorKey::OnlineFiling => "online_filing",
            IndicatorKey::OnlinePayment => "online_payment",
            IndicatorKey::PaymentOffer => "payment_offer",
            IndicatorKey::FeeSync => "fee_sync",
            IndicatorKey::Satisfaction => "satisfaction",
            IndicatorKey::Complaints => "complaints",
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
    /// Tử số — what meets it (none when not computable).
    pub numerator: Option<u64>,
    /// Mẫu số — what it is measured over (none when not computable).
    pub denominator: Option<u64>,
    /// Tỷ lệ — numerator / denominator (none when there is nothing to measure).
    pub ratio: Option<f64>,
    /// Điểm — the points, to two decimals: maximum × ratio, or with a
    /// threshold maximum × ratio / threshold up to the maximum.
    pub points: Option<f64>,
    /// Điểm tối đa — the points the portal gives it (none when it is not scored).
    pub maximum: Option<f64>,
    /// Ngưỡng đạt tối đa — the ratio from which it scores its maximum (none:
    /// only at 100%).
    pub threshold: Option<f64>,
    /// Ghi chú — why it is not computable, or how it is counted.
    pub note: &'static str,
}

/// How an indicator scores.
#[derive(Debug, Clone, Copy)]
struct Scoring {
    maximum: f64,
    threshold: Option<f64>,
}

const fn linear(maximum: f64) -> Option<Scoring> {
    Some(Scoring {
        maximum,
        threshold: None,
    })
}

const fn full_at(maximum: f64, threshold: f64) -> Option<Scoring> {
    Some(Scoring {
        maximum,
        threshold: Some(threshold),
    })
}

fn scored(
    key: IndicatorKey,
    name: &'static str,
    share: Share,
    scoring: Option<Scoring>,
    note: &'static str,
) -> Indicator {
    let ratio = (share.denominator > 0).then(|| share.numerator as f64 / share.denominator as f64);
    let points = ratio.zip(scoring).map(|(ratio, s)| {
        let points = (s.maximum * ratio / s.threshold.unwrap_or(1.0)).min(s.maximum);
        (points * 100.0).round() / 100.0
    });
    Indicator {
        key,
        name,
        computable: true,
        numerator: Some(share.numerator),
        denominator: Some(share.denominator),
        ratio,
        points,
        maximum: scoring.map(|s| s.maximum),
        threshold: scoring.and_then(|s| s.threshold),
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
        threshold: None,
        note,
    }
}

/// The indicators, in the order of the portal's groups.
pub fn indicators(facts: &IndicatorFacts) -> Vec<Indicator> {
    use IndicatorKey::*;
    vec![
        not_computable(
            Publicity,
            "Công khai, minh bạch",
            "publication of procedures and the sync of dossiers to the national portal (18 points) are outside this system",
        ),
        scored(
            Progress,
            "Tiến độ giải quyết",
            facts.progress(),
            linear(20.0),
            "results early or on time, withdrawals and stops before the due time, and dossiers open within their deadline at the end, none asked for a supplement twice after acceptance, over all results, withdrawals, stops and open dossiers of the period",
        ),
        scored(
            OnlineOffer,
            "Thủ tục cung cấp dịch vụ công trực tuyến",
            facts.online_offer,
            full_at(2.0, 0.8),
            "procedures in force at the end of the period offering partial or full online service, over all procedures in force",
        ),
        scored(
            OnlineUse,
            "Dịch vụ công trực tuyến có phát sinh hồ sơ",
            facts.online_use,
            linear(4.0),
            "procedures offering online service with an online filing accepted in the period, over the procedures offering it",
        ),
        scored(
            OnlineFiling,
            "Tỷ lệ hồ sơ trực tuyến",
            facts.online_filing,
            full_at(6.0, 0.5),
            "dossiers accepted in the period that were filed online, over all accepted (the portal also multiplies by its sync rate and, where a paper result is due, asks for an electronic one)",
        ),
        scored(
            OnlinePayment,
            "Hồ sơ thanh toán trực tuyến",
            facts.online_payment,
            linear(6.0),
            "fee payments recorded in the period that were made online, over all fee payments recorded",
        ),
        scored(
            PaymentOffer,
            "Thủ tục có thanh toán trực tuyến",
            facts.payment_offer,
            full_at(2.0, 0.8),
            "procedures in force that charge a fee with a fee paid online in the period, over those that charge a fee",
        ),
        not_computable(
            FeeSync,
            "Đồng bộ thông tin phí, lệ phí",
            "the portal's copy of each dossier's fee data (2 points) is outside this system",
        ),
        scored(
            Satisfaction,
            "Mức độ hài lòng về tiếp nhận, giải quyết TTHC",
            facts.satisfaction(),
            full_at(6.0, 0.9),
            "progress's dossiers in time, less results rated dissatisfied, over progress's dossiers (complaints are outside this system)",
        ),
        not_computable(
            Complaints,
            "Xử lý phản ánh, kiến nghị",
            "complaints and their handling (12 points) are outside this system",
        ),
        scored(
            ElectronicResult,
            "Trả kết quả điện tử",
            facts.electronic_result,
            linear(6.0),
            "results recorded in the period delivered online, over all results recorded (the portal counts results whose file is attached)",
        ),
        not_computable(
            Digitisation,
            "Số hóa hồ sơ, kết quả",
            "digitisation of documents and results, data reuse and the citizen's store (16 points) are not recorded by this system",
        ),
        scored(
            Acknowledgement,
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

    /// 10 results (3 early, 5 on time, 2 late), 4 open (3 within, 1
    /// overdue), 2 withdrawn and 1 stopped (2 of the 3 before their due
    /// time); one of the in-time ones was asked for a supplement twice.
    fn facts() -> IndicatorFacts {
        IndicatorFacts {
            form06: Kstt06Row {
                resolved: 10,
                early: 3,
                on_time: 5,
                late: 2,
                in_progress: 4,
                within_deadline: 3,
                overdue: 1,
                withdrawn: 2,
                stopped: 1,
                ..Kstt06Row::default()
            },
            ended_in_time: 2,
            repeated_supplement_in_time: 1,
            dissatisfied_in_time: 1,
            ..IndicatorFacts::default()
        }
    }

    #[test]
    fn progress_counts_every_dossier_handled_and_a_repeated_supplement_request_as_late() {
        let all = indicators(&facts());
        let progress = find(&all, "progress");
        // (3 + 5 + 3 + 2 − 1) / (10 + 4 + 2 + 1) = 12/17; 20 × 12/17 = 14.117…
        assert_eq!(
            (progress.numerator, progress.denominator),
            (Some(12), Some(17))
        );
        assert_eq!(
            (progress.points, progress.maximum),
            (Some(14.12), Some(20.0))
        );
    }

    #[test]
    fn satisfaction_is_progress_less_the_dissatisfied_full_from_90_percent() {
        let all = indicators(&facts());
        let satisfaction = find(&all, "satisfaction");
        // (12 − 1) / 17 = 64.7%; 6 × 0.647 / 0.9 = 4.313…
        assert_eq!(
            (satisfaction.numerator, satisfaction.denominator),
            (Some(11), Some(17))
        );
        assert_eq!(satisfaction.points, Some(4.31));
        assert_eq!(satisfaction.threshold, Some(0.9));
        let content = IndicatorFacts {
            dissatisfied_in_time: 0,
            form06: Kstt06Row {
                resolved: 10,
                early: 9,
                late: 1,
                ..Kstt06Row::default()
            },
            ..IndicatorFacts::default()
        };
        // 90% in time: full marks.
        assert_eq!(
            find(&indicators(&content), "satisfaction").points,
            Some(6.0)
        );
    }

    #[test]
    fn shares_score_linearly_or_fully_from_their_threshold() {
        let all = indicators(&IndicatorFacts {
            online_offer: share(7, 10),
            online_use: share(1, 4),
            online_filing: share(3, 10),
            online_payment: share(1, 4),
            payment_offer: share(9, 10),
            electronic_result: share(2, 2),
            acknowledgement: share(5, 6),
            ..IndicatorFacts::default()
        });
        let points = |key| find(&all, key).points;
        // 2 × 0.7 / 0.8; 4 × 0.25; 6 × 0.3 / 0.5; 6 × 0.25; 0.9 ≥ 0.8: full; 6 × 1.
        assert_eq!(points("online_offer"), Some(1.75));
        assert_eq!(points("online_use"), Some(1.0));
        assert_eq!(points("online_filing"), Some(3.6));
        assert_eq!(points("online_payment"), Some(1.5));
        assert_eq!(points("payment_offer"), Some(2.0));
        assert_eq!(points("electronic_result"), Some(6.0));
        let half = indicators(&IndicatorFacts {
            online_filing: share(5, 10),
            ..IndicatorFacts::default()
        });
        assert_eq!(
            find(&half, "online_filing").points,
            Some(6.0),
            "full at 50%"
        );
        // Required by law but not scored: a ratio without points.
        let acknowledgement = find(&all, "acknowledgement");
        assert_eq!(acknowledgement.points, None);
        assert_eq!(acknowledgement.ratio, Some(5.0 / 6.0));
        // Nothing handled: nothing to measure, no points rather than full or none.
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
        assert_eq!(
            missing,
            ["publicity", "fee_sync", "complaints", "digitisation"]
        );
        let maxima: f64 = all.iter().filter_map(|i| i.maximum).sum();
        // Of 100: publicity 18, fee sync 2, complaints 12, digitisation 16 are not.
        assert_eq!(maxima, 52.0, "20 + 2 + 4 + 6 + 6 + 2 + 6 + 6");
    }

    #[test]
    fn a_share_counts_its_items() {
        let mut s = Share::default();
        for met in [true, false, true] {
            s.count(met);
        }
        assert_eq!(s, share(2, 3));
    }
}
