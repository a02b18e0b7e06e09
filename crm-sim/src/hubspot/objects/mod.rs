//! CRM v3 objects: storage, rendering and the single-record handlers (create, read, update,
//! archive). Validation, associations, batch and search live in the submodules.

// Lint levels carry into the submodules, so this covers them too.
#![allow(
    clippy::result_large_err,
    reason = "handlers return the ready error `Response`; boxing it buys nothing in a simulator"
)]

mod associations;
mod batch;
mod labels;
mod search;
mod validate;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::oauth::Caller;
use super::{HubspotRecord, Org, PortalState, Stored, engagements, error, lookup};
use associations::{add_inverse, inline_associations};
pub(super) use associations::{
    associate_default, associate_labeled, batch_associate, list_associations,
};
pub(super) use batch::{batch_create, batch_read, batch_update, batch_upsert};
pub use labels::AssociationLabel;
pub(super) use labels::list_labels;
pub(super) use search::search;
use validate::{require_on_create, validate};

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

/// Stores a new record without checks; returns its id. A call made with a token records its
/// user as creator and last updater, as HubSpot does.
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
    properties.insert(created_property(s, object_type).into(), json!(now));
    properties.insert("hs_lastmodifieddate".into(), json!(now));
    if let Some(user) = s.actor {
        properties.insert("hs_created_by_user_id".into(), json!(user.to_string()));
        properties.insert("hs_updated_by_user_id".into(), json!(user.to_string()));
    }
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
    mut properties: Map<String, Value>,
) {
    let Ok(id) = id.parse::<u64>() else { return };
    let before = s.records.get(object_type).and_then(|r| r.get(&id));
    if let Some(before) = before {
        drop_moves_back(s, object_type, &before.record.properties, &mut properties);
    }
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
        let record = &mut stored.record.properties;
        record.insert("hs_lastmodifieddate".into(), json!(now));
        if let Some(user) = s.actor {
            record.insert("hs_updated_by_user_id".into(), json!(user.to_string()));
        }
        stored.updated_at = now;
    }
}

/// HubSpot's lifecycle stage only moves forward through its options: a
/// move back is dropped without an error, and the rest of the update
/// applies. Clearing it first (`""`) is how a move back is made.
fn drop_moves_back(
    s: &PortalState,
    object_type: &str,
    before: &Map<String, Value>,
    properties: &mut Map<String, Value>,
) {
    const FORWARD_ONLY: &str = "lifecyclestage";
    let Some(prop) = s
        .properties
        .get(object_type)
        .and_then(|props| props.iter().find(|p| p.name == FORWARD_ONLY))
    else {
        return;
    };
    let position = |value: Option<&Value>| {
        let text = value.and_then(Value::as_str)?;
        prop.options.iter().position(|o| o == text)
    };
    let (Some(from), Some(to)) = (
        position(before.get(FORWARD_ONLY)),
        position(properties.get(FORWARD_ONLY)),
    ) else {
        return;
    };
    if to < from {
        properties.remove(FORWARD_ONLY);
    }
}

/// The property holding a record's creation time: `hs_createdate` on engagements and custom
/// objects.
fn created_property(s: &PortalState, object_type: &str) -> &'static str {
    if engagements::is_engagement(object_type) || s.custom_types.iter().any(|t| t == object_type) {
        "hs_createdate"
    } else {
        "createdate"
    }
}

/// A record as v3 returns it; `wanted` limits the properties to those named plus the defaults.
fn render(stored: &Stored, wanted: Option<&[String]>) -> Value {
    let created = match stored.record.properties.contains_key("hs_createdate") {
        true => "hs_createdate",
        false => "createdate",
    };
    let defaults = ["hs_object_id", created, "hs_lastmodifieddate"];
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
    json!({
        "id": stored.record.id,
        "properties": properties,
        "createdAt": stored.created_at,
        "updatedAt": stored.updated_at,
        "archived": false
    })
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
    require_on_create(s, object_type, &props)?;
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

/// The `properties` a batch read or search body asks for, if it names any.
fn requested_properties(input: &Value) -> Option<Vec<String>> {
    input.get("properties").and_then(Value::as_array).map(|p| {
        p.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

fn list_param(q: &Params, key: &str) -> Option<Vec<String>> {
    let values: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    q.0.iter().any(|(k, _)| k == key).then_some(values)
}

/// A query string's pairs, repeated keys kept: the clients send `properties=a&properties=b`
/// as often as `properties=a,b`.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        Self(
            pairs
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    fn get(&self, key: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Record `id` of `object_type` as the API shows it, with the `wanted`
/// properties; null when there is no such record.
fn rendered(s: &PortalState, object_type: &str, id: u64, wanted: Option<&[String]>) -> Value {
    let stored = s.records.get(object_type).and_then(|r| r.get(&id));
    stored.map(|st| render(st, wanted)).unwrap_or(Value::Null)
}

/// `POST /crm/v3/objects/{type}` → 201.
pub(crate) async fn create(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    org.with_caller(caller, |s| match create_one(s, &object_type, &input) {
        Ok(id) => {
            let created = rendered(s, &object_type, id.parse().unwrap_or(0), None);
            (StatusCode::CREATED, Json(created)).into_response()
        }
        Err(r) => r,
    })
}

/// `GET /crm/v3/objects/{type}?limit=..&after=..&properties=..[&archived=true]`: a page of
/// records, oldest first, `paging.next.after` while more remain (`limit` 10 by default, at
/// most 100). With `archived=true`, the archived records instead, each with `archived: true`
/// and `archivedAt`.
pub(crate) async fn list(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Params::parse(q.as_deref());
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let after = q.get("after").and_then(|a| a.parse::<u64>().ok());
    let wanted = list_param(&q, "properties");
    if q.get("archived").is_some_and(|a| a == "true") {
        return org.with_state(|s| list_archived(s, &object_type, after, limit, wanted));
    }
    org.with_state(|s| {
        if !s.properties.contains_key(&object_type) {
            return unknown_type(&object_type);
        }
        let records = s.records.get(&object_type);
        let mut page: Vec<&Stored> = records
            .map(|r| {
                let from = after.map_or(0, |a| a + 1);
                r.range(from..).map(|(_, st)| st).take(limit + 1).collect()
            })
            .unwrap_or_default();
        let more = page.len() > limit;
        page.truncate(limit);
        let results: Vec<Value> = page
            .iter()
            .map(|st| render(st, wanted.as_deref()))
            .collect();
        let mut body = json!({ "results": results });
        if let (true, Some(last)) = (more, page.last()) {
            let after = last.record.id.clone();
            let link = format!("/crm/v3/objects/{object_type}?after={after}");
            body["paging"] = json!({"next": {"after": after, "link": link}});
        }
        Json(body).into_response()
    })
}

/// A page of the archived records of `object_type`, by id.
fn list_archived(
    s: &PortalState,
    object_type: &str,
    after: Option<u64>,
    limit: usize,
    wanted: Option<Vec<String>>,
) -> Response {
    if !s.properties.contains_key(object_type) {
        return unknown_type(object_type);
    }
    let from = after.map_or(0, |a| a + 1);
    let mut page: Vec<&(Stored, String)> = s
        .archived
        .get(object_type)
        .map(|r| r.range(from..).map(|(_, a)| a).take(limit + 1).collect())
        .unwrap_or_default();
    let more = page.len() > limit;
    page.truncate(limit);
    let results: Vec<Value> = page
        .iter()
        .map(|(stored, archived_at)| {
            let mut record = render(stored, wanted.as_deref());
            record["archived"] = json!(true);
            record["archivedAt"] = json!(archived_at);
            record
        })
        .collect();
    let mut body = json!({ "results": results });
    if let (true, Some((last, _))) = (more, page.last()) {
        let after = last.record.id.clone();
        let link = format!("/crm/v3/objects/{object_type}?archived=true&after={after}");
        body["paging"] = json!({"next": {"after": after, "link": link}});
    }
    Json(body).into_response()
}

/// The 400 for an object type the portal does not have.
fn unknown_type(object_type: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        format!("Unable to infer object type from: {object_type}"),
        Map::new(),
    )
}

/// `GET /crm/v3/objects/{type}/{id}?properties=a,b[&idProperty=x]`.
pub(crate) async fn get(
    State(org): State<Arc<Org>>,
    Path((object_type, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Params::parse(q.as_deref());
    org.with_state(|s| {
        let Some(found) = find_id(
            s,
            &object_type,
            &id,
            q.get("idProperty").map(String::as_str),
        ) else {
            return not_found(&object_type, &id);
        };
        let wanted = list_param(&q, "properties");
        Json(rendered(s, &object_type, found, wanted.as_deref())).into_response()
    })
}

/// `PATCH /crm/v3/objects/{type}/{id}[?idProperty=x]` → 200.
pub(crate) async fn update(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path((object_type, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let q = Params::parse(q.as_deref());
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    org.with_caller(caller, |s| {
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
        Json(rendered(s, &object_type, found, None)).into_response()
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
            let archived = s.archived.entry(object_type.clone()).or_default();
            archived.insert(id, (stored, now_iso()));
        }
    });
    StatusCode::NO_CONTENT
}
