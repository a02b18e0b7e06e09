//! Validation rules declared per org: a write is refused with the rule's own message
//! (`FIELD_CUSTOM_VALIDATION_EXCEPTION`) when the record it would leave meets every one of the
//! rule's conditions, as a Salesforce validation rule formula evaluating to true does.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::errors::SfError;

/// A validation rule, from the profile's `validation_rules`:
///
/// ```yaml
/// validation_rules:
///   - object: Opportunity
///     name: Amount_Needed_To_Close
///     when:                                 # every condition must hold to refuse
///       - { field: StageName, equals: Closed Won }
///       - { field: Amount, is_null: true }
///     message: Closed deals need an amount.
///     error_field: Amount                   # left out: the error names no field
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRule {
    /// The object it guards.
    pub object: String,
    /// Its API name.
    pub name: String,
    /// The conditions that, all together, refuse the write.
    pub when: Vec<Condition>,
    /// The error message the write is refused with.
    pub message: String,
    /// The field the error is shown on, if any.
    #[serde(default)]
    pub error_field: Option<String>,
}

/// One condition on a field of the record as the write would leave it. Text compares
/// ignoring case; `greater_than` and `less_than` compare numbers, or text (dates sort so).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The field.
    pub field: String,
    /// Holds when the field equals this value.
    #[serde(default)]
    pub equals: Option<Value>,
    /// Holds when the field does not equal this value.
    #[serde(default)]
    pub not_equals: Option<Value>,
    /// Holds when the field is (`true`) or is not (`false`) empty.
    #[serde(default)]
    pub is_null: Option<bool>,
    /// Holds when the field is above this value.
    #[serde(default)]
    pub greater_than: Option<Value>,
    /// Holds when the field is below this value.
    #[serde(default)]
    pub less_than: Option<Value>,
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(a.as_str()?.cmp(b.as_str()?)),
    }
}

impl Condition {
    fn holds(&self, record: &Map<String, Value>) -> bool {
        let value = record
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&self.field))
            .map(|(_, v)| v)
            .unwrap_or(&Value::Null);
        let empty = value.is_null() || value.as_str().is_some_and(str::is_empty);
        self.equals.as_ref().is_none_or(|e| same(value, e))
            && self.not_equals.as_ref().is_none_or(|e| !same(value, e))
            && self.is_null.is_none_or(|n| n == empty)
            && self
                .greater_than
                .as_ref()
                .is_none_or(|g| !empty && order(value, g).is_some_and(|o| o.is_gt()))
            && self
                .less_than
                .as_ref()
                .is_none_or(|l| !empty && order(value, l).is_some_and(|o| o.is_lt()))
    }
}

/// The errors of the rules on `object` that refuse `record` (the record after the write).
pub(crate) fn refusals(
    rules: &[ValidationRule],
    object: &str,
    record: &Map<String, Value>,
) -> Vec<SfError> {
    rules
        .iter()
        .filter(|r| r.object.eq_ignore_ascii_case(object))
        .filter(|r| r.when.iter().all(|c| c.holds(record)))
        .map(|r| {
            let fields = r.error_field.iter().cloned().collect();
            SfError::on_fields(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                r.message.clone(),
                fields,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_rule_refuses_only_when_every_condition_holds() {
        let rule: ValidationRule = serde_yaml::from_str(
            "{object: Opportunity, name: R, message: Need amount, error_field: Amount,\n\
             when: [{field: StageName, equals: closed won}, {field: Amount, is_null: true}]}",
        )
        .expect("rule");
        let record = |v: Value| v.as_object().cloned().unwrap_or_default();
        let refused = refusals(
            std::slice::from_ref(&rule),
            "Opportunity",
            &record(json!({"StageName": "Closed Won"})),
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].fields, Some(vec!["Amount".to_owned()]));
        let fine = record(json!({"StageName": "Closed Won", "Amount": 5}));
        assert!(refusals(&[rule], "Opportunity", &fine).is_empty());
    }
}
