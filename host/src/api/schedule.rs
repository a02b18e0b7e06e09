//! What the scheduler does for a customer, for operators: each periodic
//! task's last run, its outcome and when it is next due.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::input::ApiPath;
use super::problem::Wire;
use super::routes::{CustomerPath, internal};
use super::{AppState, Problem, docs};
use crate::schedule::{DEFAULT_LEASE, Lease};
use crate::store::{Claim, Store};

/// The lease of scheduled task `task` for `customer`, taken now for a run
/// an operator or agent asked for, so that it never runs beside the
/// scheduled one or another replica's. Held elsewhere: 409 `code`, with
/// `busy` as its message, retryable.
pub(super) async fn take_lease(
    store: &Store,
    task: &str,
    customer: &str,
    code: &str,
    busy: String,
) -> Result<Lease, Problem> {
    let holder = format!("api:{}", hex::encode(rand::random::<[u8; 4]>()));
    let claim = Lease::claim(store, task, customer, &holder, DEFAULT_LEASE, Claim::Now);
    match claim.await.map_err(internal)? {
        Some(lease) => Ok(lease),
        None => {
            let mut problem = Problem::new(axum::http::StatusCode::CONFLICT, code, busy);
            problem.retryable = true;
            Err(problem)
        }
    }
}

/// The schedule routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(schedule))
}

/// `GET /v1/customers/{customer}/schedule`: every task scheduled for the
/// customer so far, by name.
#[utoipa::path(
    get,
    path = "/customers/{customer}/schedule",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 200, description = "The customer's periodic tasks", body = docs::Schedule),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn schedule(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let tasks = state
        .pipeline
        .store()
        .schedule(&customer, chrono::Utc::now())
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "tasks": tasks })))
}
