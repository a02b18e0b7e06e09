//! Export policies: what the host may do to a field that already exists.

use serde::{Deserialize, Serialize};

use crate::config::PolicyPair;

/// What the host may do to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Write the agent's value whatever the field holds.
    Overwrite,
    /// Write only when the field is empty, so what a person typed stays.
    FillIfEmpty,
    /// Never write this field.
    Skip,
}

/// The policies in force for one field: one for create, one for update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// When the write creates the record.
    pub create: Policy,
    /// When the write changes an existing record.
    pub update: Policy,
}

impl PolicyRule {
    /// This rule with a higher-precedence layer applied over it.
    pub fn with(self, layer: PolicyPair) -> Self {
        Self {
            create: layer.create.unwrap_or(self.create),
            update: layer.update.unwrap_or(self.update),
        }
    }

    /// The policy for a write that creates (`creating`) or updates.
    pub fn for_write(&self, creating: bool) -> Policy {
        if creating { self.create } else { self.update }
    }
}
