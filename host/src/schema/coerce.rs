//! Turning an agent's value into the value a CRM field takes, and reading a
//! CRM's stored value back into the same form so the two compare.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

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

/// What to do with text longer than the CRM field's length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TooLong {
    /// Fail the record, naming the field and both lengths.
    #[default]
    Error,
    /// Cut the text to the field's length, at a character boundary.
    Truncate,
}

/// The customer's choices that shape a value beyond what the field's type
/// says.
#[derive(Debug, Clone, Copy)]
pub struct CoerceRules<'a> {
    /// The zone whose calendar a date field's day is taken in.
    pub time_zone: Tz,
    /// The picklist value used for an agent value the field does not allow.
    pub fallback: Option<&'a str>,
    /// What to do with text over the field's length.
    pub too_long: TooLong,
}

impl Default for CoerceRules<'_> {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::UTC,
            fallback: None,
            too_long: TooLong::Error,
        }
    }
}

/// A coerced value, and what was changed on the way that the agent did not
/// ask for, for the plan to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Coerced {
    /// The value in the field's type.
    pub value: Value,
    /// A fallback or a truncation, in words.
    pub note: Option<String>,
}

impl From<Value> for Coerced {
    fn from(value: Value) -> Self {
        Self { value, note: None }
    }
}

/// Coerces an agent value into the type `field` takes, with the default
/// rules: UTC days, no fallback, text over length refused.
pub fn coerce(field: &FieldSchema, value: Value) -> Result<Value, FieldError> {
    coerce_with(field, value, CoerceRules::default()).map(|c| c.value)
}

/// Coerces an agent value into the type `field` takes, under `rules`.
pub fn coerce_with(
    field: &FieldSchema,
    value: Value,
    rules: CoerceRules<'_>,
) -> Result<Coerced, FieldError> {
    // Empty in any form (null, blank text, an empty list) is "nothing": the
    // planner decides whether it clears, whatever the field's type.
    if value.is_empty() {
        return Ok(Value::Null.into());
    }
    match field.kind {
        FieldType::Text
        | FieldType::Textarea
        | FieldType::Email
        | FieldType::Phone
        | FieldType::Url
        | FieldType::Id
        | FieldType::Reference => text(field, value, rules.too_long),
        FieldType::Number | FieldType::Currency | FieldType::Percent => {
            number(field, value).map(Coerced::from)
        }
        FieldType::Boolean => boolean(field, value).map(Coerced::from),
        FieldType::Date => date(field, value, rules.time_zone).map(Coerced::from),
        FieldType::Datetime => datetime(field, value, rules.time_zone).map(Coerced::from),
        FieldType::Picklist => picklist(field, value, rules.fallback),
        FieldType::MultiPicklist => multi_picklist(field, value).map(Coerced::from),
        FieldType::Other => Err(FieldError::new(
            "unsupported_field_type",
            field,
            format!("field `{}` has a type the host does not write", field.name),
        )),
    }
}

fn text(field: &FieldSchema, value: Value, too_long: TooLong) -> Result<Coerced, FieldError> {
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
    let length = text.chars().count();
    match field.length {
        Some(max) if length > max as usize => match too_long {
            TooLong::Error => Err(FieldError::new(
                "value_too_long",
                field,
                format!(
                    "field `{}` holds at most {max} characters, the value has {length}",
                    field.name
                ),
            )),
            TooLong::Truncate => Ok(Coerced {
                value: Value::Text(text.chars().take(max as usize).collect()),
                note: Some(format!("truncated from {length} to {max} characters")),
            }),
        },
        _ => Ok(Value::Text(text).into()),
    }
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
        Value::Text(text) => match plain_number(text.trim()).parse::<f64>() {
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

/// `1,234,567.89` without its thousands separators. Only commas grouping
/// exactly three digits before a point count as separators: `1,5` could be a
/// decimal comma and stays as it is, for the parse to refuse.
fn plain_number(text: &str) -> std::borrow::Cow<'_, str> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let integer = digits.split('.').next().unwrap_or(digits);
    let groups: Vec<&str> = integer.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    if grouped {
        format!("{sign}{}", digits.replace(',', "")).into()
    } else {
        text.into()
    }
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

/// A date field holds a calendar day. An instant becomes the day it falls
/// on in the customer's zone: 23:30 in New York is still that day there,
/// though already the next in UTC.
fn date(field: &FieldSchema, value: Value, zone: Tz) -> Result<Value, FieldError> {
    let parsed = match &value {
        Value::Date(d) => Some(*d),
        Value::DateTime(t) => Some(t.with_timezone(&zone).date_naive()),
        Value::Text(text) => {
            let text = text.trim();
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .or_else(|| local_datetime(text, zone).map(|t| t.with_timezone(&zone).date_naive()))
        }
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

/// A datetime without an offset, or a bare day, is read in the customer's
/// zone: that is where the rep who said "10:00" or "today" is.
fn datetime(field: &FieldSchema, value: Value, zone: Tz) -> Result<Value, FieldError> {
    let parsed = match &value {
        Value::DateTime(t) => Some(*t),
        Value::Date(d) => in_zone(d.and_time(NaiveTime::MIN), zone),
        Value::Text(text) => local_datetime(text.trim(), zone),
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

/// An instant from an agent's text: with an offset as given, without one
/// as a wall-clock time in `zone`. Bare digits are refused: `20170305`,
/// `2017` and epoch seconds or milliseconds are all plausible readings.
fn local_datetime(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN))
    })?;
    in_zone(naive, zone)
}

/// A wall-clock time in `zone` as an instant; in a DST gap, the first
/// valid instant after it; when the clock falls back, the earlier one.
fn in_zone(naive: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => {
            let later = naive + chrono::Duration::hours(1);
            zone.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

fn picklist(
    field: &FieldSchema,
    value: Value,
    fallback: Option<&str>,
) -> Result<Coerced, FieldError> {
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
    match picklist_member(field, text) {
        Ok(member) => Ok(Value::Text(member).into()),
        Err(error) => {
            // The fallback is itself checked: a fallback the org does not
            // allow fails the record like any other unknown value.
            let Some(fallback) = fallback else {
                return Err(error);
            };
            let member = picklist_member(field, fallback)?;
            Ok(Coerced {
                note: Some(format!(
                    "`{text}` is not an allowed value; the configured fallback `{member}` used"
                )),
                value: Value::Text(member),
            })
        }
    }
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

    fn with_rules(field: &FieldSchema, value: &str, rules: CoerceRules<'_>) -> Coerced {
        coerce_with(field, Value::Text(value.into()), rules).expect("coerces")
    }

    #[test]
    fn thousands_separators_are_read_and_never_sent() {
        let amount = field(FieldType::Currency);
        let cases = [
            ("1,234,567.89", Some(1_234_567.89)),
            ("-12,000", Some(-12_000.0)),
            ("999", Some(999.0)),
            // A decimal comma or a broken grouping is refused, not guessed.
            ("1,5", None),
            ("12,34,567", None),
            ("1.234,56", None),
        ];
        for (text, expected) in cases {
            let got = coerce(&amount, Value::Text(text.into()));
            match expected {
                Some(n) => assert_eq!(got, Ok(Value::Number(n)), "{text}"),
                None => assert_eq!(code(got), "invalid_number", "{text}"),
            }
        }
    }

    #[test]
    fn a_date_is_the_day_in_the_customers_zone() {
        let date = field(FieldType::Date);
        let new_york = CoerceRules {
            time_zone: chrono_tz::America::New_York,
            ..CoerceRules::default()
        };
        let day = |d: &str| Value::Date(d.parse().expect("a date"));

        // 23:30 in New York is already the next day in UTC.
        let late = "2024-03-05T23:30:00-05:00";
        assert_eq!(with_rules(&date, late, new_york).value, day("2024-03-05"));
        assert_eq!(
            coerce(&date, Value::Text(late.into())),
            Ok(day("2024-03-06"))
        );
        // An instant in UTC, and a wall-clock time without an offset.
        let utc = "2024-03-06T02:00:00Z";
        assert_eq!(with_rules(&date, utc, new_york).value, day("2024-03-05"));
        let wall = "2024-03-05T23:30:00";
        assert_eq!(with_rules(&date, wall, new_york).value, day("2024-03-05"));
        assert_eq!(
            with_rules(&date, "2024-03-05", new_york).value,
            day("2024-03-05")
        );

        // Bare digits are not guessed at: a compact date, a year, epoch time.
        for digits in ["20170305", "2017", "1488672000", "1488672000000"] {
            let refused = coerce(&date, Value::Text(digits.into()));
            assert_eq!(code(refused), "invalid_date", "{digits}");
            let refused = coerce(&field(FieldType::Datetime), Value::Text(digits.into()));
            assert_eq!(code(refused), "invalid_datetime", "{digits}");
        }
    }

    #[test]
    fn an_empty_value_of_any_type_is_nothing_not_an_error() {
        for kind in [
            FieldType::Number,
            FieldType::Boolean,
            FieldType::Date,
            FieldType::Picklist,
        ] {
            for empty in [
                Value::Null,
                Value::Text(String::new()),
                Value::Text("  ".into()),
            ] {
                let kept = coerce(&picklist(kind), empty.clone());
                assert_eq!(kept, Ok(Value::Null), "{kind:?} {empty:?}");
            }
        }
    }

    #[test]
    fn a_datetime_without_an_offset_is_read_in_the_customers_zone() {
        let datetime = field(FieldType::Datetime);
        let berlin = CoerceRules {
            time_zone: chrono_tz::Europe::Berlin,
            ..CoerceRules::default()
        };
        let at = |t: &str| Value::DateTime(t.parse().expect("an instant"));

        let wall = with_rules(&datetime, "2024-07-01T10:00:00", berlin).value;
        assert_eq!(wall, at("2024-07-01T08:00:00Z"));
        let offset = with_rules(&datetime, "2024-07-01T10:00:00+01:00", berlin).value;
        assert_eq!(offset, at("2024-07-01T09:00:00Z"));
        let day = with_rules(&datetime, "2024-01-15", berlin).value;
        assert_eq!(day, at("2024-01-14T23:00:00Z"));
        // 02:30 does not exist in Berlin on the night clocks go forward.
        let gap = with_rules(&datetime, "2024-03-31T02:30:00", berlin).value;
        assert_eq!(gap, at("2024-03-31T01:30:00Z"));
    }

    #[test]
    fn text_over_length_is_truncated_where_the_config_says_so() {
        let name = FieldSchema {
            length: Some(5),
            ..field(FieldType::Text)
        };
        let truncate = CoerceRules {
            too_long: TooLong::Truncate,
            ..CoerceRules::default()
        };
        let cut = with_rules(&name, "Zürich AG", truncate);
        assert_eq!(cut.value, Value::Text("Züric".into()));
        assert_eq!(
            cut.note.as_deref(),
            Some("truncated from 9 to 5 characters")
        );
        assert_eq!(with_rules(&name, "Acme", truncate).note, None);
    }

    #[test]
    fn an_unknown_picklist_value_takes_the_fallback_or_names_the_allowed_values() {
        let colour = picklist(FieldType::Picklist);
        let error = coerce(&colour, Value::Text("Green".into())).expect_err("refused");
        assert_eq!(error.code, "invalid_picklist_value");
        assert!(error.message.contains("F__c") && error.message.contains("Red, Blue"));

        let fallback = CoerceRules {
            fallback: Some("blue"),
            ..CoerceRules::default()
        };
        let used = with_rules(&colour, "Green", fallback);
        assert_eq!(used.value, Value::Text("Blue".into()));
        assert!(used.note.is_some_and(|n| n.contains("`Green`")));
        // A known value never takes the fallback.
        assert_eq!(with_rules(&colour, "red", fallback).note, None);

        // A fallback the picklist does not allow fails like any value.
        let bad = CoerceRules {
            fallback: Some("Purple"),
            ..CoerceRules::default()
        };
        let refused = coerce_with(&colour, Value::Text("Green".into()), bad);
        assert_eq!(
            refused.err().map(|e| e.code),
            Some("invalid_picklist_value")
        );
    }

    #[test]
    fn a_multi_select_checks_every_item() {
        let colours = picklist(FieldType::MultiPicklist);
        let both = coerce(&colours, Value::Text("red; Blue".into()));
        assert_eq!(both, Ok(Value::Multi(vec!["Red".into(), "Blue".into()])));
        let one_bad = coerce(&colours, Value::Multi(vec!["Red".into(), "Green".into()]));
        assert_eq!(code(one_bad), "invalid_picklist_value");
    }
}
