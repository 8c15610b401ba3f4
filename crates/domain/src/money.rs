//! Money: whole Vietnamese đồng (VND has no minor unit in use).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in VND, never negative.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Vnd(i64);

/// A negative amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an amount of money cannot be negative")]
pub struct NegativeAmount;

impl Vnd {
    /// Zero đồng.
    pub const ZERO: Vnd = Vnd(0);

    /// An amount, refusing negatives.
    pub fn new(amount: i64) -> Result<Self, NegativeAmount> {
        if amount < 0 {
            Err(NegativeAmount)
        } else {
            Ok(Vnd(amount))
        }
    }

    /// The amount in đồng.
    pub fn amount(self) -> i64 {
        self.0
    }

    /// Sum, `None` on overflow.
    pub fn checked_add(self, other: Vnd) -> Option<Vnd> {
        self.0.checked_add(other.0).map(Vnd)
    }
}

impl TryFrom<i64> for Vnd {
    type Error = NegativeAmount;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Vnd::new(value)
    }
}

impl From<Vnd> for i64 {
    fn from(value: Vnd) -> Self {
        value.0
    }
}

impl Vnd {
    /// The amount with its thousands grouped the Vietnamese way, by dots:
    /// `1.500.000` (forms print it before "đồng").
    pub fn grouped(self) -> String {
        let digits = self.0.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('.');
            }
            grouped.push(c);
        }
        grouped
    }
}

/// Vietnamese style: `1.500.000 đ`.
impl fmt::Display for Vnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} đ", self.grouped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_the_vietnamese_way() {
        let shown: Vec<String> = [0, 8_000, 15_000, 1_500_000, 100_000_000]
            .iter()
            .filter_map(|&a| Vnd::new(a).ok())
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            shown,
            ["0 đ", "8.000 đ", "15.000 đ", "1.500.000 đ", "100.000.000 đ"]
        );
    }

    #[test]
    fn negative_amounts_are_refused_also_from_json() {
        assert_eq!(Vnd::new(-1), Err(NegativeAmount));
        assert!(serde_json::from_str::<Vnd>("-5").is_err());
        assert_eq!(
            serde_json::from_str::<Vnd>("8000").ok(),
            Vnd::new(8000).ok()
        );
    }
}
