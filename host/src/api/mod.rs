//! The HTTP API under `/v1`: agents send writes, operators and CS connect
//! customers, upload plugins and read the audit.

mod input;
mod problem;
mod requests;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, Uri, header};
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
        .fallback(not_found)
        // After every route: it applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
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
        .and_then(bearer_token);
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
