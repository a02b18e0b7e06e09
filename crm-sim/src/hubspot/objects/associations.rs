//! Associations between objects: the HubSpot-defined type ids (engagements included), inline
//! associations on create (kept on both ends), undoing a refused batch's links, and the v4
//! association endpoints: list, default and labeled links, and batch create.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{labels, not_found, now_iso, parse_body};
use crate::hubspot::{OBJECT_TYPES, Org, PortalState, error, lookup};

/// The HubSpot-defined association type ids from each engagement to contacts, companies and
/// deals; the way back is one less (`call_to_contact` 194, `contact_to_call` 193).
const ENGAGEMENT_TYPES: [(&str, [u32; 3]); 5] = [
    ("calls", [194, 182, 206]),
    ("emails", [198, 186, 210]),
    ("meetings", [200, 188, 212]),
    ("notes", [202, 190, 214]),
    ("tasks", [204, 192, 216]),
];

/// The CRM records engagements are associated with, in `ENGAGEMENT_TYPES` order.
const ENGAGED: [&str; 3] = ["contacts", "companies", "deals"];

/// The HubSpot-defined (default) association type id from `from` to `to`, if they can be
/// associated.
pub(super) fn association_type(from: &str, to: &str) -> Option<u32> {
    let engagement = |kind: &str, other: &str| {
        let ids = ENGAGEMENT_TYPES.iter().find(|(k, _)| *k == kind)?.1;
        let at = ENGAGED.iter().position(|o| *o == other)?;
        ids.get(at).copied()
    };
    Some(match (from, to) {
        ("deals", "companies") => 5,
        ("deals", "contacts") => 3,
        ("contacts", "companies") => 279,
        ("companies", "contacts") => 280,
        ("companies", "deals") => 6,
        ("contacts", "deals") => 4,
        _ => match engagement(from, to) {
            Some(id) => id,
            None => engagement(to, from)? - 1,
        },
    })
}

/// HubSpot's object type id, e.g. `0-1` for contacts, as the v4 answers name types.
pub(super) fn object_type_id(object_type: &str) -> &'static str {
    match object_type {
        "contacts" => "0-1",
        "companies" => "0-2",
        "deals" => "0-3",
        "tasks" => "0-27",
        "notes" => "0-46",
        "meetings" => "0-47",
        "calls" => "0-48",
        "emails" => "0-49",
        _ => "0-0",
    }
}

/// Whether `object_type` has a live record `id`.
fn exists(s: &PortalState, object_type: &str, id: &str) -> bool {
    id.parse::<u64>().ok().is_some_and(|id| {
        s.records
            .get(object_type)
            .is_some_and(|r| r.contains_key(&id))
    })
}

/// Resolves inline associations: `{"to":{"id"},"types":[{...,"associationTypeId"}]}`.
pub(super) fn inline_associations(
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
            let to_type = OBJECT_TYPES
                .iter()
                .find(|to| labels::allowed(s, from, to, type_id));
            let Some(to_type) = to_type else {
                return Err(invalid(format!(
                    "{type_id} is not a valid association type id between {from} \
                     and any object type"
                )));
            };
            if !exists(s, to_type, &to_id) {
                return Err(missing_target(to_type, &to_id));
            }
            out.push((to_type.to_string(), to_id.clone(), type_id));
        }
    }
    Ok(out)
}

/// Adds to each linked record the link back to `from` `from_id`, as HubSpot keeps both ends.
pub(super) fn add_inverse(
    s: &mut PortalState,
    from: &str,
    from_id: &str,
    links: &[(String, String, u32)],
) {
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
pub(super) fn undo_creates(s: &mut PortalState, object_type: &str, ids: &[u64]) {
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

/// A 400 `VALIDATION_ERROR` with `message`.
fn invalid(message: String) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        message,
        Map::new(),
    )
}

/// The 400 for an association to a record that does not exist.
fn missing_target(to_type: &str, to_id: &str) -> Response {
    invalid(format!(
        "One or more associations are invalid: {} {to_id} does not exist",
        to_type.trim_end_matches('s')
    ))
}

/// `GET /crm/v4/objects/{from}/{id}/associations/{to}`.
pub(crate) async fn list_associations(
    State(org): State<Arc<Org>>,
    Path((from, id, to)): Path<(String, String, String)>,
) -> Response {
    org.with_state(|s| {
        let stored = id
            .parse::<u64>()
            .ok()
            .and_then(|n| s.records.get(&from).and_then(|r| r.get(&n)));
        let Some(stored) = stored else {
            return not_found(&from, &id);
        };
        // One entry per linked record, with every type that links them.
        let mut linked: Vec<(&str, Vec<Value>)> = Vec::new();
        for (_, to_id, type_id) in stored
            .record
            .associations
            .iter()
            .filter(|(t, _, _)| *t == to)
        {
            let spec = labels::spec(s, &from, &to, *type_id);
            match linked.iter_mut().find(|(id, _)| id == to_id) {
                Some((_, types)) => types.push(spec),
                None => linked.push((to_id, vec![spec])),
            }
        }
        let results: Vec<Value> = linked
            .into_iter()
            .map(|(to_id, types)| {
                json!({
                    "toObjectId": to_id.parse::<u64>().unwrap_or(0),
                    "associationTypes": types,
                })
            })
            .collect();
        Json(json!({"results": results})).into_response()
    })
}

/// Links `from` `id` to `to` `to_id` with `type_id`, and the way back with the matching
/// type, as HubSpot keeps both ends.
fn associate(s: &mut PortalState, from: &str, id: &str, to: &str, to_id: &str, type_id: u32) {
    let mut push = |object: &str, key: &str, link: (String, String, u32)| {
        let stored = key
            .parse::<u64>()
            .ok()
            .and_then(|n| s.records.get_mut(object)?.get_mut(&n));
        if let Some(stored) = stored
            && !stored.record.associations.contains(&link)
        {
            stored.record.associations.push(link);
        }
    };
    push(from, id, (to.to_owned(), to_id.to_owned(), type_id));
    if let Some(back) = association_type(to, from) {
        push(to, to_id, (from.to_owned(), id.to_owned(), back));
    }
}

/// Why a link between two records cannot be made, as HubSpot answers it.
fn refuse_link(
    s: &PortalState,
    from: &str,
    id: &str,
    to: &str,
    to_id: &str,
    type_id: u32,
) -> Option<Response> {
    if !labels::allowed(s, from, to, type_id) {
        return Some(invalid(format!(
            "{type_id} is not a valid association type id between {from} and {to}"
        )));
    }
    if !exists(s, from, id) {
        return Some(not_found(from, id));
    }
    (!exists(s, to, to_id)).then(|| missing_target(to, to_id))
}

/// A v4 `LabelsBetweenObjectPair` for the links just made with `type_ids`: the labels of the
/// portal's own types among them.
fn labels_between(
    s: &PortalState,
    (from, id): (&str, &str),
    (to, to_id): (&str, &str),
    type_ids: &[u32],
) -> Value {
    let number = |id: &str| id.parse::<u64>().unwrap_or(0);
    let labels: Vec<Value> = type_ids
        .iter()
        .map(|t| labels::spec(s, from, to, *t)["label"].clone())
        .filter(|l| !l.is_null())
        .collect();
    json!({
        "fromObjectTypeId": object_type_id(from), "fromObjectId": number(id),
        "toObjectTypeId": object_type_id(to), "toObjectId": number(to_id), "labels": labels,
    })
}

/// The `associationTypeId`s of a v4 list of association specs.
fn type_ids(specs: &Value) -> Vec<u32> {
    let specs = specs.as_array().cloned().unwrap_or_default();
    let id = |t: &Value| t.get("associationTypeId").and_then(Value::as_u64);
    specs.iter().filter_map(id).map(|n| n as u32).collect()
}

/// `PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId}` with a body listing the
/// association types → 201 `LabelsBetweenObjectPair`.
pub(crate) async fn associate_labeled(
    State(org): State<Arc<Org>>,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    let specs = match parse_body(&body) {
        Ok(specs) => specs,
        Err(r) => return r,
    };
    let ids = type_ids(&specs);
    if ids.is_empty() {
        return invalid("At least one association type is required".to_owned());
    }
    org.with_state(|s| {
        for &type_id in &ids {
            if let Some(refused) = refuse_link(s, &from, &id, &to, &to_id, type_id) {
                return refused;
            }
        }
        for &type_id in &ids {
            associate(s, &from, &id, &to, &to_id, type_id);
        }
        let pair = labels_between(s, (&from, &id), (&to, &to_id), &ids);
        (StatusCode::CREATED, Json(pair)).into_response()
    })
}

/// `POST /crm/v4/associations/{from}/{to}/batch/create` `{inputs: [{from, to, types}]}` →
/// 201, or 207 with an error per input that could not be linked (the others are).
pub(crate) async fn batch_associate(
    State(org): State<Arc<Org>>,
    Path((from, to)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let started = now_iso();
    let input = match parse_body(&body) {
        Ok(input) => input,
        Err(r) => return r,
    };
    let inputs = input["inputs"].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    org.with_state(|s| {
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for one in &inputs {
            let (id, to_id) = (text(&one["from"]["id"]), text(&one["to"]["id"]));
            let ids = type_ids(&one["types"]);
            let refused = ids
                .iter()
                .find_map(|&t| refuse_link(s, &from, &id, &to, &to_id, t).map(|_| t));
            match (refused, ids.is_empty()) {
                (None, false) => {
                    for &type_id in &ids {
                        associate(s, &from, &id, &to, &to_id, type_id);
                    }
                    results.push(labels_between(s, (&from, &id), (&to, &to_id), &ids));
                }
                (refused, _) => errors.push(json!({
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": link_refusal(s, &from, &id, &to, &to_id, refused),
                    "context": {"fromObjectId": [id], "toObjectId": [to_id]},
                })),
            }
        }
        let mut body = json!({
            "status": "COMPLETE", "results": results,
            "startedAt": started, "completedAt": now_iso(),
        });
        if errors.is_empty() {
            return (StatusCode::CREATED, Json(body)).into_response();
        }
        body["numErrors"] = json!(errors.len());
        body["errors"] = Value::Array(errors);
        (StatusCode::MULTI_STATUS, Json(body)).into_response()
    })
}

/// The message for an input of a batch of links that was refused for `type_id`.
fn link_refusal(
    s: &PortalState,
    from: &str,
    id: &str,
    to: &str,
    to_id: &str,
    type_id: Option<u32>,
) -> String {
    let Some(type_id) = type_id else {
        return "At least one association type is required".to_owned();
    };
    if !labels::allowed(s, from, to, type_id) {
        return format!("{type_id} is not a valid association type id between {from} and {to}");
    }
    let (object, key) = if exists(s, from, id) {
        (to, to_id)
    } else {
        (from, id)
    };
    format!(
        "One or more associations are invalid: {} {key} does not exist",
        object.trim_end_matches('s')
    )
}

/// `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}`.
pub(crate) async fn associate_default(
    State(org): State<Arc<Org>>,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
) -> Response {
    org.with_state(|s| {
        let Some(type_id) = association_type(&from, &to) else {
            return invalid(format!("No default association between {from} and {to}"));
        };
        if let Some(refused) = refuse_link(s, &from, &id, &to, &to_id, type_id) {
            return refused;
        }
        associate(s, &from, &id, &to, &to_id, type_id);
        let result = json!({
            "from": {"id": id},
            "to": {"id": to_id},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": type_id
            }
        });
        Json(json!({
            "status": "COMPLETE",
            "results": [result],
            "startedAt": now_iso(),
            "completedAt": now_iso()
        }))
        .into_response()
    })
}
