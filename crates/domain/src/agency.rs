//! Agencies as local government has had them since 1 July 2025 (two tiers:
//! provinces, and the communes, wards and special zones under them; Law on
//! the Organisation of Local Government 2025), and which of them decides a
//! dossier that another received (docs/lifecycle.md, "Across agencies").

use serde::{Deserialize, Serialize};

/// Kinds of agency in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgencyKind {
    /// A province or centrally-governed city (tỉnh, thành phố).
    Province,
    /// A district (huyện; abolished in mid-2025, kept for older trees).
    District,
    /// A commune, ward or special zone (xã, phường, đặc khu).
    Commune,
    /// A provincial department or sector (sở, ban, ngành) that decides
    /// procedures of the province's level.
    Department,
    /// A commune-level police unit (công an cấp xã), which decides
    /// residence and identity procedures.
    Police,
    /// Another unit that decides procedures without being a People's
    /// Committee's office, e.g. a social insurance office (bảo hiểm xã hội
    /// cơ sở) that issues health insurance cards.
    Other,
    /// A unit within an agency (an office or the one-stop centre).
    Unit,
}

impl AgencyKind {
    /// Every kind.
    pub const ALL: [AgencyKind; 7] = [
        AgencyKind::Province,
        AgencyKind::District,
        AgencyKind::Commune,
        AgencyKind::Department,
        AgencyKind::Police,
        AgencyKind::Other,
        AgencyKind::Unit,
    ];

    /// The snake_case name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyKind::Province => "province",
            AgencyKind::District => "district",
            AgencyKind::Commune => "commune",
            AgencyKind::Department => "department",
            AgencyKind::Police => "police",
            AgencyKind::Other => "other",
            AgencyKind::Unit => "unit",
        }
    }

    /// The kind named `text` (its snake_case name).
    pub fn parse(text: &str) -> Option<AgencyKind> {
        AgencyKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// An agency as far as choosing who decides needs it: its materialized path
/// of ids from the root (`/<root>/<child>/…/`) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed<'a, Id> {
    /// Its id.
    pub id: Id,
    /// Its materialized path.
    pub path: &'a str,
    /// Its kind.
    pub kind: AgencyKind,
}

/// Who decides, when a procedure's version says which kind of agency does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decider<Id> {
    /// This agency.
    One(Id),
    /// No agency of the kind in the province: the clerk must name one.
    None,
    /// Several, equally near: the clerk must name one of these.
    Several(Vec<Id>),
}

/// The agency of `kind` that decides a dossier received at `receiving`,
/// among `candidates` (the agencies of the receiving agency's province):
/// the receiving agency itself if it is of that kind; otherwise the
/// candidate of that kind nearest to it in the tree, that is, the one whose
/// path shares the most ancestors with the receiving agency's (a unit
/// placed under the receiving agency before one elsewhere in the province).
/// A tie is not broken by guessing: the clerk names the agency (Decree
/// 118/2025 lets the clerk send a dossier to any competent agency of the
/// province, so the choice is theirs to make, not the system's).
pub fn decider<Id: Copy + PartialEq>(
    kind: AgencyKind,
    receiving: Placed<'_, Id>,
    candidates: &[Placed<'_, Id>],
) -> Decider<Id> {
    if receiving.kind == kind {
        return Decider::One(receiving.id);
    }
    let shared = |path: &str| {
        receiving
            .path
            .split_terminator('/')
            .zip(path.split_terminator('/'))
            .take_while(|(a, b)| a == b)
            .count()
    };
    let of_kind: Vec<_> = candidates
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| (shared(c.path), c.id))
        .collect();
    let Some(nearest) = of_kind.iter().map(|(depth, _)| *depth).max() else {
        return Decider::None;
    };
    let mut ids: Vec<Id> = of_kind
        .into_iter()
        .filter(|(depth, _)| *depth == nearest)
        .map(|(_, id)| id)
        .collect();
    match ids.len() {
        1 => Decider::One(ids.remove(0)),
        _ => Decider::Several(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // province 1 ── commune 2 ── other 3 (an office of the commune)
    //            ├─ commune 4
    //            ├─ other 5 (the social insurance office)
    //            ├─ department 6
    //            └─ department 7
    const TREE: [(u8, &str, AgencyKind); 7] = [
        (1, "/1/", AgencyKind::Province),
        (2, "/1/2/", AgencyKind::Commune),
        (3, "/1/2/3/", AgencyKind::Other),
        (4, "/1/4/", AgencyKind::Commune),
        (5, "/1/5/", AgencyKind::Other),
        (6, "/1/6/", AgencyKind::Department),
        (7, "/1/7/", AgencyKind::Department),
    ];

    fn placed(id: u8) -> Placed<'static, u8> {
        let (id, path, kind) = TREE[usize::from(id) - 1];
        Placed { id, path, kind }
    }

    fn all() -> Vec<Placed<'static, u8>> {
        (1..=7).map(placed).collect()
    }

    #[test]
    fn a_commune_decides_its_own_commune_procedures() {
        assert_eq!(
            decider(AgencyKind::Commune, placed(4), &all()),
            Decider::One(4)
        );
    }

    #[test]
    fn the_nearest_agency_of_the_kind_decides() {
        // Commune 2 has such a unit below it; commune 4 has none, and
        // both units are as near to it.
        assert_eq!(
            decider(AgencyKind::Other, placed(2), &all()),
            Decider::One(3)
        );
        assert_eq!(
            decider(AgencyKind::Other, placed(4), &all()),
            Decider::Several(vec![3, 5])
        );
    }

    #[test]
    fn a_tie_or_an_absent_kind_is_left_to_the_clerk() {
        assert_eq!(
            decider(AgencyKind::Department, placed(2), &all()),
            Decider::Several(vec![6, 7])
        );
        assert_eq!(
            decider(AgencyKind::Police, placed(2), &all()),
            Decider::None
        );
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in AgencyKind::ALL {
            assert_eq!(AgencyKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AgencyKind::parse("ward"), None);
    }
}
