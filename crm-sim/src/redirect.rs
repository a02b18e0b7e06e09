//! Sending the browser back to an OAuth client, shared by both simulators' authorize pages.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

/// A 302 to `redirect` with `params`, then `state` when the client sent one, added to its
/// query: how both CRMs answer an authorize request, with a code or with an error.
pub(crate) fn send_back(
    mut redirect: Url,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    {
        let mut query = redirect.query_pairs_mut();
        query.extend_pairs(params);
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, redirect.to_string())],
    )
        .into_response()
}
