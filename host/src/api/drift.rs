//! Schema drift over HTTP: check a customer's schema now, and read what the
//! last check found.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::input::ApiPath;
use super::problem::Wire;
use super::routes::{CustomerPath, internal, record_problem};
use super::{AppState, Problem, docs};
use crate::drift::{self, CheckError};
use crate::schedule::RunError;

/// The drift routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh_schema))
        .routes(routes!(report))
}

/// `POST /v1/customers/{customer}/schema/refresh`: discover the schema
/// again now, check the config against it and record the drift found.
/// Runs under the scheduled check's lease, so never beside it.
#[utoipa::path(
    post,
    path = "/customers/{customer}/schema/refresh",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 200, description = "The objects described and the drift found",
            body = docs::SchemaRefreshed),
        (status = 404, description = "No such customer", body = Wire),
        (status = 409, description = "The customer cannot be described yet, or a check \
            is running", body = Wire),
        (status = 502, description = "The CRM could not be reached", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn refresh_schema(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let store = state.pipeline.store();

    let lease = super::schedule::take_lease(
        store,
        drift::TASK,
        &customer,
        "check_running",
        format!("the schema of `{customer}` is being checked now; try again shortly"),
    )
    .await?;

    let check = async { Ok(drift::check(&state.pipeline, &config).await?) };
    let checked = lease.run(check, None).await.map_err(|e| match e {
        RunError::Failed(e) => match e.downcast::<CheckError>() {
            Ok(CheckError::Crm(e)) => record_problem(e),
            Ok(CheckError::Store(e)) | Err(e) => internal(e),
        },
        RunError::LostLease => internal(anyhow::anyhow!("the schema check lost its lease")),
    })?;
    Ok(Json(json!({
        "objects": checked.schema.objects.keys().collect::<Vec<_>>(),
        "read_at": checked.read_at,
        "problems": checked.problems,
        "drift": checked.report,
    })))
}

/// `GET /v1/customers/{customer}/schema/drift`: what the last schema check
/// found that the CRM no longer allows, each finding with when it was
/// first seen; empty once fixed.
#[utoipa::path(
    get,
    path = "/customers/{customer}/schema/drift",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 200, description = "The last check's findings", body = crate::store::DriftReport),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn report(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let report = state
        .pipeline
        .store()
        .drift(&customer)
        .await
        .map_err(internal)?;
    Ok(Json(report))
}
