//! `POST /services/oauth2/token` (refresh-token grant) and the session check on data calls.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Org;
use super::errors::ApiError;

/// `POST /services/oauth2/token`: form fields in the body or the query string, as Salesforce
/// accepts both. Only `grant_type=refresh_token` is supported.
pub(crate) async fn token(State(org): State<Arc<Org>>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .chain(url::form_urlencoded::parse(&body))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    if param("grant_type") != Some("refresh_token") {
        let body = json!({
            "error": "unsupported_grant_type",
            "error_description": "grant type not supported"
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let accepted = org.with_state(|s| {
        s.clients.iter().any(|c| {
            Some(c.client_id.as_str()) == param("client_id")
                && Some(c.client_secret.as_str()) == param("client_secret")
                && Some(c.refresh_token.as_str()) == param("refresh_token")
        })
    });
    if !accepted {
        let body = json!({"error": "invalid_grant", "error_description": "authentication failure"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }

    let access_token = format!("{}!{}", &org.org_id[..15], uuid::Uuid::new_v4().simple());
    let user = org.with_state(|s| {
        let expiry = Instant::now() + s.ttl;
        s.sessions.insert(access_token.clone(), expiry);
        s.integration_user.clone()
    });
    let issued_at = chrono::Utc::now().timestamp_millis().to_string();
    Json(json!({
        "access_token": access_token,
        "instance_url": org.base_url,
        "id": format!("{}/id/{}/{}", org.base_url, org.org_id, user),
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": uuid::Uuid::new_v4().simple().to_string(),
    }))
    .into_response()
}

/// Refuses data calls without a live bearer token with `INVALID_SESSION_ID`.
pub(crate) async fn require_session(
    State(org): State<Arc<Org>>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(str::to_owned);
    let live = token.is_some_and(|t| {
        org.with_state(|s| {
            s.sessions
                .get(&t)
                .is_some_and(|expiry| *expiry > Instant::now())
        })
    });
    if !live {
        return ApiError::invalid_session().into_response();
    }
    next.run(request).await
}
