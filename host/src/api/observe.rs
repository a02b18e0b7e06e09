//! What every request carries for operators: a request id, taken from the
//! caller's `x-request-id` or made here, returned in the answer's header and
//! in any problem; and a `request` span holding that id, the method, the
//! path and the customer, in which every log line of the request is written.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::{Level, Span, field};

use crate::config::CustomerConfig;

/// The header a request id travels in, both ways.
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a caller; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;

tokio::task_local! {
    /// The id of the request being answered, for problems built deep in a
    /// handler that has no access to the request.
    static CURRENT: HeaderValue;
}

/// Wraps `router` in the request id and trace layers, outermost last.
pub(super) fn layer(router: Router) -> Router {
    router
        .layer(middleware::from_fn(scope_request_id))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn(drop_unusable_request_id))
}

/// The id of the request being answered, when there is one.
pub(super) fn current_request_id() -> Option<String> {
    CURRENT
        .try_with(|id| id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

/// Records the customer and its plugin (`name@version`) on the request's
/// span, once the handler has its config, and gives back the plugin.
pub(super) fn record_customer(config: &CustomerConfig) -> Option<String> {
    let plugin = config
        .plugin
        .as_ref()
        .map(|p| format!("{}@{}", p.name, p.version));
    let span = Span::current();
    span.record("customer", config.customer.as_str());
    if let Some(plugin) = &plugin {
        span.record("plugin", plugin.as_str());
    }
    plugin
}

/// The `request` span. `customer` is read from the path when the route names
/// one, so that even a refused request is logged with it.
fn request_span(request: &Request<Body>) -> Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = request.uri().path();
    tracing::info_span!(
        "request",
        request_id = id,
        method = %request.method(),
        path,
        customer = customer_in_path(path),
        plugin = field::Empty,
    )
}

/// The `{customer}` of `/v1/customers/{customer}/…` and
/// `/customers/{customer}/…`.
fn customer_in_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1").unwrap_or(path);
    let rest = rest.strip_prefix("/customers/")?;
    rest.split('/').next().filter(|c| !c.is_empty())
}

/// Makes the request id available to [`current_request_id`].
async fn scope_request_id(request: Request, next: Next) -> Response {
    match request.headers().get(&REQUEST_ID).cloned() {
        Some(id) => CURRENT.scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}

/// Drops a caller's request id that is too long or not printable ASCII, so
/// that a fresh one is made: ids end up in logs and headers verbatim.
async fn drop_unusable_request_id(mut request: Request, next: Next) -> Response {
    let usable = request.headers().get(&REQUEST_ID).is_none_or(|id| {
        let bytes = id.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes.iter().all(|b| b.is_ascii_graphic())
    });
    if !usable {
        tracing::debug!("replacing an unusable x-request-id");
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::customer_in_path;

    #[test]
    fn the_customer_is_read_from_api_and_page_paths() {
        assert_eq!(customer_in_path("/v1/customers/acme/writes"), Some("acme"));
        assert_eq!(customer_in_path("/customers/acme/dashboard"), Some("acme"));
        assert_eq!(customer_in_path("/v1/plugins/p/1.0.0"), None);
        assert_eq!(customer_in_path("/v1/customers/"), None);
        assert_eq!(customer_in_path("/healthz"), None);
    }
}
