//! Procedure catalogue entries (docs/requirements.md §5): what the law fixes for one
//! version of a procedure.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::agency::AgencyKind;
use crate::clock::{SupplementMode, TimeLimit};
use crate::codes::ProcedureCode;
use crate::lifecycle::Role;
use crate::money::Vnd;
use crate::online::OnlineServiceKind;

/// The field (lĩnh vực) a procedure belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Field {
    /// Short code, e.g. `HT`.
    pub code: String,
    /// Name, e.g. `Hộ tịch`.
    pub name: String,
}

/// Fees and charges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fee {
    /// No fee.
    Exempt {
        /// Condition of the exemption.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A fixed amount, possibly lower when filed online.
    Fixed {
        /// Amount in VND.
        #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
        amount: Vnd,
        /// Amount when filed online.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 0))]
        online_amount: Option<Vnd>,
        /// Per what.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Computed by a published formula (e.g. per page).
    Formula {
        /// The formula in words.
        note: String,
    },
    /// Set locally (by the provincial People's Council).
    Local {
        /// Where it is set.
        note: String,
    },
}

impl Fee {
    /// The fixed amount due for a channel, if the fee is fixed.
    pub fn fixed_amount(&self, online: bool) -> Option<Vnd> {
        match self {
            Fee::Fixed {
                amount,
                online_amount,
                ..
            } => Some(if online {
                online_amount.unwrap_or(*amount)
            } else {
                *amount
            }),
            _ => None,
        }
    }
}

/// A document the dossier must (or may) contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentRequirement {
    /// Code within the procedure, e.g. `TK`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Whether the dossier is incomplete without it.
    pub mandatory: bool,
    /// Originals expected.
    #[serde(default)]
    pub originals: u32,
    /// Copies expected.
    #[serde(default)]
    pub copies: u32,
}

/// How the result reaches the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Collected at the desk.
    Desk,
    /// Sent by public post.
    Post,
    /// Delivered electronically.
    Online,
}

impl Delivery {
    /// snake_case name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Desk => "desk",
            Delivery::Post => "post",
            Delivery::Online => "online",
        }
    }
}

/// One internal step and its budget of working hours (control slip).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcedureStep {
    /// Name, e.g. `Thẩm định`.
    pub name: String,
    /// Who does it.
    pub role: Role,
    /// Working hours.
    pub hours: u32,
}

/// What the law fixes for one version of a procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcedureDefinition {
    /// The legal time limit.
    pub time_limit: TimeLimit,
    /// What a supplement request does to the clock.
    pub on_supplement: SupplementMode,
    /// Working days a verification extension may add in all (0: none).
    #[serde(default)]
    pub verification_extension_days: u32,
    /// Fees.
    pub fee: Fee,
    /// Required documents.
    pub documents: Vec<DocumentRequirement>,
    /// Allowed result deliveries.
    pub deliveries: Vec<Delivery>,
    /// Internal steps.
    #[serde(default)]
    pub steps: Vec<ProcedureStep>,
    /// The kind of agency that decides it where not the receiving agency
    /// (e.g. `police` for residence registration, `department` for a
    /// province-level procedure): a dossier received without a named
    /// resolving agency goes to the nearest agency of this kind in the
    /// province (`agency::decider`). Absent: the receiving agency decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<AgencyKind>,
}

impl ProcedureDefinition {
    /// Whether `code` names one of the documents the procedure asks for.
    pub fn asks_for(&self, code: &str) -> bool {
        self.documents.iter().any(|d| d.code == code)
    }
}

/// A procedure version as the catalogue file and the admin API give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcedureEntry {
    /// National code (with optional local suffix), e.g. `1.004194`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1.004194"))]
    pub code: ProcedureCode,
    /// Name.
    pub name: String,
    /// Field.
    pub field: Field,
    /// Level of the implementing agency (default `commune`).
    #[serde(default)]
    pub agency_level: AgencyLevel,
    /// Online service offered.
    pub online_kind: OnlineServiceKind,
    /// First day in force (default: the day it is stored).
    #[serde(default)]
    pub effective_from: Option<NaiveDate>,
    /// The legal details.
    #[serde(flatten)]
    pub definition: ProcedureDefinition,
}

/// The level of government whose agencies implement a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgencyLevel {
    /// Communes and wards (cấp xã).
    #[default]
    Commune,
    /// Districts (cấp huyện; abolished in mid-2025, kept for older versions).
    District,
    /// The province (cấp tỉnh).
    Province,
}

impl AgencyLevel {
    /// The snake_case name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyLevel::Commune => "commune",
            AgencyLevel::District => "district",
            AgencyLevel::Province => "province",
        }
    }
}

/// An interconnected procedure group (nhóm thủ tục hành chính liên thông):
/// procedures a citizen files once, with one application and the documents
/// they share, each becoming a dossier of its own at the agency that
/// decides it, with its own code and legal clock (Decree 63/2024/NĐ-CP on
/// the two national groups, birth registration – permanent residence –
/// health insurance card for a child under six, and death registration –
/// removal from permanent residence – funeral allowance; Decree 118/2025
/// lets provinces set up groups of their own). An administrator enters each
/// group with the codes of the procedures in the province's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcedureGroup {
    /// The group's code: 1 to 40 letters, digits, `.`, `-` or `_`, starting
    /// with a letter or digit; kept in capitals (`lt-ks` is `LT-KS`).
    #[cfg_attr(feature = "openapi", schema(example = "LT-KS-TT-BHYT"))]
    pub code: String,
    /// Name.
    pub name: String,
    /// The legal basis, e.g. `Nghị định 63/2024/NĐ-CP`.
    pub basis: String,
    /// Its procedures, in the order their dossiers are opened (2 to 10,
    /// each once).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["1.001193", "1.004222"])))]
    pub procedures: Vec<ProcedureCode>,
}

impl ProcedureGroup {
    /// The most procedures a group may have.
    pub const MAX_PROCEDURES: usize = 10;

    /// `code` as groups are kept (in capitals), if it is a group code.
    pub fn canonical_code(code: &str) -> Option<String> {
        let ok = (1..=40).contains(&code.len())
            && code.starts_with(|c: char| c.is_ascii_alphanumeric())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        ok.then(|| code.to_ascii_uppercase())
    }

    /// What is wrong with the group as written: (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if Self::canonical_code(&self.code).is_none() {
            problems.push((
                "code",
                "must be 1 to 40 letters, digits, `.`, `-` or `_`, starting with a letter or digit"
                    .to_owned(),
            ));
        }
        for (field, text) in [("name", &self.name), ("basis", &self.basis)] {
            if text.trim().is_empty() || text.chars().count() > 500 {
                problems.push((field, "must be 1 to 500 characters".to_owned()));
            }
        }
        let distinct: BTreeSet<&str> = self.procedures.iter().map(|c| c.as_str()).collect();
        if !(2..=Self::MAX_PROCEDURES).contains(&self.procedures.len())
            || distinct.len() != self.procedures.len()
        {
            problems.push((
                "procedures",
                format!(
                    "a group joins 2 to {} different procedures",
                    Self::MAX_PROCEDURES
                ),
            ));
        }
        problems
    }
}

/// A catalogue file: `{"procedures": [...]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogueFile {
    /// Entries.
    pub procedures: Vec<ProcedureEntry>,
}

/// The demo catalogue shipped with motcua (12 commune procedures).
pub const DEMO_CATALOGUE_JSON: &str = include_str!("../data/catalogue-demo.json");

impl ProcedureEntry {
    /// Checks what the types cannot: a name, unique document codes, at least
    /// one delivery, online delivery only for online services, and internal
    /// step budgets that fit within the legal limit. Returns (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(("name", "must not be empty".to_owned()));
        }
        let mut codes = BTreeSet::new();
        for document in &self.definition.documents {
            if document.code.trim().is_empty() || !codes.insert(document.code.as_str()) {
                problems.push((
                    "documents",
                    format!("document code `{}` is empty or repeated", document.code),
                ));
            }
        }
        if self.definition.deliveries.is_empty() {
            problems.push(("deliveries", "at least one delivery is needed".to_owned()));
        }
        let budget_hours = match self.definition.time_limit {
            TimeLimit::WorkingDays { half_days } => Some(half_days * 4),
            TimeLimit::WorkingHours { amount } => Some(amount),
            TimeLimit::SameDay { .. } => Some(8),
            TimeLimit::CalendarDays { .. } | TimeLimit::Months { .. } => None,
        };
        if self.definition.steps.iter().any(|s| s.hours == 0) {
            problems.push(("steps", "each step has at least 1 working hour".to_owned()));
        }
        let steps: u32 = self.definition.steps.iter().map(|s| s.hours).sum();
        if let Some(budget) = budget_hours
            && steps > budget
        {
            problems.push((
                "steps",
                format!("the steps take {steps} working hours, more than the limit's {budget}"),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_takes_at_least_one_working_hour() {
        let mut entry: serde_json::Value = serde_json::from_str(DEMO_CATALOGUE_JSON)
            .map(|file: serde_json::Value| file["procedures"][0].clone())
            .unwrap_or_default();
        entry["steps"][0]["hours"] = serde_json::json!(0);
        let read: ProcedureEntry =
            serde_json::from_str(&entry.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let fields: Vec<_> = read.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["steps"]);
    }

    #[test]
    fn an_entry_may_give_half_a_working_day() {
        let mut entry: serde_json::Value = serde_json::from_str(DEMO_CATALOGUE_JSON)
            .map(|file: serde_json::Value| file["procedures"][0].clone())
            .unwrap_or_default();
        entry["time_limit"] = serde_json::json!({"amount": 0.5, "unit": "working_days"});
        let read: ProcedureEntry =
            serde_json::from_str(&entry.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read.definition.time_limit,
            TimeLimit::WorkingDays { half_days: 1 }
        );
    }

    #[test]
    fn the_demo_catalogue_parses_and_is_consistent() {
        let file: CatalogueFile =
            serde_json::from_str(DEMO_CATALOGUE_JSON).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.procedures.len(), 12);
        for entry in &file.procedures {
            assert!(
                entry.problems().is_empty(),
                "{}: {:?}",
                entry.code,
                entry.problems()
            );
        }
        let residence = file
            .procedures
            .iter()
            .find(|p| p.code.as_str() == "1.004222");
        let fee = residence.map(|p| p.definition.fee.clone());
        assert_eq!(
            fee.and_then(|f| f.fixed_amount(true)).map(Vnd::amount),
            Some(10_000)
        );
    }

    fn group(code: &str, procedures: &[&str]) -> ProcedureGroup {
        ProcedureGroup {
            code: code.into(),
            name: "Liên thông khai sinh".into(),
            basis: "Nghị định 63/2024/NĐ-CP".into(),
            procedures: procedures
                .iter()
                .map(|c| c.parse().unwrap_or_else(|e| panic!("{e}")))
                .collect(),
        }
    }

    #[test]
    fn a_group_joins_two_to_ten_different_procedures_under_a_plain_code() {
        assert!(
            group("LT-KS_1.2", &["1.001193", "1.004222"])
                .problems()
                .is_empty()
        );
        let fields =
            |g: ProcedureGroup| g.problems().into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(fields(group("LT KS", &["1.001193", "1.004222"])), ["code"]);
        assert_eq!(fields(group("..", &["1.001193", "1.004222"])), ["code"]);
        assert_eq!(
            ProcedureGroup::canonical_code("lt-ks").as_deref(),
            Some("LT-KS")
        );
        assert_eq!(fields(group("LT", &["1.001193"])), ["procedures"]);
        assert_eq!(
            fields(group("LT", &["1.001193", "1.001193"])),
            ["procedures"]
        );
        let mut blank = group("LT", &["1.001193", "1.004222"]);
        blank.basis = " ".into();
        assert_eq!(fields(blank), ["basis"]);
    }
}
