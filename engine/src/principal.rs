//! Principals and roles: who did something, and what they may do.

use serde::{Deserialize, Serialize};

/// A role a principal holds. Roles are additive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Dispatches investigations and reads its own.
    Orchestrator,
    /// Reads everything; rescues, cancels and reviews.
    Operator,
    /// Reads approvals and their context; decides them.
    Approver,
    /// Reads everything, including audit exports; changes nothing.
    Auditor,
    /// Everything, including token management.
    Admin,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 5] = [
        Role::Orchestrator,
        Role::Operator,
        Role::Approver,
        Role::Auditor,
        Role::Admin,
    ];

    /// The role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Orchestrator => "orchestrator",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (roles are orchestrator, operator, approver, auditor, admin)")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    /// Parses a wire name (`approver`), ignoring surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// An authenticated actor: a person, a pipeline or another agent.
///
/// Every write records the principal's `name`. Tokens are never part of a
/// principal; only their hashes are stored, by the API layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Unique, human-readable name (`alice`, `soar-pipeline`).
    pub name: String,
    /// The roles this principal holds.
    pub roles: Vec<Role>,
}

impl Principal {
    /// A principal with the given name and roles.
    pub fn new(name: impl Into<String>, roles: impl Into<Vec<Role>>) -> Self {
        Self {
            name: name.into(),
            roles: roles.into(),
        }
    }

    /// Whether the principal holds `role` (admins hold every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.iter().any(|r| *r == role || *r == Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_wire_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(" approver ".parse::<Role>(), Ok(Role::Approver));
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(err, UnknownRole("root".to_owned()));
        assert!(err.to_string().contains("orchestrator, operator"));
        assert!("Admin".parse::<Role>().is_err());
    }
}
