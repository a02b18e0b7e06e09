//! Planning one record's write.

use serde::{Deserialize, Serialize};

use super::{Policy, PolicyRule};
use crate::record::{Fields, Value};
use crate::schema::{FieldSchema, ObjectSchema};

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
    /// An empty value clears the field, where the mapping allows clearing.
    pub clear: bool,
    /// A forward-only field may move backwards.
    pub allow_regression: bool,
    /// What coercion changed on the way (a fallback, a truncation).
    pub note: Option<String>,
}

impl DesiredField {
    /// A value that never clears, never moves a forward-only field back,
    /// and was taken as it came.
    pub fn new(field: &str, value: Value, policy: PolicyRule, source: Source) -> Self {
        Self {
            field: field.to_owned(),
            value,
            policy,
            source,
            clear: false,
            allow_regression: false,
            note: None,
        }
    }
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
    /// Cleared: the agent sent an explicit empty value, the mapping allows
    /// clearing and the policy allows overwriting.
    Cleared,
    /// Left out: the field only moves forward (HubSpot `lifecyclestage`)
    /// and the value would move it back, which the config does not allow.
    Regression,
    /// Moved back, as the config allows: cleared, then set, in two
    /// requests, then read back.
    RegressionAllowed,
    /// Left out: a person account's `Name` is made from `FirstName` and
    /// `LastName`; Salesforce refuses it on write.
    PersonAccountName,
}

impl Reason {
    /// The decision this reason implies.
    pub fn decision(self) -> Decision {
        match self {
            Reason::Create
            | Reason::Overwrite
            | Reason::FilledEmpty
            | Reason::Cleared
            | Reason::RegressionAllowed => Decision::Write,
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
    /// What coercion changed on the way (a fallback, a truncation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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

    /// The fields moved backwards as the config allows: the sender clears
    /// and sets each in requests of their own.
    pub fn regressions(&self) -> Fields {
        self.fields
            .iter()
            .filter(|d| d.reason == Reason::RegressionAllowed)
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
    let person_account = is_person_account(input.schema, input.desired);
    let mut fields: Vec<FieldDecision> = input
        .desired
        .iter()
        .map(|desired| {
            let current = input.current.and_then(|c| c.get(&desired.field));
            let policy = desired.policy.for_write(creating);
            let reason = if person_account && desired.field == "Name" {
                Reason::PersonAccountName
            } else {
                decide(input.schema, desired, creating, current, policy)
            };
            // A clear goes out as the CRM's empty value, whatever empty
            // form the agent used.
            let value = match reason {
                Reason::Cleared => Value::Null,
                _ => desired.value.clone(),
            };
            FieldDecision {
                field: desired.field.clone(),
                decision: reason.decision(),
                reason,
                policy,
                source: desired.source,
                value,
                current: current.cloned(),
                note: desired.note.clone(),
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
    let current_empty = current.is_none_or(Value::is_empty);
    if desired.value.is_empty() {
        return match (desired.clear && !creating, current_empty, policy) {
            (false, _, _) => Reason::EmptyValue,
            (true, true, _) => Reason::Unchanged,
            (true, false, Policy::Overwrite) => Reason::Cleared,
            (true, false, Policy::FillIfEmpty) => Reason::HasValue,
            (true, false, Policy::Skip) => Reason::PolicySkip,
        };
    }
    if creating {
        return Reason::Create;
    }

    if current.is_some_and(|c| same_value(c, &desired.value)) {
        return Reason::Unchanged;
    }
    match policy {
        Policy::Overwrite if current_empty => Reason::FilledEmpty,
        Policy::Overwrite if field.forward_only && moves_back(field, current, &desired.value) => {
            if desired.allow_regression {
                Reason::RegressionAllowed
            } else {
                Reason::Regression
            }
        }
        Policy::Overwrite => Reason::Overwrite,
        Policy::FillIfEmpty if current_empty => Reason::FilledEmpty,
        Policy::FillIfEmpty => Reason::HasValue,
        Policy::Skip => Reason::PolicySkip,
    }
}

/// Whether `desired` comes before `current` in the field's option order,
/// the order a forward-only field moves in. Values outside the options are
/// not judged here: coercion has already refused them.
fn moves_back(field: &FieldSchema, current: Option<&Value>, desired: &Value) -> bool {
    let position = |value: &Value| {
        let Value::Text(text) = value else {
            return None;
        };
        field.picklist_values.iter().position(|p| &p.value == text)
    };
    match (current.and_then(position), position(desired)) {
        (Some(from), Some(to)) => to < from,
        _ => false,
    }
}

/// A Salesforce person account: the org has them (`IsPersonAccount` in
/// the describe) and the write names a person (`LastName`).
fn is_person_account(schema: &ObjectSchema, desired: &[DesiredField]) -> bool {
    schema.name == "Account"
        && schema.field("IsPersonAccount").is_some()
        && desired
            .iter()
            .any(|d| d.field == "LastName" && !d.value.is_empty())
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
