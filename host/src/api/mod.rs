//! The HTTP API under `/v1`: agents send writes, operators and CS connect
//! customers, upload plugins and read the audit.

mod problem;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;

pub use problem::Problem;

use crate::pipeline::Pipeline;

/// The most records one write request may carry.
pub const MAX_BATCH: usize = 1000;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The write path.
    pub pipeline: Arc<Pipeline>,
    /// The bearer key callers must present, when set.
    pub api_key: Option<Arc<str>>,
}

/// The host's HTTP router.
pub fn router(state: AppState) -> Router {
    let v1 = routes::v1().layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest("/v1", v1)
        .with_state(state)
}

/// Refuses requests without the configured bearer key.
async fn authorize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let Some(expected) = &state.api_key else {
        return Ok(next.run(request).await);
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(key) if constant_time_eq(key.as_bytes(), expected.as_bytes()) => {
            Ok(next.run(request).await)
        }
        _ => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the API key as `Authorization: Bearer KEY`",
        )),
    }
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
