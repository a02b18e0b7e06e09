//! Planning one record's write.

use serde::{Deserialize, Serialize};

use super::{Policy, PolicyRule};
use crate::record::{Fields, Value};
use crate::schema::ObjectSchema;

/// Where a desired value came from, for the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The agent sent it.
    Agent,
    /// The config's default for create.
    Default,
    /// The customer's plugin produced it.
    Plugin,
    /// The owner attribution of the rep the agent acts for.
    Owner,
    /// The record's match key.
    Key,
    /// A reference to another record, resolved to its CRM id.
    Reference,
}

/// One value the agent's intent wants in a CRM field.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredField {
    /// CRM field API name.
    pub field: String,
    /// The value, already coerced to the field's type.
    pub value: Value,
    /// The policies in force for this field.
    pub policy: PolicyRule,
    /// Where the value came from.
    pub source: Source,
}

/// What the planner needs for one record.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The CRM object's schema.
    pub schema: &'a ObjectSchema,
    /// The record's current values; none when the write creates it.
    pub current: Option<&'a Fields>,
    /// What the intent wants written.
    pub desired: &'a [DesiredField],
}

/// Whether a field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The value goes into the CRM request.
    Write,
    /// The value is left out.
    Skip,
}

/// Why a field was written or left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Written on create.
    Create,
    /// Written over a different value, as the `overwrite` policy allows.
    Overwrite,
    /// Written because the field was empty (`fill_if_empty`).
    FilledEmpty,
    /// Left out: the field already holds this value.
    Unchanged,
    /// Left out: the field holds a value and the policy is `fill_if_empty`.
    HasValue,
    /// Left out: the policy for this operation is `skip`.
    PolicySkip,
    /// Left out: the integration user may not write this field for this
    /// operation (read-only, calculated, system-managed or create-only).
    ReadOnly,
    /// Left out: the agent's value is empty, and an empty value never clears
    /// a field.
    EmptyValue,
    /// Left out: the field is not in the customer's schema.
    NotInSchema,
}

impl Reason {
    /// The decision this reason implies.
    pub fn decision(self) -> Decision {
        match self {
            Reason::Create | Reason::Overwrite | Reason::FilledEmpty => Decision::Write,
            _ => Decision::Skip,
        }
    }
}

/// The planner's verdict on one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDecision {
    /// CRM field API name.
    pub field: String,
    /// Written or skipped.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// The policy that applied.
    pub policy: Policy,
    /// Where the desired value came from.
    pub source: Source,
    /// The value the intent wanted.
    pub value: Value,
    /// The value the CRM held before, when updating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
}

/// The plan for one record: every desired field with its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Whether the write creates the record.
    pub creating: bool,
    /// One decision per desired field, in field order.
    pub fields: Vec<FieldDecision>,
}

impl Plan {
    /// The fields to send, by CRM field name.
    pub fn payload(&self) -> Fields {
        self.fields
            .iter()
            .filter(|d| d.decision == Decision::Write)
            .map(|d| (d.field.clone(), d.value.clone()))
            .collect()
    }

    /// Whether an update would change nothing, so no call is needed.
    pub fn is_noop(&self) -> bool {
        !self.creating && self.fields.iter().all(|d| d.decision == Decision::Skip)
    }
}

/// Decides, field by field, what to write.
pub fn plan(input: PlanInput<'_>) -> Plan {
    let creating = input.current.is_none();
    let mut fields: Vec<FieldDecision> = input
        .desired
        .iter()
        .map(|desired| {
            let current = input.current.and_then(|c| c.get(&desired.field));
            let policy = desired.policy.for_write(creating);
            let reason = decide(input.schema, desired, creating, current, policy);
            FieldDecision {
                field: desired.field.clone(),
                decision: reason.decision(),
                reason,
                policy,
                source: desired.source,
                value: desired.value.clone(),
                current: current.cloned(),
            }
        })
        .collect();
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    Plan { creating, fields }
}

fn decide(
    schema: &ObjectSchema,
    desired: &DesiredField,
    creating: bool,
    current: Option<&Value>,
    policy: Policy,
) -> Reason {
    let Some(field) = schema.field(&desired.field) else {
        return Reason::NotInSchema;
    };
    if !field.writable(creating) {
        return Reason::ReadOnly;
    }
    if policy == Policy::Skip {
        return Reason::PolicySkip;
    }
    if desired.value.is_empty() {
        return Reason::EmptyValue;
    }
    if creating {
        return Reason::Create;
    }

    let current_empty = current.is_none_or(Value::is_empty);
    if current.is_some_and(|c| same_value(c, &desired.value)) {
        return Reason::Unchanged;
    }
    match policy {
        Policy::Overwrite if current_empty => Reason::FilledEmpty,
        Policy::Overwrite => Reason::Overwrite,
        Policy::FillIfEmpty if current_empty => Reason::FilledEmpty,
        Policy::FillIfEmpty => Reason::HasValue,
        Policy::Skip => Reason::PolicySkip,
    }
}

/// Whether two values are the same as far as the CRM is concerned: numbers
/// within rounding, multi-selects regardless of order, text compared exactly.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => (x - y).abs() < 1e-9 * x.abs().max(1.0),
        (Value::Multi(x), Value::Multi(y)) => {
            let mut x = x.clone();
            let mut y = y.clone();
            x.sort();
            y.sort();
            x == y
        }
        (Value::Date(d), Value::DateTime(t)) | (Value::DateTime(t), Value::Date(d)) => {
            t.date_naive() == *d && t.time() == chrono::NaiveTime::MIN
        }
        _ => a == b,
    }
}
