//! Batch read, create, update and upsert. A create or update batch is all or nothing, as in HubSpot:
//! one bad input refuses the whole batch and leaves the portal as it was.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::associations::undo_creates;
use super::validate::validate;
use super::{
    create_one, find_id, not_found, now_iso, parse_body, properties_of, render, rendered,
    requested_properties, store_new, store_update,
};
use crate::hubspot::oauth::Caller;
use crate::hubspot::{Org, error, lookup};

/// What a batch read says about ids it could not find.
const NOT_FOUND_MESSAGE: &str = "Could not get some objects, they may be deleted or not exist. \
     Check that ids are valid.";

/// The body of a completed batch.
fn batch_body(results: Vec<Value>, started: String) -> Value {
    json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": now_iso()
    })
}

/// The `inputs` of a create or update batch; `Err` if there are more than HubSpot's 100.
/// A batch write's body and its `inputs`, or the error to answer.
fn batch_request(body: &[u8]) -> Result<(Value, Vec<Value>), Response> {
    let input = parse_body(body)?;
    let inputs = batch_inputs(&input)?;
    Ok((input, inputs))
}

fn batch_inputs(input: &Value) -> Result<Vec<Value>, Response> {
    let inputs = input
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.len() > 100 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch input must have at most 100 inputs",
            Map::new(),
        ));
    }
    Ok(inputs)
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
    let wanted = requested_properties(&input);
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
            let stored = find_id(s, &object_type, id, id_property)
                .and_then(|f| s.records.get(&object_type).and_then(|r| r.get(&f)));
            match stored {
                Some(stored) => results.push(render(stored, wanted.as_deref())),
                None => missing.push(id.clone()),
            }
        }
        let mut body = batch_body(results, started);
        if missing.is_empty() {
            return Json(body).into_response();
        }
        body["numErrors"] = json!(1);
        body["errors"] = json!([{
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": NOT_FOUND_MESSAGE,
            "context": {"ids": missing}
        }]);
        (StatusCode::MULTI_STATUS, Json(body)).into_response()
    })
}

/// `POST .../batch/create` → 201; any invalid input fails the whole batch.
pub(crate) async fn batch_create(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let (_, inputs) = match batch_request(&body) {
        Ok(parsed) => parsed,
        Err(r) => return r,
    };
    org.with_caller(caller, |s| {
        let next_id = s.next_id;
        let mut results = Vec::new();
        let mut created = Vec::new();
        for one in &inputs {
            match create_one(s, &object_type, one) {
                Ok(id) => {
                    let id: u64 = id.parse().unwrap_or(0);
                    created.push(id);
                    results.push(rendered(s, &object_type, id, None));
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
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let (input, inputs) = match batch_request(&body) {
        Ok(parsed) => parsed,
        Err(r) => return r,
    };
    org.with_caller(caller, |s| {
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
            results.push(rendered(s, &object_type, found, None));
        }
        Json(batch_body(results, started)).into_response()
    })
}

/// `POST .../batch/upsert` `{"inputs":[{"idProperty","id","properties"}]}` → 200: each input
/// updates the record whose unique `idProperty` holds `id`, or creates one holding it; the
/// answers say which with `new`. One invalid input refuses the whole batch.
pub(crate) async fn batch_upsert(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let (_, inputs) = match batch_request(&body) {
        Ok(parsed) => parsed,
        Err(r) => return r,
    };
    org.with_caller(caller, |s| {
        let mut planned = Vec::new();
        for one in &inputs {
            let key = one.get("id").and_then(Value::as_str).unwrap_or_default();
            let id_property = one.get("idProperty").and_then(Value::as_str);
            let Some(id_property) = id_property.filter(|p| lookup::is_unique(s, &object_type, p))
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    format!(
                        "Upsert needs an idProperty with unique values on {object_type}: {}",
                        id_property.unwrap_or("none given")
                    ),
                    Map::new(),
                );
            };
            let found = find_id(s, &object_type, key, Some(id_property));
            let mut props = properties_of(one);
            if found.is_none() {
                props.insert(id_property.to_owned(), json!(key));
            }
            match validate(
                s,
                &object_type,
                &props,
                found.map(|f| f.to_string()).as_deref(),
            ) {
                Ok(p) => planned.push((found, p)),
                Err(r) => return r,
            }
        }
        let mut results = Vec::new();
        for (found, props) in planned {
            let (id, new) = match found {
                Some(id) => {
                    store_update(s, &object_type, &id.to_string(), props);
                    (id, false)
                }
                None => {
                    let id = store_new(s, &object_type, props, Vec::new());
                    (id.parse().unwrap_or(0), true)
                }
            };
            let mut result = rendered(s, &object_type, id, None);
            result["new"] = json!(new);
            results.push(result);
        }
        Json(batch_body(results, started)).into_response()
    })
}
