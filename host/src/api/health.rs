//! What operators and their tools call: liveness, readiness, Prometheus
//! metrics and the OpenAPI document. None needs the API key: a load
//! balancer or a scraper has none, and none of these shows customer data.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};

use super::AppState;
use super::docs::Readiness;
use crate::telemetry::metrics;

/// `GET /healthz`: the process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The host is live", body = String,
        content_type = "text/plain"))
)]
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the store answers and the configs are loaded, so writes
/// can be taken.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to take writes", body = Readiness),
        (status = 503, description = "Not ready; the failing check is named", body = Readiness),
    )
)]
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let customers = state.pipeline.customer_names().len();
    let (status, store) = match state.pipeline.store().ping().await {
        Ok(()) if customers > 0 => (StatusCode::OK, "ok".to_owned()),
        Ok(()) => (StatusCode::SERVICE_UNAVAILABLE, "ok".to_owned()),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), error.type = "store_unavailable",
                "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
        }
    };
    let body = Readiness {
        status: if status == StatusCode::OK {
            "ready"
        } else {
            "unavailable"
        },
        store,
        customers,
    };
    (status, Json(body))
}

/// `GET /metrics`: every metric in Prometheus's text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Prometheus text exposition format 0.0.4",
        body = String,
        content_type = "text/plain; version=0.0.4",
    ))
)]
pub(super) async fn prometheus() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(),
    )
}

/// `GET /openapi.json`: this API's OpenAPI document, built from the same
/// registrations as the routes.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(super) async fn openapi(Extension(document): Extension<OpenApiJson>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0)
}

/// The rendered document, handed to [`openapi`] once every route is
/// registered.
#[derive(Clone)]
pub(super) struct OpenApiJson(pub(super) Bytes);
