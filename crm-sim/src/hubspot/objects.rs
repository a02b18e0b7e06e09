//! CRM v3 objects: create, read, update, archive, batch, search, and v4 associations, with
//! HubSpot's property validation (`VALIDATION_ERROR`) and unique-value conflicts (409).

#![allow(
    clippy::result_large_err,
    reason = "handlers return the ready error `Response`; boxing it buys nothing in a simulator"
)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{HubspotRecord, Org, PortalState, Stored, error, lookup};

/// Now as HubSpot writes timestamps: `2024-05-01T12:00:00.000Z`.
pub(crate) fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Turns every value into the string v3 returns.
pub(crate) fn stringify(properties: Map<String, Value>) -> Map<String, Value> {
    properties
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => Value::String(s),
                Value::Null => Value::Null,
                other => Value::String(other.to_string()),
            };
            (k, s)
        })
        .collect()
}

/// Stores a new record without checks; returns its id.
pub(crate) fn store_new(
    s: &mut PortalState,
    object_type: &str,
    mut properties: Map<String, Value>,
    associations: Vec<(String, String, u32)>,
) -> String {
    let id = s.next_id;
    s.next_id += 1;
    let now = now_iso();
    properties.insert("hs_object_id".into(), json!(id.to_string()));
    properties.insert("createdate".into(), json!(now));
    properties.insert("hs_lastmodifieddate".into(), json!(now));
    lookup::index_values(s, object_type, id, &properties, true);
    let record = HubspotRecord {
        id: id.to_string(),
        properties,
        associations,
    };
    s.records.entry(object_type.to_owned()).or_default().insert(
        id,
        Stored {
            record,
            created_at: now.clone(),
            updated_at: now,
        },
    );
    id.to_string()
}

/// Merges properties into a record without checks.
pub(crate) fn store_update(
    s: &mut PortalState,
    object_type: &str,
    id: &str,
    properties: Map<String, Value>,
) {
    let Ok(id) = id.parse::<u64>() else { return };
    let before = s.records.get(object_type).and_then(|r| r.get(&id));
    if let Some(before) = before.map(|b| b.record.properties.clone()) {
        let mut after = before.clone();
        after.extend(properties.clone());
        lookup::index_values(s, object_type, id, &before, false);
        lookup::index_values(s, object_type, id, &after, true);
    }
    if let Some(stored) = s.records.get_mut(object_type).and_then(|r| r.get_mut(&id)) {
        let now = now_iso();
        stored.record.properties.extend(properties);
        stored
            .record
            .properties
            .insert("hs_lastmodifieddate".into(), json!(now));
        stored.updated_at = now;
    }
}

fn render(stored: &Stored, wanted: Option<&[String]>) -> Value {
    let defaults = ["hs_object_id", "createdate", "hs_lastmodifieddate"];
    let properties: Map<String, Value> = match wanted {
        Some(names) => names
            .iter()
            .chain(
                defaults
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .map(|n| {
                (
                    n.clone(),
                    stored
                        .record
                        .properties
                        .get(n)
                        .cloned()
                        .unwrap_or(Value::Null),
                )
            })
            .collect(),
        None => stored.record.properties.clone(),
    };
    json!({"id": stored.record.id, "properties": properties, "createdAt": stored.created_at, "updatedAt": stored.updated_at, "archived": false})
}

struct Invalid {
    code: &'static str,
    name: String,
    message: String,
}

fn validation_error(errors: Vec<Invalid>) -> Response {
    let inner: Vec<Value> = errors
        .iter()
        .map(|e| json!({"isValid": false, "message": e.message, "error": e.code, "name": e.name}))
        .collect();
    let details: Vec<Value> = errors.iter().map(|e| json!({"message": e.message, "code": e.code, "context": {"propertyName": [e.name]}})).collect();
    let mut extra = Map::new();
    extra.insert("errors".into(), Value::Array(details));
    error(
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        format!("Property values were not valid: {}", Value::Array(inner)),
        extra,
    )
}

/// Checks and normalizes `input` for `object_type`; `Err` is the response to send.
fn validate(
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

fn normalize(
    s: &PortalState,
    prop: &super::Property,
    text: &str,
) -> Result<String, (&'static str, String)> {
    let name = &prop.name;
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

fn association_type(from: &str, to: &str) -> Option<u32> {
    Some(match (from, to) {
        ("deals", "companies") => 5,
        ("deals", "contacts") => 3,
        ("contacts", "companies") => 279,
        ("companies", "contacts") => 280,
        ("companies", "deals") => 6,
        ("contacts", "deals") => 4,
        _ => return None,
    })
}

fn exists(s: &PortalState, object_type: &str, id: &str) -> bool {
    id.parse::<u64>().ok().is_some_and(|id| {
        s.records
            .get(object_type)
            .is_some_and(|r| r.contains_key(&id))
    })
}

/// Resolves inline associations: `{"to":{"id"},"types":[{...,"associationTypeId"}]}`.
fn inline_associations(
    s: &PortalState,
    from: &str,
    input: &Value,
) -> Result<Vec<(String, String, u32)>, Response> {
    let mut out = Vec::new();
    for assoc in input
        .get("associations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let to_id = assoc
            .pointer("/to/id")
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        for t in assoc
            .get("types")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let type_id = t
                .get("associationTypeId")
                .and_then(Value::as_u64)
                .unwrap_or(0) as u32;
            let to_type = super::OBJECT_TYPES
                .iter()
                .find(|to| association_type(from, to) == Some(type_id));
            let Some(to_type) = to_type else {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    format!(
                        "{type_id} is not a valid association type id between {from} and any object type"
                    ),
                    Map::new(),
                ));
            };
            if !exists(s, to_type, &to_id) {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    format!(
                        "One or more associations are invalid: {} {to_id} does not exist",
                        to_type.trim_end_matches('s')
                    ),
                    Map::new(),
                ));
            }
            out.push((to_type.to_string(), to_id.clone(), type_id));
        }
    }
    Ok(out)
}

fn add_inverse(s: &mut PortalState, from: &str, from_id: &str, links: &[(String, String, u32)]) {
    for (to_type, to_id, _) in links {
        let Some(type_id) = association_type(to_type, from) else {
            continue;
        };
        let Ok(id) = to_id.parse::<u64>() else {
            continue;
        };
        if let Some(stored) = s.records.get_mut(to_type).and_then(|r| r.get_mut(&id)) {
            let link = (from.to_owned(), from_id.to_owned(), type_id);
            if !stored.record.associations.contains(&link) {
                stored.record.associations.push(link);
            }
        }
    }
}

/// Removes records this request created, with the links other records got
/// to them, so a refused batch leaves the portal as it was.
fn undo_creates(s: &mut PortalState, object_type: &str, ids: &[u64]) {
    for &id in ids {
        let Some(stored) = s.records.get_mut(object_type).and_then(|r| r.remove(&id)) else {
            continue;
        };
        lookup::index_values(s, object_type, id, &stored.record.properties, false);
        let id = id.to_string();
        for (to_type, to_id, _) in &stored.record.associations {
            let to_id = to_id.parse::<u64>().ok();
            let linked = to_id.and_then(|n| s.records.get_mut(to_type)?.get_mut(&n));
            if let Some(linked) = linked {
                let links = &mut linked.record.associations;
                links.retain(|(from, from_id, _)| !(from == object_type && *from_id == id));
            }
        }
    }
}

fn parse_body(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!(
                "Invalid input JSON on line {}, column {}",
                e.line(),
                e.column()
            ),
            Map::new(),
        )
    })
}

fn properties_of(input: &Value) -> Map<String, Value> {
    input
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn create_one(s: &mut PortalState, object_type: &str, input: &Value) -> Result<String, Response> {
    let props = validate(s, object_type, &properties_of(input), None)?;
    let links = inline_associations(s, object_type, input)?;
    let id = store_new(s, object_type, props, links.clone());
    add_inverse(s, object_type, &id, &links);
    Ok(id)
}

fn find_id(
    s: &PortalState,
    object_type: &str,
    key: &str,
    id_property: Option<&str>,
) -> Option<u64> {
    let records = s.records.get(object_type)?;
    let holds = |r: &&Stored, prop: &str| {
        r.record.properties.get(prop).and_then(Value::as_str) == Some(key)
    };
    match id_property.filter(|p| *p != "hs_object_id") {
        Some(prop) if lookup::is_unique(s, object_type, prop) => {
            lookup::candidates(s, object_type, prop, key)
                .into_iter()
                .filter_map(|id| records.get(&id))
                .find(|r| holds(r, prop))
                .and_then(|r| r.record.id.parse().ok())
        }
        Some(prop) => records
            .values()
            .find(|r| holds(r, prop))
            .and_then(|r| r.record.id.parse().ok()),
        None => key
            .parse::<u64>()
            .ok()
            .filter(|id| records.contains_key(id)),
    }
}

fn not_found(object_type: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!(
            "Object not found.  objectId are usually numeric. {} {id}",
            object_type
        ),
        Map::new(),
    )
}

fn list(q: &HashMap<String, String>, key: &str) -> Option<Vec<String>> {
    q.get(key).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// `POST /crm/v3/objects/{type}` → 201.
pub(crate) async fn create(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    org.with_state(|s| match create_one(s, &object_type, &input) {
        Ok(id) => {
            let stored = s
                .records
                .get(&object_type)
                .and_then(|r| r.get(&id.parse().unwrap_or(0)));
            (
                StatusCode::CREATED,
                Json(stored.map(|st| render(st, None)).unwrap_or(Value::Null)),
            )
                .into_response()
        }
        Err(r) => r,
    })
}

/// `GET /crm/v3/objects/{type}/{id}?properties=a,b[&idProperty=x]`.
pub(crate) async fn get(
    State(org): State<Arc<Org>>,
    Path((object_type, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    org.with_state(|s| {
        let Some(found) = find_id(
            s,
            &object_type,
            &id,
            q.get("idProperty").map(String::as_str),
        ) else {
            return not_found(&object_type, &id);
        };
        let stored = s.records.get(&object_type).and_then(|r| r.get(&found));
        Json(
            stored
                .map(|st| render(st, list(&q, "properties").as_deref()))
                .unwrap_or(Value::Null),
        )
        .into_response()
    })
}

/// `PATCH /crm/v3/objects/{type}/{id}[?idProperty=x]` → 200.
pub(crate) async fn update(
    State(org): State<Arc<Org>>,
    Path((object_type, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    org.with_state(|s| {
        let Some(found) = find_id(
            s,
            &object_type,
            &id,
            q.get("idProperty").map(String::as_str),
        ) else {
            return not_found(&object_type, &id);
        };
        let props = match validate(
            s,
            &object_type,
            &properties_of(&input),
            Some(&found.to_string()),
        ) {
            Ok(p) => p,
            Err(r) => return r,
        };
        store_update(s, &object_type, &found.to_string(), props);
        let stored = s.records.get(&object_type).and_then(|r| r.get(&found));
        Json(stored.map(|st| render(st, None)).unwrap_or(Value::Null)).into_response()
    })
}

/// `DELETE /crm/v3/objects/{type}/{id}` → 204 (archives).
pub(crate) async fn archive(
    State(org): State<Arc<Org>>,
    Path((object_type, id)): Path<(String, String)>,
) -> StatusCode {
    org.with_state(|s| {
        let removed = id.parse::<u64>().ok().and_then(|id| {
            let stored = s.records.get_mut(&object_type)?.remove(&id)?;
            Some((id, stored))
        });
        if let Some((id, stored)) = removed {
            lookup::index_values(s, &object_type, id, &stored.record.properties, false);
        }
    });
    StatusCode::NO_CONTENT
}

fn batch_body(results: Vec<Value>, started: String) -> Value {
    json!({"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso()})
}

/// `POST .../batch/read`: 200, or 207 with `OBJECT_NOT_FOUND` for missing ids.
pub(crate) async fn batch_read(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let wanted: Option<Vec<String>> = input.get("properties").and_then(Value::as_array).map(|p| {
        p.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let id_property = input.get("idProperty").and_then(Value::as_str);
    let ids: Vec<String> = input
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    org.with_state(|s| {
        let mut results = Vec::new();
        let mut missing = Vec::new();
        for id in &ids {
            match find_id(s, &object_type, id, id_property).and_then(|f| s.records.get(&object_type).and_then(|r| r.get(&f))) {
                Some(stored) => results.push(render(stored, wanted.as_deref())),
                None => missing.push(id.clone()),
            }
        }
        let mut body = batch_body(results, started);
        if missing.is_empty() { return Json(body).into_response(); }
        body["numErrors"] = json!(1);
        body["errors"] = json!([{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some objects, they may be deleted or not exist. Check that ids are valid.", "context": {"ids": missing}}]);
        (StatusCode::MULTI_STATUS, Json(body)).into_response()
    })
}

/// `POST .../batch/create` → 201; any invalid input fails the whole batch.
pub(crate) async fn batch_create(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let inputs = input
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.len() > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch input must have at most 100 inputs",
            Map::new(),
        );
    }
    org.with_state(|s| {
        let next_id = s.next_id;
        let mut results = Vec::new();
        let mut created = Vec::new();
        for one in &inputs {
            match create_one(s, &object_type, one) {
                Ok(id) => {
                    let id: u64 = id.parse().unwrap_or(0);
                    created.push(id);
                    results.push(
                        s.records
                            .get(&object_type)
                            .and_then(|r| r.get(&id))
                            .map(|st| render(st, None))
                            .unwrap_or(Value::Null),
                    );
                }
                Err(r) => {
                    undo_creates(s, &object_type, &created);
                    s.next_id = next_id;
                    return r;
                }
            }
        }
        (StatusCode::CREATED, Json(batch_body(results, started))).into_response()
    })
}

/// `POST .../batch/update` `{"inputs":[{"id","properties"}],"idProperty"?}` → 200.
pub(crate) async fn batch_update(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let inputs = input
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.len() > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch input must have at most 100 inputs",
            Map::new(),
        );
    }
    org.with_state(|s| {
        let mut planned = Vec::new();
        for one in &inputs {
            let key = one.get("id").and_then(Value::as_str).unwrap_or_default();
            let id_property = one
                .get("idProperty")
                .or(input.get("idProperty"))
                .and_then(Value::as_str);
            let Some(found) = find_id(s, &object_type, key, id_property) else {
                return not_found(&object_type, key);
            };
            match validate(
                s,
                &object_type,
                &properties_of(one),
                Some(&found.to_string()),
            ) {
                Ok(p) => planned.push((found, p)),
                Err(r) => return r,
            }
        }
        let mut results = Vec::new();
        for (found, props) in planned {
            store_update(s, &object_type, &found.to_string(), props);
            if let Some(st) = s.records.get(&object_type).and_then(|r| r.get(&found)) {
                results.push(render(st, None));
            }
        }
        Json(batch_body(results, started)).into_response()
    })
}

fn filter_matches(record: &HubspotRecord, filter: &Value) -> bool {
    let name = filter
        .get("propertyName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = record.properties.get(name).and_then(Value::as_str);
    let target = filter
        .get("value")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let cmp = |v: &str| match (v.parse::<f64>(), target.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(v.cmp(target.as_str())),
    };
    match filter
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("EQ")
    {
        "EQ" => value.is_some_and(|v| v.eq_ignore_ascii_case(&target)),
        "NEQ" => !value.is_some_and(|v| v.eq_ignore_ascii_case(&target)),
        "IN" => value.is_some_and(|v| {
            filter
                .get("values")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter()
                        .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(v)))
                })
        }),
        "GT" => value.and_then(cmp).is_some_and(|o| o.is_gt()),
        "GTE" => value.and_then(cmp).is_some_and(|o| o.is_ge()),
        "LT" => value.and_then(cmp).is_some_and(|o| o.is_lt()),
        "LTE" => value.and_then(cmp).is_some_and(|o| o.is_le()),
        "HAS_PROPERTY" => value.is_some_and(|v| !v.is_empty()),
        "NOT_HAS_PROPERTY" => value.is_none_or(|v| v.is_empty()),
        _ => false,
    }
}

/// `POST .../search`: filter groups OR'ed, filters AND'ed; `after` is an offset.
pub(crate) async fn search(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let limit = input
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .min(200) as usize;
    let after = input
        .get("after")
        .and_then(|a| {
            a.as_str()
                .and_then(|a| a.parse().ok())
                .or(a.as_u64().map(|a| a as usize))
        })
        .unwrap_or(0);
    let groups = input
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let wanted: Option<Vec<String>> = input.get("properties").and_then(Value::as_array).map(|p| {
        p.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    org.with_state(|s| {
        let mut hits: Vec<&Stored> = s
            .records
            .get(&object_type)
            .map(|r| {
                r.values()
                    .filter(|st| {
                        groups.is_empty()
                            || groups.iter().any(|g| {
                                g.get("filters").and_then(Value::as_array).is_none_or(|fs| {
                                    fs.iter().all(|f| filter_matches(&st.record, f))
                                })
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(sort) = input
            .get("sorts")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
        {
            let name = sort
                .get("propertyName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let descending = sort.get("direction").and_then(Value::as_str) == Some("DESCENDING");
            hits.sort_by(|a, b| {
                let o = a
                    .record
                    .properties
                    .get(&name)
                    .and_then(Value::as_str)
                    .cmp(&b.record.properties.get(&name).and_then(Value::as_str));
                if descending { o.reverse() } else { o }
            });
        }
        let total = hits.len();
        let results: Vec<Value> = hits
            .iter()
            .skip(after)
            .take(limit)
            .map(|st| render(st, Some(wanted.as_deref().unwrap_or(&[]))))
            .collect();
        let mut body = json!({"total": total, "results": results});
        if after + limit < total {
            body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
        }
        Json(body).into_response()
    })
}

/// `GET /crm/v4/objects/{from}/{id}/associations/{to}`.
pub(crate) async fn list_associations(
    State(org): State<Arc<Org>>,
    Path((from, id, to)): Path<(String, String, String)>,
) -> Response {
    org.with_state(|s| {
        let Some(stored) = id.parse::<u64>().ok().and_then(|n| s.records.get(&from).and_then(|r| r.get(&n))) else { return not_found(&from, &id) };
        let results: Vec<Value> = stored.record.associations.iter().filter(|(t, _, _)| *t == to).map(|(_, to_id, type_id)| json!({"toObjectId": to_id.parse::<u64>().unwrap_or(0), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}]})).collect();
        Json(json!({"results": results})).into_response()
    })
}

/// `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}`.
pub(crate) async fn associate_default(
    State(org): State<Arc<Org>>,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
) -> Response {
    org.with_state(|s| {
        let Some(type_id) = association_type(&from, &to) else { return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", format!("No default association between {from} and {to}"), Map::new()) };
        if !exists(s, &from, &id) { return not_found(&from, &id) }
        if !exists(s, &to, &to_id) { return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", format!("One or more associations are invalid: {} {to_id} does not exist", to.trim_end_matches('s')), Map::new()) }
        let link = (to.clone(), to_id.clone(), type_id);
        add_inverse(s, &to, &to_id, &[(from.clone(), id.clone(), 0)]);
        if let Some(stored) = id.parse::<u64>().ok().and_then(|n| s.records.get_mut(&from).and_then(|r| r.get_mut(&n))) && !stored.record.associations.contains(&link) { stored.record.associations.push(link); }
        Json(json!({"status": "COMPLETE", "results": [{"from": {"id": id}, "to": {"id": to_id}, "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}}], "startedAt": now_iso(), "completedAt": now_iso()})).into_response()
    })
}
