//! The simulator's own admin surface under `/__sim/`, for seeding and inspection.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Org;
use crate::LoggedRequest;

/// `GET /__sim/requests`: every API request served, oldest first.
pub(crate) async fn requests(State(org): State<Arc<Org>>) -> Json<Vec<LoggedRequest>> {
    Json(org.requests())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewUser {
    email: String,
    first_name: String,
    last_name: String,
}

/// `POST /__sim/users` `{email, firstName, lastName}`: adds a user, answers `{"id"}`.
pub(crate) async fn add_user(
    State(org): State<Arc<Org>>,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    match serde_json::from_slice::<NewUser>(&body) {
        Ok(user) => {
            let id = org.add_user(&user.email, &user.first_name, &user.last_name);
            (StatusCode::CREATED, Json(json!({ "id": id })))
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": error.to_string() })),
        ),
    }
}
