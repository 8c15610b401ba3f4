//! Who may do what, and where: the one place that answers "may this principal
//! do this on this agency (or dossier, or report)". Handlers ask here and
//! nowhere else.
//!
//! - A role that never has the capability gets 403.
//! - A target outside the principal's reach gets 404, like a target that does
//!   not exist, so existence does not leak.
//! - Staff reach is their agency's subtree; citizens reach their own dossiers.
//!
//! The role × capability table is in docs/security.md.

use motcua_domain::lifecycle::Role;

use crate::auth::{AccountKind, Principal};
use crate::error::ApiError;

/// Things a principal may be allowed to do, apart from dossier actions
/// (which the domain's lifecycle decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Create, read and change agencies.
    ManageAgencies,
    /// Create, read and change staff accounts.
    ManageUsers,
    /// Add procedures and procedure versions to the catalogue.
    ManageCatalogue,
    /// Read dossiers (staff within their subtree).
    ReadDossiers,
    /// List and read the agencies of their subtree (every staff role: an
    /// auditor picks the agency a report is for, a clerk the one a dossier
    /// goes to).
    ReadAgencies,
}

impl Capability {
    /// The roles that have the capability.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Capability::ManageAgencies | Capability::ManageUsers | Capability::ManageCatalogue => {
                &[Role::Admin]
            }
            Capability::ReadDossiers => &[Role::Clerk, Role::Officer, Role::Leader, Role::Auditor],
            Capability::ReadAgencies => &[
                Role::Admin,
                Role::Clerk,
                Role::Officer,
                Role::Leader,
                Role::Auditor,
            ],
        }
    }
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// 403 unless one of the principal's roles has the capability.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if capability.roles().iter().any(|role| self.has_role(*role)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The root of the principal's reach: their agency's path (staff only).
    pub fn reach(&self) -> Result<&str, ApiError> {
        match (self.kind, self.agency_path.as_deref()) {
            (AccountKind::Staff, Some(path)) => Ok(path),
            _ => Err(ApiError::Forbidden),
        }
    }

    /// Whether an agency (by its materialized path) is in the principal's reach.
    pub fn reaches(&self, agency_path: &str) -> bool {
        self.reach().is_ok_and(|root| agency_path.starts_with(root))
    }

    /// 403 without the capability; 404 if the agency is outside reach.
    pub fn require_on_agency(
        &self,
        capability: Capability,
        agency_path: &str,
    ) -> Result<(), ApiError> {
        self.require(capability)?;
        if self.reaches(agency_path) {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }
}

/// The province an agency (by its materialized path) belongs to: the root
/// of its path (`/<root id>/`). Dossiers move between agencies of one
/// province only.
pub fn province_of(path: &str) -> &str {
    let end = path
        .char_indices()
        .filter(|(_, c)| *c == '/')
        .nth(1)
        .map_or(path.len(), |(i, _)| i + 1);
    &path[..end]
}

#[cfg(test)]
mod tests {
    use motcua_persistence::{AgencyId, UserId};

    use super::*;

    fn staff(roles: Vec<Role>, path: &str) -> Principal {
        Principal {
            user_id: UserId::new(),
            kind: AccountKind::Staff,
            roles,
            agency_id: Some(AgencyId::new()),
            agency_path: Some(path.into()),
        }
    }

    #[test]
    fn the_province_is_the_root_of_the_path() {
        assert_eq!(province_of("/p/a/u/"), "/p/");
        assert_eq!(province_of("/p/"), "/p/");
        assert_eq!(province_of(""), "");
    }

    #[test]
    fn reach_is_the_subtree() {
        let admin = staff(vec![Role::Admin], "/p/a/");
        assert!(
            admin
                .require_on_agency(Capability::ManageAgencies, "/p/a/")
                .is_ok()
        );
        assert!(
            admin
                .require_on_agency(Capability::ManageAgencies, "/p/a/u/")
                .is_ok()
        );
        assert!(matches!(
            admin.require_on_agency(Capability::ManageAgencies, "/p/b/"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            admin.require_on_agency(Capability::ManageAgencies, "/p/"),
            Err(ApiError::NotFound)
        ));
    }

    #[test]
    fn roles_without_the_capability_are_forbidden_wherever_the_target_is() {
        let clerk = staff(vec![Role::Clerk], "/p/a/");
        assert!(matches!(
            clerk.require_on_agency(Capability::ManageUsers, "/p/a/"),
            Err(ApiError::Forbidden)
        ));
        let citizen = Principal {
            user_id: UserId::new(),
            kind: AccountKind::Citizen,
            roles: vec![Role::Citizen],
            agency_id: None,
            agency_path: None,
        };
        assert!(!citizen.reaches("/p/a/"));
        assert!(matches!(
            citizen.require(Capability::ManageAgencies),
            Err(ApiError::Forbidden)
        ));
    }
}
