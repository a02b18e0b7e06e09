//! Field values as each CRM wants them on the wire.

use crate::record::{Fields, Value};

/// Salesforce takes JSON types: numbers, booleans, `YYYY-MM-DD` dates,
/// RFC 3339 datetimes, multi-selects joined with `;`, null to clear.
pub fn salesforce_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => (*b).into(),
        Value::Number(n) => number(*n),
        Value::Date(d) => d.format("%Y-%m-%d").to_string().into(),
        Value::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
        Value::Text(t) => t.clone().into(),
        Value::Multi(items) => items.join(";").into(),
    }
}

/// HubSpot takes property values as strings: dates as `YYYY-MM-DD`,
/// datetimes as RFC 3339, multi-selects joined with `;`, `""` to clear.
pub fn hubspot_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => "".into(),
        Value::Number(n) => number(*n).to_string().into(),
        Value::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
        other => other.to_string().into(),
    }
}

/// Whole numbers go out without a fraction, so `1054` is not `1054.0`.
fn number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or_default()
    }
}

/// A record's fields as a JSON object, through `convert`.
pub fn object(
    fields: &Fields,
    convert: fn(&Value) -> serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    fields
        .iter()
        .map(|(name, value)| (name.clone(), convert(value)))
        .collect()
}
