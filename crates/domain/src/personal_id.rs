//! The 12-digit personal identification number (số định danh cá nhân):
//! `PPP G YY RRRRRR`: province of birth registration, century-and-gender
//! digit, last two digits of the birth year, six random digits. There is no
//! check digit, so validation is structural (Circular 07/2016/TT-BCA; the
//! province codes are in `data/personal-id-codes.json`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Registered gender, as the ID encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Even century digit.
    Male,
    /// Odd century digit.
    Female,
}

/// Why a string is not a valid personal ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalIdError {
    /// Not exactly 12 digits.
    #[error("a personal ID is exactly 12 digits")]
    Format,
    /// The first three digits name no known province (births registered
    /// abroad use codes not listed here: such IDs need a manual check).
    #[error("{0} is not a known province code")]
    UnknownProvince(String),
    /// The birth year the ID encodes is after today.
    #[error("the ID encodes birth year {0}, which is in the future")]
    FutureBirthYear(i32),
    /// The ID does not match the date of birth given with it.
    #[error("the ID encodes birth year {encoded}, not {given}")]
    BirthYearMismatch {
        /// In the ID.
        encoded: i32,
        /// Given.
        given: i32,
    },
    /// The ID does not match the gender given with it.
    #[error("the ID does not match the gender given")]
    GenderMismatch,
}

/// A structurally valid personal ID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PersonalId(String);

#[derive(Debug, Deserialize)]
struct CodesFile {
    province_codes: BTreeMap<String, String>,
}

/// Province codes and names (Circular 07/2016/TT-BCA), embedded at build time.
pub fn province_codes() -> &'static BTreeMap<String, String> {
    static CODES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    CODES.get_or_init(|| {
        serde_json::from_str::<CodesFile>(include_str!("../data/personal-id-codes.json"))
            .map(|file| file.province_codes)
            .unwrap_or_default()
    })
}

impl PersonalId {
    /// Parses and checks an ID against today's date (the ID's birth year may
    /// not be later than `today`'s). Spaces are not accepted: IDs are typed
    /// as printed, twelve digits.
    pub fn parse(text: &str, today: NaiveDate) -> Result<Self, PersonalIdError> {
        let text = text.trim();
        if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PersonalIdError::Format);
        }
        let province = &text[..3];
        if !province_codes().contains_key(province) {
            return Err(PersonalIdError::UnknownProvince(province.to_owned()));
        }
        let id = PersonalId(text.to_owned());
        if id.birth_year() > today.year() {
            return Err(PersonalIdError::FutureBirthYear(id.birth_year()));
        }
        Ok(id)
    }

    fn digit(&self, i: usize) -> i32 {
        self.0.as_bytes().get(i).map_or(0, |b| i32::from(b - b'0'))
    }

    /// The province code (first three digits).
    pub fn province_code(&self) -> &str {
        &self.0[..3]
    }

    /// The province's name.
    pub fn province(&self) -> Option<&'static str> {
        province_codes()
            .get(self.province_code())
            .map(String::as_str)
    }

    /// Gender encoded by the century digit.
    pub fn gender(&self) -> Gender {
        if self.digit(3) % 2 == 0 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// Birth year: century from the fourth digit (0/1: 1900s, 2/3: 2000s, …), then YY.
    pub fn birth_year(&self) -> i32 {
        1900 + 100 * (self.digit(3) / 2) + 10 * self.digit(4) + self.digit(5)
    }

    /// Checks the ID against a date of birth and gender given with it.
    pub fn check_holder(
        &self,
        date_of_birth: Option<NaiveDate>,
        gender: Option<Gender>,
    ) -> Result<(), PersonalIdError> {
        if let Some(born) = date_of_birth
            && born.year() != self.birth_year()
        {
            return Err(PersonalIdError::BirthYearMismatch {
                encoded: self.birth_year(),
                given: born.year(),
            });
        }
        if gender.is_some_and(|g| g != self.gender()) {
            return Err(PersonalIdError::GenderMismatch);
        }
        Ok(())
    }

    /// The ID's digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ID with all but the last three digits hidden, for logs and screens
    /// that do not need it whole.
    pub fn masked(&self) -> String {
        format!("*********{}", &self.0[9..])
    }
}

/// Shows the masked form: a personal ID never reaches a log by accident.
impl fmt::Debug for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalId({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default()
    }

    #[test]
    fn the_shipped_codes_are_the_63_provinces() {
        assert_eq!(province_codes().len(), 63);
        assert_eq!(
            province_codes().get("001").map(String::as_str),
            Some("Hà Nội")
        );
        assert_eq!(
            province_codes().get("079").map(String::as_str),
            Some("TP. Hồ Chí Minh")
        );
    }

    #[test]
    fn the_digits_say_province_gender_and_birth_year() {
        let id = PersonalId::parse("001085012345", today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (id.province(), id.gender(), id.birth_year()),
            (Some("Hà Nội"), Gender::Male, 1985)
        );
        let id = PersonalId::parse("079301012345", today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((id.gender(), id.birth_year()), (Gender::Female, 2001));
        let id = PersonalId::parse("036226012345", today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((id.gender(), id.birth_year()), (Gender::Male, 2026));
    }

    #[test]
    fn malformed_ids_are_refused_with_the_reason() {
        for (text, error) in [
            ("00108501234", PersonalIdError::Format),
            ("0010850123456", PersonalIdError::Format),
            ("00108501234a", PersonalIdError::Format),
            ("001 085 012 345", PersonalIdError::Format),
            (
                "003085012345",
                PersonalIdError::UnknownProvince("003".into()),
            ),
            (
                "099085012345",
                PersonalIdError::UnknownProvince("099".into()),
            ),
            ("001227012345", PersonalIdError::FutureBirthYear(2027)),
            ("001485012345", PersonalIdError::FutureBirthYear(2185)),
        ] {
            assert_eq!(PersonalId::parse(text, today()), Err(error), "{text}");
        }
    }

    #[test]
    fn the_holder_must_match_the_id() {
        let id = PersonalId::parse("001185012345", today()).unwrap_or_else(|e| panic!("{e}"));
        let born = NaiveDate::from_ymd_opt(1985, 3, 4);
        assert_eq!(id.check_holder(born, Some(Gender::Female)), Ok(()));
        assert_eq!(
            id.check_holder(born, Some(Gender::Male)),
            Err(PersonalIdError::GenderMismatch)
        );
        assert_eq!(
            id.check_holder(NaiveDate::from_ymd_opt(1986, 3, 4), None),
            Err(PersonalIdError::BirthYearMismatch {
                encoded: 1985,
                given: 1986
            })
        );
    }

    #[test]
    fn debug_output_masks_the_id() {
        let id = PersonalId::parse("001085012345", today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{id:?}"), "PersonalId(*********345)");
    }
}
