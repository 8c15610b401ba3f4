//! The online public service a procedure offers (Decree 42/2022/NĐ-CP), with
//! the legacy levels of Decree 43/2011/NĐ-CP that reports still show.

use serde::{Deserialize, Serialize};

/// How far a procedure can be done online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnlineServiceKind {
    /// Information only: the procedure cannot be filed online.
    None,
    /// Partial online service (một phần): filed online, some steps in person.
    Partial,
    /// Full-process online service (toàn trình): filed, paid and received online.
    Full,
}

impl OnlineServiceKind {
    /// Every kind.
    pub const ALL: [OnlineServiceKind; 3] = [
        OnlineServiceKind::None,
        OnlineServiceKind::Partial,
        OnlineServiceKind::Full,
    ];

    /// The snake_case name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            OnlineServiceKind::None => "none",
            OnlineServiceKind::Partial => "partial",
            OnlineServiceKind::Full => "full",
        }
    }

    /// The kind named `text` (its snake_case name), if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The legacy level: full = 4, partial = 3 (none has no online level).
    pub fn legacy_level(self) -> Option<u8> {
        match self {
            OnlineServiceKind::Full => Some(4),
            OnlineServiceKind::Partial => Some(3),
            OnlineServiceKind::None => None,
        }
    }

    /// Whether a dossier under it may be filed online.
    pub fn allows_online_filing(self) -> bool {
        self != OnlineServiceKind::None
    }

    /// The Vietnamese name used in reports.
    pub fn vietnamese(self) -> &'static str {
        match self {
            OnlineServiceKind::Full => "Dịch vụ công trực tuyến toàn trình",
            OnlineServiceKind::Partial => "Dịch vụ công trực tuyến một phần",
            OnlineServiceKind::None => "Cung cấp thông tin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_levels() {
        assert_eq!(OnlineServiceKind::Full.legacy_level(), Some(4));
        assert_eq!(OnlineServiceKind::Partial.legacy_level(), Some(3));
        assert_eq!(OnlineServiceKind::None.legacy_level(), None);
        assert!(!OnlineServiceKind::None.allows_online_filing());
        for kind in OnlineServiceKind::ALL {
            let json = serde_json::to_value(kind).unwrap_or_default();
            assert_eq!(json.as_str(), Some(kind.as_str()));
            assert_eq!(OnlineServiceKind::parse(kind.as_str()), Some(kind));
        }
    }
}
