//! Associations between objects: the HubSpot-defined type ids, inline associations on create
//! (kept on both ends), undoing a refused batch's links, and the v4 association endpoints.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{not_found, now_iso};
use crate::hubspot::{OBJECT_TYPES, Org, PortalState, error, lookup};

/// The HubSpot-defined association type id from `from` to `to`, if they can be associated.
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
                .find(|to| association_type(from, to) == Some(type_id));
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
        let results: Vec<Value> = stored
            .record
            .associations
            .iter()
            .filter(|(t, _, _)| *t == to)
            .map(|(_, to_id, type_id)| {
                json!({
                    "toObjectId": to_id.parse::<u64>().unwrap_or(0),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}
                    ]
                })
            })
            .collect();
        Json(json!({"results": results})).into_response()
    })
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
        if !exists(s, &from, &id) {
            return not_found(&from, &id);
        }
        if !exists(s, &to, &to_id) {
            return missing_target(&to, &to_id);
        }
        let link = (to.clone(), to_id.clone(), type_id);
        add_inverse(s, &to, &to_id, &[(from.clone(), id.clone(), 0)]);
        let stored = id
            .parse::<u64>()
            .ok()
            .and_then(|n| s.records.get_mut(&from).and_then(|r| r.get_mut(&n)));
        if let Some(stored) = stored
            && !stored.record.associations.contains(&link)
        {
            stored.record.associations.push(link);
        }
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
