//! Turning an agent's value into the value a CRM field takes, and reading a
//! CRM's stored value back into the same form so the two compare.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use super::{FieldSchema, FieldType};
use crate::record::Value;

/// Why a value cannot go into a field. The record fails with this error;
/// the rest of the batch goes on.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// Stable code the agent can act on.
    pub code: &'static str,
    /// What is wrong, naming the field and the value.
    pub message: String,
    /// The CRM field.
    pub field: String,
}

impl FieldError {
    fn new(code: &'static str, field: &FieldSchema, message: String) -> Self {
        Self {
            code,
            message,
            field: field.name.clone(),
        }
    }
}

/// Coerces an agent value into the type `field` takes.
pub fn coerce(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    if value == Value::Null {
        return Ok(Value::Null);
    }
    match field.kind {
        FieldType::Text
        | FieldType::Textarea
        | FieldType::Email
        | FieldType::Phone
        | FieldType::Url
        | FieldType::Id
        | FieldType::Reference => text(field, value),
        FieldType::Number | FieldType::Currency | FieldType::Percent => number(field, value),
        FieldType::Boolean => boolean(field, value),
        FieldType::Date => date(field, value),
        FieldType::Datetime => datetime(field, value),
        FieldType::Picklist => picklist(field, value),
        FieldType::MultiPicklist => multi_picklist(field, value),
        FieldType::Other => Err(FieldError::new(
            "unsupported_field_type",
            field,
            format!("field `{}` has a type the host does not write", field.name),
        )),
    }
}

fn text(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let text = match value {
        Value::Multi(_) => {
            return Err(FieldError::new(
                "invalid_type",
                field,
                format!("field `{}` takes text, not a list", field.name),
            ));
        }
        Value::Text(text) => text,
        other => other.to_string(),
    };
    if let Some(max) = field.length
        && text.chars().count() > max as usize
    {
        return Err(FieldError::new(
            "value_too_long",
            field,
            format!(
                "field `{}` holds at most {max} characters, the value has {}",
                field.name,
                text.chars().count()
            ),
        ));
    }
    Ok(Value::Text(text))
}

fn number(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let invalid = |shown: String| {
        FieldError::new(
            "invalid_number",
            field,
            format!(
                "field `{}` takes a number, got `{shown}` (use a plain decimal such as 1234.5)",
                field.name
            ),
        )
    };
    let n = match value {
        Value::Number(n) if n.is_finite() => n,
        Value::Text(text) => match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => n,
            _ => return Err(invalid(text)),
        },
        other => return Err(invalid(other.to_string())),
    };

    // Salesforce refuses a fraction for an integer field, and refuses it for
    // the whole request it came in: caught here, it fails this record alone.
    if field.integer && n.fract() != 0.0 {
        let message = format!("field `{}` takes a whole number, got `{n}`", field.name);
        return Err(FieldError::new("invalid_number", field, message));
    }
    Ok(Value::Number(n))
}

fn boolean(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let parsed = match &value {
        Value::Boolean(b) => Some(*b),
        Value::Number(n) if *n == 1.0 => Some(true),
        Value::Number(n) if *n == 0.0 => Some(false),
        Value::Text(text) => match text.trim().to_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.map(Value::Boolean).ok_or_else(|| {
        FieldError::new(
            "invalid_boolean",
            field,
            format!(
                "field `{}` takes true/false/yes/no/1/0, got `{value}`",
                field.name
            ),
        )
    })
}

fn date(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let parsed = match &value {
        Value::Date(d) => Some(*d),
        Value::DateTime(t) => Some(t.date_naive()),
        Value::Text(text) => parse_date(text.trim()),
        _ => None,
    };
    parsed.map(Value::Date).ok_or_else(|| {
        FieldError::new(
            "invalid_date",
            field,
            format!(
                "field `{}` takes a date as YYYY-MM-DD, got `{value}`",
                field.name
            ),
        )
    })
}

fn datetime(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let parsed = match &value {
        Value::DateTime(t) => Some(*t),
        Value::Date(d) => Some(d.and_time(NaiveTime::MIN).and_utc()),
        Value::Text(text) => parse_datetime(text.trim()),
        _ => None,
    };
    parsed.map(Value::DateTime).ok_or_else(|| {
        FieldError::new(
            "invalid_datetime",
            field,
            format!(
                "field `{}` takes an RFC 3339 datetime, got `{value}`",
                field.name
            ),
        )
    })
}

fn picklist(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let Value::Text(text) = &value else {
        return Err(FieldError::new(
            "invalid_type",
            field,
            format!(
                "field `{}` takes one picklist value, got a {}",
                field.name,
                value.kind()
            ),
        ));
    };
    picklist_member(field, text).map(Value::Text)
}

fn multi_picklist(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    let items: Vec<String> = match value {
        Value::Multi(items) => items,
        Value::Text(text) => text.split(';').map(|s| s.trim().to_owned()).collect(),
        other => {
            return Err(FieldError::new(
                "invalid_type",
                field,
                format!(
                    "field `{}` takes a list of values, got a {}",
                    field.name,
                    other.kind()
                ),
            ));
        }
    };
    items
        .iter()
        .filter(|item| !item.is_empty())
        .map(|item| picklist_member(field, item))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Multi)
}

/// The stored picklist value for `text`, matched on value first, then on
/// label, ignoring case: agents send what people see.
fn picklist_member(field: &FieldSchema, text: &str) -> Result<String, FieldError> {
    let values = &field.picklist_values;
    if values.is_empty() {
        return Ok(text.to_owned());
    }
    let found = values
        .iter()
        .find(|p| p.value == text)
        .or_else(|| values.iter().find(|p| p.value.eq_ignore_ascii_case(text)))
        .or_else(|| values.iter().find(|p| p.label.eq_ignore_ascii_case(text)));
    match found {
        Some(p) if p.active => Ok(p.value.clone()),
        _ => {
            let mut allowed: Vec<&str> = values
                .iter()
                .filter(|p| p.active)
                .map(|p| p.value.as_str())
                .take(25)
                .collect();
            if values.len() > 25 {
                allowed.push("…");
            }
            Err(FieldError::new(
                "invalid_picklist_value",
                field,
                format!(
                    "`{text}` is not an allowed value of field `{}`; allowed: {}",
                    field.name,
                    allowed.join(", ")
                ),
            ))
        }
    }
}

/// Reads a value as a CRM returned it (Salesforce JSON types, HubSpot
/// strings) into the form [`coerce`] produces, so current and desired values
/// compare. A value that does not parse is kept as text.
pub fn read_value(field: &FieldSchema, raw: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    let text = match raw {
        J::Null => return Value::Null,
        J::Bool(b) => return Value::Boolean(*b),
        J::Number(n) => match field.kind {
            FieldType::Number | FieldType::Currency | FieldType::Percent => {
                return n.as_f64().map(Value::Number).unwrap_or(Value::Null);
            }
            _ => n.to_string(),
        },
        J::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.is_empty() {
        return Value::Null;
    }
    let parsed = match field.kind {
        FieldType::Number | FieldType::Currency | FieldType::Percent => {
            text.parse().ok().map(Value::Number)
        }
        FieldType::Boolean => match text.as_str() {
            "true" => Some(Value::Boolean(true)),
            "false" => Some(Value::Boolean(false)),
            _ => None,
        },
        FieldType::Date => parse_date(&text).map(Value::Date),
        FieldType::Datetime => parse_datetime(&text).map(Value::DateTime),
        FieldType::MultiPicklist => {
            Some(Value::Multi(text.split(';').map(str::to_owned).collect()))
        }
        _ => None,
    };
    parsed.unwrap_or(Value::Text(text))
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d);
    }
    // HubSpot returns date properties as midnight UTC datetimes or epoch ms.
    parse_datetime(text).map(|t| t.date_naive())
}

fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // Salesforce writes offsets without a colon: 2017-03-01T00:00:00.000+0000.
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN).and_utc());
    }
    text.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::PicklistValue;

    fn field(kind: FieldType) -> FieldSchema {
        FieldSchema::new("F__c", kind)
    }

    fn picklist(kind: FieldType) -> FieldSchema {
        let value = |value: &str, label: &str, active: bool| PicklistValue {
            value: value.into(),
            label: label.into(),
            active,
        };
        FieldSchema {
            picklist_values: vec![
                value("closedwon", "Closed Won", true),
                value("legacy", "Legacy", false),
                value("Red", "Red", true),
                value("Blue", "Blue", true),
            ],
            restricted: true,
            ..field(kind)
        }
    }

    fn code(result: Result<Value, FieldError>) -> &'static str {
        result.err().map_or("ok", |e| e.code)
    }

    #[test]
    fn numbers_parse_from_text_and_name_the_field_when_they_do_not() {
        let amount = field(FieldType::Currency);
        let parsed = coerce(&amount, Value::Text(" 1234.5 ".into()));
        assert_eq!(parsed, Ok(Value::Number(1234.5)));

        let refused = coerce(&amount, Value::Text("lots".into())).err();
        assert!(refused.is_some_and(|e| e.code == "invalid_number" && e.message.contains("F__c")));
    }

    #[test]
    fn an_integer_field_refuses_a_fraction_instead_of_failing_the_whole_request() {
        let employees = FieldSchema {
            integer: true,
            ..field(FieldType::Number)
        };
        assert_eq!(
            coerce(&employees, Value::Number(12.0)),
            Ok(Value::Number(12.0))
        );

        let refused = coerce(&employees, Value::Number(12.5)).err();
        assert!(refused.is_some_and(|e| e.message.contains("whole number")));

        // A decimal field of scale 0 (Salesforce's `AnnualRevenue`) rounds.
        let revenue = field(FieldType::Currency);
        assert_eq!(
            coerce(&revenue, Value::Number(12.5)),
            Ok(Value::Number(12.5))
        );
    }

    #[test]
    fn booleans_take_the_usual_spellings_and_nothing_else() {
        let flag = field(FieldType::Boolean);
        for (text, expected) in [("yes", true), ("No", false), ("1", true), ("false", false)] {
            assert_eq!(
                coerce(&flag, Value::Text(text.into())),
                Ok(Value::Boolean(expected))
            );
        }
        assert_eq!(
            code(coerce(&flag, Value::Text("maybe".into()))),
            "invalid_boolean"
        );
        assert_eq!(code(coerce(&flag, Value::Number(2.0))), "invalid_boolean");
    }

    #[test]
    fn dates_take_iso_days_and_refuse_local_spellings() {
        let close = field(FieldType::Date);
        let day = NaiveDate::from_ymd_opt(2017, 3, 1).map(Value::Date);
        assert_eq!(coerce(&close, Value::Text("2017-03-01".into())).ok(), day);
        assert_eq!(
            code(coerce(&close, Value::Text("03/01/2017".into()))),
            "invalid_date"
        );
    }

    #[test]
    fn picklists_match_values_then_labels_and_refuse_inactive_or_unknown_values() {
        let stage = picklist(FieldType::Picklist);
        let by_label = coerce(&stage, Value::Text("closed won".into()));
        assert_eq!(by_label, Ok(Value::Text("closedwon".into())));
        assert_eq!(
            code(coerce(&stage, Value::Text("legacy".into()))),
            "invalid_picklist_value"
        );

        let unknown = coerce(&stage, Value::Text("won".into())).err();
        let message = unknown.map(|e| e.message).unwrap_or_default();
        assert!(
            message.contains("allowed: closedwon, Red, Blue"),
            "{message}"
        );
    }

    #[test]
    fn multi_select_items_are_split_on_semicolons_and_each_checked() {
        let colours = picklist(FieldType::MultiPicklist);
        let items = coerce(&colours, Value::Text("red; Blue".into()));
        assert_eq!(items, Ok(Value::Multi(vec!["Red".into(), "Blue".into()])));
        let bad = Value::Multi(vec!["Red".into(), "Green".into()]);
        assert_eq!(code(coerce(&colours, bad)), "invalid_picklist_value");
    }

    #[test]
    fn text_longer_than_the_field_is_refused() {
        let name = FieldSchema {
            length: Some(5),
            ..field(FieldType::Text)
        };
        assert_eq!(
            coerce(&name, Value::Text("Acme".into())),
            Ok(Value::Text("Acme".into()))
        );
        assert_eq!(
            code(coerce(&name, Value::Text("Acme Corp".into()))),
            "value_too_long"
        );
    }
}
