//! The simulator's own admin surface under `/__sim/`, for seeding and inspection.
//!
//! Bodies are JSON; a body that does not parse answers 400 `{"error"}`, anything else 204
//! unless it says otherwise.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{FieldChange, FieldSecurity, Org, Territory};
use crate::Faults;
use crate::LoggedRequest;

/// Every `/__sim/` route.
pub(crate) fn routes() -> Router<Arc<Org>> {
    Router::new()
        .route("/__sim/requests", get(requests))
        .route("/__sim/users", post(add_user))
        .route("/__sim/rotation", put(set_rotation))
        .route("/__sim/jwt-keys", post(register_jwt_key))
        .route("/__sim/preauthorized", post(preauthorize))
        .route("/__sim/territory", put(set_territory))
        .route("/__sim/lead-assignment", put(set_lead_assignment))
        .route("/__sim/api-usage", put(set_api_usage))
        .route("/__sim/faults", put(set_faults).get(faults))
        .route("/__sim/field-security", put(set_field_security))
        .route("/__sim/fields/{object}/{field}", delete(delete_field))
        .route(
            "/__sim/fields/{object}/{field}/undelete",
            post(undelete_field),
        )
}

type Answer = (StatusCode, Json<Value>);

fn bad_request(error: impl std::fmt::Display) -> Answer {
    let body = json!({ "error": error.to_string() });
    (StatusCode::BAD_REQUEST, Json(body))
}

fn done() -> Answer {
    (StatusCode::NO_CONTENT, Json(Value::Null))
}

/// Parses `body` and runs `apply` with it.
fn with_body<T: DeserializeOwned>(body: &[u8], apply: impl FnOnce(T) -> Answer) -> Answer {
    match serde_json::from_slice::<T>(body) {
        Ok(parsed) => apply(parsed),
        Err(error) => bad_request(error),
    }
}

/// `GET /__sim/requests`: every API request served, oldest first.
async fn requests(State(org): State<Arc<Org>>) -> Json<Vec<LoggedRequest>> {
    Json(org.requests())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewUser {
    email: String,
    first_name: String,
    last_name: String,
}

/// `POST /__sim/users` `{email, firstName, lastName}`: adds a user, answers 201 `{"id"}`.
async fn add_user(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |user: NewUser| {
        let id = org.add_user(&user.email, &user.first_name, &user.last_name);
        (StatusCode::CREATED, Json(json!({ "id": id })))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    enabled: bool,
}

/// `PUT /__sim/rotation` `{"enabled": bool}`: turns refresh token rotation on or off.
async fn set_rotation(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |r: Rotation| {
        org.set_rotation(r.enabled);
        done()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewJwtKey {
    client_id: String,
    public_key: String,
}

/// `POST /__sim/jwt-keys` `{clientId, publicKey}`: registers a client's JWT public key (PEM).
async fn register_jwt_key(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |k: NewJwtKey| {
        match org.register_jwt_key(&k.client_id, &k.public_key) {
            Ok(()) => done(),
            Err(error) => bad_request(error),
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewPreauthorization {
    client_id: String,
    username: String,
}

/// `POST /__sim/preauthorized` `{clientId, username}`: pre-authorizes a user for JWT bearer.
async fn preauthorize(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |p: NewPreauthorization| {
        org.preauthorize(&p.client_id, &p.username);
        done()
    })
}

/// `PUT /__sim/territory` `{objects, members, reroute_to}` or `null`: sets or clears the rule.
async fn set_territory(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |t: Option<Territory>| {
        org.set_territory(t);
        done()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadAssignment {
    owner: Option<String>,
}

/// `PUT /__sim/lead-assignment` `{"owner": user id or username | null}`.
async fn set_lead_assignment(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |a: LeadAssignment| {
        org.set_lead_assignment(a.owner.as_deref());
        done()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiUsage {
    max: u64,
    #[serde(default)]
    used: Option<u64>,
}

/// `PUT /__sim/api-usage` `{"max", "used"?}`: sets the daily API allocation and its use.
async fn set_api_usage(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |u: ApiUsage| {
        org.set_api_usage(u.max, u.used);
        done()
    })
}

/// `PUT /__sim/faults` (the profile's `faults` shape): replaces the fault plan.
async fn set_faults(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |faults: Faults| {
        org.set_faults(faults);
        done()
    })
}

/// `GET /__sim/faults`: the fault plan as it stands.
async fn faults(State(org): State<Arc<Org>>) -> Json<Faults> {
    Json(org.faults())
}

/// `PUT /__sim/field-security` (the profile's `field_security` shape): replaces the field-level
/// security rules, as an admin editing profiles would.
async fn set_field_security(State(org): State<Arc<Org>>, body: Bytes) -> Answer {
    with_body(&body, |rules: Vec<FieldSecurity>| {
        org.set_field_security(rules);
        done()
    })
}

/// `DELETE /__sim/fields/{object}/{field}`: deletes a custom field, as an admin would in Setup.
async fn delete_field(
    State(org): State<Arc<Org>>,
    Path((object, field)): Path<(String, String)>,
) -> Answer {
    field_changed(org.delete_field(&object, &field), &object, &field)
}

/// `POST /__sim/fields/{object}/{field}/undelete`: brings a deleted custom field back.
async fn undelete_field(
    State(org): State<Arc<Org>>,
    Path((object, field)): Path<(String, String)>,
) -> Answer {
    field_changed(org.undelete_field(&object, &field), &object, &field)
}

fn field_changed(changed: Result<(), FieldChange>, object: &str, field: &str) -> Answer {
    match changed {
        Ok(()) => done(),
        Err(FieldChange::NoSuchField) => {
            let body = json!({ "error": format!("`{object}` has no such field `{field}`") });
            (StatusCode::NOT_FOUND, Json(body))
        }
        Err(FieldChange::Standard) => bad_request(format!(
            "`{object}.{field}` is a standard field; only custom fields (`__c`) can be deleted"
        )),
    }
}
