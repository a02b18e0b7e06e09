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
