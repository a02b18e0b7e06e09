//! The HTTP API under `/v1`: agents send writes, operators and CS connect
//! customers, upload plugins and read the audit and the dashboard. Beside
//! it: the dashboard page, health, readiness, metrics and the OpenAPI
//! document.
//!
//! Every route is registered with its `#[utoipa::path]` through one
//! [`OpenApiRouter`], so the served document and the routes cannot differ.

mod dashboard;
mod docs;
mod drift;
mod health;
mod input;
mod intake;
mod keys;
mod observe;
mod plugins;
mod problem;
mod reads;
mod reps;
mod requests;
mod routes;
mod schedule;

use std::sync::Arc;

use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use dashboard::Dashboard;
pub use problem::Problem;

use crate::pipeline::Pipeline;
use crate::telemetry::metrics;

/// The most records one write request may carry: the host answers them in
/// the same request. More go to a job.
pub const MAX_BATCH: usize = 1000;

/// The most records one job may carry.
pub const MAX_JOB: usize = 100_000;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The write path.
    pub pipeline: Arc<Pipeline>,
    /// The host's own admin key (`CONDUIT_API_KEY`), when set. Keys with
    /// roles are kept in the store; with neither, the host is open.
    pub api_key: Option<Arc<str>>,
}

impl AppState {
    /// A known customer's config, or the 404 that names the unknown one.
    pub(crate) fn customer_config(
        &self,
        customer: &str,
    ) -> Result<Arc<crate::config::CustomerConfig>, Problem> {
        self.pipeline
            .config(customer)
            .ok_or_else(|| routes::unknown_customer(customer))
    }
}

/// The host's HTTP router.
pub fn router(state: AppState) -> Router {
    // Counts made before the first scrape must not be lost.
    metrics::install();

    let (router, document) = api(state.clone()).split_for_parts();
    let document = serde_json::to_vec(&document).unwrap_or_default();
    let router = router
        .fallback(not_found)
        // After every route: it applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(health::OpenApiJson(document.into())))
        .with_state(state);
    observe::layer(router)
}

/// Every route with its OpenAPI operation; `/v1` behind the API key.
fn api(state: AppState) -> OpenApiRouter<AppState> {
    let v1 = routes::v1()
        .merge(intake::routes())
        .merge(keys::routes())
        .merge(plugins::routes())
        .merge(reads::routes())
        .merge(schedule::routes())
        .merge(drift::routes())
        .layer(middleware::from_fn_with_state(state, keys::authorize));
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::prometheus))
        .routes(routes!(health::openapi))
        .routes(routes!(dashboard::page))
        .routes(routes!(dashboard::script))
        .routes(routes!(dashboard::style))
        .routes(routes!(reps::callback))
        .nest("/v1", v1)
}

/// Unknown paths, answered with a problem like every other error.
async fn not_found(method: Method, uri: Uri) -> Problem {
    tracing::debug!(%method, path = uri.path(), "no such route");
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for `{method} {}`", uri.path()),
    )
}

/// Known paths called with a method they do not take; axum adds `Allow`.
async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    tracing::debug!(%method, path = uri.path(), "method not allowed");
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("`{}` does not take `{method}`", uri.path()),
    )
}

/// The token of a `Bearer` authorization, whatever the case of the scheme
/// (RFC 9110 makes auth schemes case-insensitive).
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim_start_matches(' '))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in ["Bearer KEY", "bearer KEY", "BEARER KEY", "bEaReR  KEY"] {
            assert_eq!(bearer_token(header), Some("KEY"), "{header}");
        }
    }

    #[test]
    fn other_schemes_carry_no_bearer_token() {
        for header in ["Basic KEY", "BearerKEY", "Bearer", "Token KEY"] {
            assert_eq!(bearer_token(header), None, "{header}");
        }
    }
}
