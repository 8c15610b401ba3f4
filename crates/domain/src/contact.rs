//! Vietnamese phone numbers: mobiles (10 digits, `03`, `05`, `07`, `08`, `09`)
//! and landlines (11 digits, `02` + area code), written with or without the
//! `+84`/`84` country code and with spaces, dots or dashes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a Vietnamese phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Vietnamese phone number (mobile 0912 345 678, landline 024 3825 3536, or +84…)")]
pub struct PhoneError;

/// Mobile or landline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// 10-digit mobile.
    Mobile,
    /// 11-digit landline.
    Landline,
}

/// A phone number, kept in national form (`0912345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (international, rest) = match text.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if rest
            .chars()
            .any(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '.' | '-')))
        {
            return Err(PhoneError);
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let national = match digits.strip_prefix("84") {
            Some(local) if international || digits.len() >= 11 => format!("0{local}"),
            _ if international => return Err(PhoneError),
            _ => digits,
        };
        let phone = PhoneNumber(national);
        phone.kind().map(|_| phone).ok_or(PhoneError)
    }
}

impl PhoneNumber {
    /// Mobile or landline (`None` for a number of neither form, which `parse` refuses).
    pub fn kind(&self) -> Option<PhoneKind> {
        let b = self.0.as_bytes();
        match (b.len(), b.first(), b.get(1)) {
            (10, Some(b'0'), Some(b'3' | b'5' | b'7' | b'8' | b'9')) => Some(PhoneKind::Mobile),
            (11, Some(b'0'), Some(b'2')) => Some(PhoneKind::Landline),
            _ => None,
        }
    }

    /// National form, digits only.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// International form, `+84…`.
    pub fn international(&self) -> String {
        format!("+84{}", &self.0[1..])
    }

    /// The last four digits (the public look-up's second factor).
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_writings_normalise_to_the_national_form() {
        for (text, national, kind) in [
            ("0912345678", "0912345678", PhoneKind::Mobile),
            ("0912 345 678", "0912345678", PhoneKind::Mobile),
            ("+84 912 345 678", "0912345678", PhoneKind::Mobile),
            ("84912345678", "0912345678", PhoneKind::Mobile),
            ("0386.123.456", "0386123456", PhoneKind::Mobile),
            ("024 3825 3536", "02438253536", PhoneKind::Landline),
            ("+84-24-3825-3536", "02438253536", PhoneKind::Landline),
        ] {
            let phone: PhoneNumber = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (phone.as_str(), phone.kind()),
                (national, Some(kind)),
                "{text}"
            );
        }
        let phone: PhoneNumber = "0912345678".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (phone.international().as_str(), phone.last4()),
            ("+84912345678", "5678")
        );
    }

    #[test]
    fn other_numbers_are_refused() {
        for text in [
            "",
            "12345",
            "0112345678",
            "091234567",
            "09123456789",
            "+1 212 555 0100",
            "0912a45678",
            "0612345678",
            "0212345678",
            "+0912345678",
        ] {
            assert!(text.parse::<PhoneNumber>().is_err(), "{text}");
        }
    }
}
