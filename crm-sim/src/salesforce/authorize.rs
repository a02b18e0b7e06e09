//! The browser side of the web server flow, `GET /services/oauth2/authorize`, and
//! `POST /services/oauth2/revoke`.
//!
//! Nobody logs in to a simulator: the authorize endpoint approves at once for the user that
//! `login_hint` names, as if that user had signed in and clicked Allow.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use super::Org;
use super::oauth::{Form, OAuthError};
use crate::redirect::send_back;

/// `GET /services/oauth2/authorize?response_type=code&client_id&redirect_uri&state&login_hint`:
/// 302 to `redirect_uri` with `code` and `state`, or with `error` when the user cannot approve.
/// A request that cannot be sent back (unknown client, bad `redirect_uri`) gets a 400 page.
pub(crate) async fn authorize(
    State(org): State<Arc<Org>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let client_id = param("client_id");
    if !org.with_state(|s| s.clients.iter().any(|c| c.client_id == client_id)) {
        return error_page("invalid_client_id", "client identifier invalid");
    }
    let Ok(redirect) = Url::parse(param("redirect_uri")) else {
        return error_page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    let state = q.get("state").map(String::as_str);
    if param("response_type") != "code" {
        let error = [
            ("error", "unsupported_response_type"),
            ("error_description", "response type not supported"),
        ];
        return send_back(redirect, &error, state);
    }

    let code = org.with_state(|s| {
        let user = s
            .user_id(param("login_hint"))
            .filter(|id| s.is_active(id))?;
        Some(s.auth.new_code(client_id, &user, param("redirect_uri")))
    });
    match code {
        Some(code) => send_back(redirect, &[("code", &code)], state),
        None => {
            let error = [
                ("error", "access_denied"),
                ("error_description", "end-user denied authorization"),
            ];
            send_back(redirect, &error, state)
        }
    }
}

/// The page Salesforce shows when it cannot send the browser back.
fn error_page(error: &str, description: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Error</title></head><body>\
         <p>error={error}&amp;error_description={description}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// `POST /services/oauth2/revoke` with `token`: a refresh token ends its whole grant, an
/// access token only itself. 200 with an empty body; 400 `invalid_token` if unknown.
pub(crate) async fn revoke(State(org): State<Arc<Org>>, request: Request) -> Response {
    let form = Form::read(request).await;
    let token = form.get("token").unwrap_or_default();
    if org.with_state(|s| s.auth.revoke(token)) {
        StatusCode::OK.into_response()
    } else {
        OAuthError::new("invalid_token", "invalid token").into_response()
    }
}
