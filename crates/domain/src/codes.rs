//! Identifiers with a legal format: agency identifiers (QCVN 102:2016 style),
//! procedure codes (national catalogue) and dossier codes.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Why an identifier does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// An agency identifier: dot-separated groups of capital letters and digits.
    #[error("`{0}` is not an agency identifier like 000.00.15.H49")]
    Agency(String),
    /// A procedure code: `N.NNNNNN`, optionally followed by a local suffix.
    #[error("`{0}` is not a procedure code like 1.001193")]
    Procedure(String),
    /// A dossier code: `<agency identifier>-<YYMMDD>-<NNNN>`.
    #[error("`{0}` is not a dossier code like 000.00.15.H49-261126-0001")]
    Dossier(String),
}

/// An agency's electronic identifier, e.g. `000.00.15.H49` (QCVN 102:2016):
/// dot-separated groups of capital letters and digits, at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyIdentifier(String);

impl FromStr for AgencyIdentifier {
    type Err = CodeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = !text.is_empty()
            && text.len() <= 32
            && text.split('.').all(|group| {
                !group.is_empty()
                    && group
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            });
        if valid {
            Ok(AgencyIdentifier(text.to_owned()))
        } else {
            Err(CodeError::Agency(text.to_owned()))
        }
    }
}

impl TryFrom<String> for AgencyIdentifier {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<AgencyIdentifier> for String {
    fn from(value: AgencyIdentifier) -> Self {
        value.0
    }
}

impl AgencyIdentifier {
    /// The identifier's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A national procedure code, `N.NNNNNN` (e.g. `1.001193`), optionally with a
/// local suffix after a dot (e.g. `1.001193.H49`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProcedureCode(String);

impl FromStr for ProcedureCode {
    type Err = CodeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        let national = bytes.len() >= 8
            && bytes[0].is_ascii_digit()
            && bytes[1] == b'.'
            && bytes[2..8].iter().all(u8::is_ascii_digit);
        let suffix_ok = match text.get(8..) {
            Some("") => true,
            Some(rest) => rest.strip_prefix('.').is_some_and(|suffix| {
                !suffix.is_empty()
                    && suffix.len() <= 24
                    && suffix.split('.').all(|g| {
                        !g.is_empty()
                            && g.bytes()
                                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                    })
            }),
            None => false,
        };
        if national && suffix_ok {
            Ok(ProcedureCode(text.to_owned()))
        } else {
            Err(CodeError::Procedure(text.to_owned()))
        }
    }
}

impl TryFrom<String> for ProcedureCode {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ProcedureCode> for String {
    fn from(value: ProcedureCode) -> Self {
        value.0
    }
}

impl ProcedureCode {
    /// The code's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national part, without a local suffix.
    pub fn national(&self) -> &str {
        &self.0[..8]
    }
}

impl fmt::Display for ProcedureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A dossier's code: `<receiving agency identifier>-<YYMMDD>-<NNNN>`, the
/// running number counted per receiving agency per day from 0001
/// (docs/requirements.md §6). The number is assigned by persistence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DossierCode {
    agency: AgencyIdentifier,
    date: NaiveDate,
    number: u16,
}

impl DossierCode {
    /// Most dossiers one agency can number in a day.
    pub const MAX_NUMBER: u16 = 9999;

    /// The code of the `number`-th dossier received by `agency` on `date`
    /// (local date); `None` outside 1..=9999 or years 2000–2099.
    pub fn new(agency: AgencyIdentifier, date: NaiveDate, number: u16) -> Option<Self> {
        use chrono::Datelike;
        ((1..=Self::MAX_NUMBER).contains(&number) && (2000..2100).contains(&date.year())).then_some(
            DossierCode {
                agency,
                date,
                number,
            },
        )
    }

    /// The receiving agency.
    pub fn agency(&self) -> &AgencyIdentifier {
        &self.agency
    }

    /// The (Vietnam) date of receipt.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The running number of the day.
    pub fn number(&self) -> u16 {
        self.number
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:04}",
            self.agency,
            self.date.format("%y%m%d"),
            self.number
        )
    }
}

impl FromStr for DossierCode {
    type Err = CodeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || CodeError::Dossier(text.to_owned());
        let mut parts = text.rsplitn(3, '-');
        let (number, date, agency) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(d), Some(a)) => (n, d, a),
            _ => return Err(error()),
        };
        if number.len() != 4 || date.len() != 6 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        let number: u16 = number.parse().map_err(|_| error())?;
        let date =
            NaiveDate::parse_from_str(&format!("20{date}"), "%Y%m%d").map_err(|_| error())?;
        let agency: AgencyIdentifier = agency.parse().map_err(|_| error())?;
        DossierCode::new(agency, date, number).ok_or_else(error)
    }
}

impl TryFrom<String> for DossierCode {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<DossierCode> for String {
    fn from(value: DossierCode) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dossier_codes_format_and_parse_back() {
        let agency: AgencyIdentifier = "000.00.15.H49".parse().unwrap_or_else(|e| panic!("{e}"));
        let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
        let code = DossierCode::new(agency, date, 7).unwrap_or_else(|| panic!("valid"));
        assert_eq!(code.to_string(), "000.00.15.H49-261126-0007");
        assert_eq!(
            "000.00.15.H49-261126-0007".parse::<DossierCode>(),
            Ok(code.clone())
        );
        assert_eq!(
            serde_json::to_string(&code).ok().as_deref(),
            Some("\"000.00.15.H49-261126-0007\"")
        );
    }

    #[test]
    fn malformed_dossier_codes_are_refused() {
        for text in [
            "000.00.15.H49-261126-0000",
            "000.00.15.H49-261126-001",
            "000.00.15.H49-261126-00001",
            "000.00.15.H49-261131-0001",
            "000.00.15.h49-261126-0001",
            "-261126-0001",
            "000.00.15.H49-2611260001",
            "000..15.H49-261126-0001",
            "",
        ] {
            assert!(text.parse::<DossierCode>().is_err(), "{text}");
        }
        let agency: AgencyIdentifier = "H49".parse().unwrap_or_else(|e| panic!("{e}"));
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        assert!(DossierCode::new(agency, date, 10_000).is_none());
    }

    #[test]
    fn procedure_codes_are_national_with_an_optional_local_suffix() {
        for good in [
            "1.001193",
            "2.000635",
            "1.001193.H49",
            "1.001193.000.00.15.H49",
        ] {
            assert!(good.parse::<ProcedureCode>().is_ok(), "{good}");
        }
        for bad in [
            "1.00119",
            "1001193",
            "1.0011933",
            "1.001193.",
            "1.001193.h49",
            "a.001193",
            "",
        ] {
            assert!(bad.parse::<ProcedureCode>().is_err(), "{bad}");
        }
        let local: ProcedureCode = "1.001193.H49".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.national(), "1.001193");
    }
}
