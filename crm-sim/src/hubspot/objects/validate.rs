//! Property validation: unknown and read-only properties, per-type value checks and
//! normalization, and unique-value conflicts, answered with HubSpot's error bodies.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::hubspot::{PortalState, Property, error, lookup};

/// The longest value HubSpot takes for a string property.
const MAX_STRING: usize = 65_536;

/// One property that failed validation.
struct Invalid {
    code: &'static str,
    name: String,
    message: String,
}

/// The 400 `VALIDATION_ERROR` listing every invalid property.
fn validation_error(errors: Vec<Invalid>) -> Response {
    let inner: Vec<Value> = errors
        .iter()
        .map(|e| json!({"isValid": false, "message": e.message, "error": e.code, "name": e.name}))
        .collect();
    let details: Vec<Value> = errors
        .iter()
        .map(|e| {
            json!({
                "message": e.message,
                "code": e.code,
                "context": {"propertyName": [e.name]}
            })
        })
        .collect();
    let mut extra = Map::new();
    extra.insert("errors".into(), Value::Array(details));
    error(
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        format!("Property values were not valid: {}", Value::Array(inner)),
        extra,
    )
}

/// The properties a create of `object_type` must set: `hs_timestamp` on engagements, a
/// custom object's required properties.
pub(super) fn require_on_create(
    s: &PortalState,
    object_type: &str,
    props: &Map<String, Value>,
) -> Result<(), Response> {
    let missing: Vec<Invalid> = s
        .required
        .get(object_type)
        .into_iter()
        .flatten()
        .filter(|name| {
            let value = props.get(name.as_str()).and_then(Value::as_str);
            value.is_none_or(str::is_empty)
        })
        .map(|name| Invalid {
            code: "REQUIRED_FIELD",
            name: name.clone(),
            message: format!("The property {name} is required."),
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(validation_error(missing))
    }
}

/// Checks and normalizes `input` for `object_type`; `Err` is the response to send.
pub(super) fn validate(
    s: &PortalState,
    object_type: &str,
    input: &Map<String, Value>,
    self_id: Option<&str>,
) -> Result<Map<String, Value>, Response> {
    let Some(props) = s.properties.get(object_type) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Unable to infer object type from: {object_type}"),
            Map::new(),
        ));
    };
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (name, value) in input {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let Some(prop) = props.iter().find(|p| &p.name == name) else {
            errors.push(Invalid {
                code: "PROPERTY_DOESNT_EXIST",
                name: name.clone(),
                message: format!("Property \"{name}\" does not exist"),
            });
            continue;
        };
        if prop.read_only {
            errors.push(Invalid {
                code: "READ_ONLY_VALUE",
                name: name.clone(),
                message: format!("\"{name}\" is a read only property; its value cannot be set."),
            });
            continue;
        }
        let normalized = if text.is_empty() {
            Ok(String::new())
        } else {
            normalize(s, prop, &text)
        };
        match normalized {
            Ok(v) => {
                out.insert(name.clone(), json!(v));
            }
            Err((code, message)) => errors.push(Invalid {
                code,
                name: name.clone(),
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(validation_error(errors));
    }
    for (name, value) in &out {
        let unique = lookup::is_unique(s, object_type, name);
        let Some(text) = value.as_str().filter(|t| unique && !t.is_empty()) else {
            continue;
        };
        let records = s.records.get(object_type);
        let existing = lookup::candidates(s, object_type, name, text)
            .into_iter()
            .filter_map(|id| records?.get(&id))
            .find(|r| {
                r.record
                    .properties
                    .get(name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(text))
                    && Some(r.record.id.as_str()) != self_id
            });
        if let Some(existing) = existing {
            let message = if name == "email" {
                format!(
                    "Contact already exists. Existing ID: {}",
                    existing.record.id
                )
            } else {
                format!(
                    "A {} with {name} {text} already exists. Existing ID: {}",
                    object_type.trim_end_matches('s'),
                    existing.record.id
                )
            };
            return Err(error(StatusCode::CONFLICT, "CONFLICT", message, Map::new()));
        }
    }
    Ok(out)
}

/// The value HubSpot stores for `text` in `prop`, or the error code and message.
fn normalize(
    s: &PortalState,
    prop: &Property,
    text: &str,
) -> Result<String, (&'static str, String)> {
    let name = &prop.name;
    if prop.kind == "string" && text.chars().count() > MAX_STRING {
        return Err((
            "INVALID_LONG_STRING",
            format!("{name} is longer than {MAX_STRING} characters"),
        ));
    }
    match prop.kind.as_str() {
        "number" => text
            .trim()
            .parse::<f64>()
            .map(|_| text.trim().to_owned())
            .map_err(|_| ("INVALID_DECIMAL", format!("{text} was not a valid number."))),
        "date" => {
            if let Ok(ms) = text.parse::<i64>() {
                let dt = chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or(("INVALID_DATE", format!("{text} was not a valid date")))?;
                if ms % 86_400_000 != 0 {
                    return Err((
                        "INVALID_DATE",
                        format!(
                            "{text} is at {} which is not midnight!",
                            dt.format("%H:%M:%S")
                        ),
                    ));
                }
                return Ok(dt.format("%Y-%m-%d").to_string());
            }
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.format("%Y-%m-%d").to_string())
                .map_err(|_| ("INVALID_DATE", format!("{text} was not a valid date")))
        }
        "datetime" => {
            if let Ok(ms) = text.parse::<i64>() {
                return chrono::DateTime::from_timestamp_millis(ms)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .ok_or((
                        "INVALID_DATETIME",
                        format!("{text} was not a valid datetime"),
                    ));
            }
            if let Ok(d) = chrono::DateTime::parse_from_rfc3339(text) {
                return Ok(d
                    .with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string());
            }
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| format!("{}T00:00:00.000Z", d.format("%Y-%m-%d")))
                .map_err(|_| {
                    (
                        "INVALID_DATETIME",
                        format!("{text} was not a valid datetime"),
                    )
                })
        }
        "bool" => match text {
            "true" | "false" => Ok(text.to_owned()),
            _ => Err(("INVALID_BOOLEAN", format!("{text} was not a valid boolean"))),
        },
        "enumeration" if name == "hubspot_owner_id" => {
            if s.owners.iter().any(|o| o.id == text) {
                Ok(text.to_owned())
            } else {
                Err((
                    "INVALID_OWNER_ID",
                    format!("{text} is not a valid owner id"),
                ))
            }
        }
        "enumeration" if !prop.options.is_empty() => {
            let values: Vec<&str> = if prop.field_type == "checkbox" {
                text.split(';').collect()
            } else {
                vec![text]
            };
            match values
                .iter()
                .find(|v| !prop.options.iter().any(|o| o == *v))
            {
                Some(bad) => Err((
                    "INVALID_OPTION",
                    format!(
                        "{bad} was not one of the allowed options: [{}]",
                        prop.options.join(", ")
                    ),
                )),
                None => Ok(text.to_owned()),
            }
        }
        _ => Ok(text.to_owned()),
    }
}
