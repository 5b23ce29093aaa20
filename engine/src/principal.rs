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
