//! The export planner: per field, whether the host writes the agent's value,
//! and if not, why.
//!
//! The planner is a pure function of the desired values, the field policies,
//! the schema and the record's current values. Everything the host sends to
//! a CRM has been through it, and every field it leaves out carries a reason
//! a person can read.

mod plan;
mod policy;

pub use plan::{Decision, DesiredField, FieldDecision, Plan, PlanInput, Reason, Source, plan};
pub use policy::{Policy, PolicyRule};

#[cfg(test)]
mod tests;
