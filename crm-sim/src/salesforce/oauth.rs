//! `POST /services/oauth2/token` (refresh token, authorization code and JWT bearer grants) and
//! the session check that tells every data call which user it runs as.
//!
//! Token errors are Salesforce's: a 400 `{"error", "error_description"}`. Client credentials
//! that match no connected app answer `invalid_grant` / `authentication failure`, the answer
//! the host shows its users when they paste a wrong secret.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::grants::{CodeRefused, Refused};
use super::store::{Caller, OrgState};
use super::{Org, jwt};
use crate::OAuthClient;

/// The largest token or revoke request body read.
const MAX_FORM: usize = 1 << 20;

/// A token endpoint error: 400 with Salesforce's `error` and `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OAuthError {
    error: &'static str,
    description: &'static str,
}

impl OAuthError {
    /// An error with this code and description.
    pub const fn new(error: &'static str, description: &'static str) -> Self {
        Self { error, description }
    }

    /// `invalid_grant` with `description`, the answer to most refused grants.
    pub const fn invalid_grant(description: &'static str) -> Self {
        Self::new("invalid_grant", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// The form fields of a token or revoke request: the query string, then the body, as
/// Salesforce accepts both.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Reads the query string and a form-encoded body of at most 1 MiB.
    pub async fn read(request: Request) -> Self {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let body = axum::body::to_bytes(request.into_body(), MAX_FORM)
            .await
            .unwrap_or_default();
        let fields = url::form_urlencoded::parse(query.as_bytes())
            .chain(url::form_urlencoded::parse(&body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self(fields)
    }

    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `POST /services/oauth2/token`.
pub(crate) async fn token(State(org): State<Arc<Org>>, request: Request) -> Response {
    let form = Form::read(request).await;
    let answer = match form.get("grant_type") {
        Some("refresh_token") => refresh(&org, &form),
        Some("authorization_code") => exchange_code(&org, &form),
        Some(jwt::GRANT_TYPE) => jwt::bearer(&org, &form),
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant type not supported",
        )),
    };
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The connected app whose `client_id` and `client_secret` the form sends.
fn authenticate(s: &OrgState, form: &Form) -> Result<OAuthClient, OAuthError> {
    s.clients
        .iter()
        .find(|c| {
            Some(c.client_id.as_str()) == form.get("client_id")
                && Some(c.client_secret.as_str()) == form.get("client_secret")
        })
        .cloned()
        .ok_or(OAuthError::invalid_grant("authentication failure"))
}

/// The `refresh_token` grant, for a token of any grant; rotates it when the org does.
fn refresh(org: &Org, form: &Form) -> Result<Value, OAuthError> {
    org.with_state(|s| {
        let client = authenticate(s, form)?;
        let token = form.get("refresh_token").unwrap_or_default();
        let refreshed = s
            .auth
            .refresh(token, &client.client_id)
            .map_err(|refused| {
                if refused == Refused::Reused {
                    tracing::debug!("a rotated-out refresh token was presented: grant revoked");
                }
                OAuthError::invalid_grant("expired access/refresh token")
            })?;
        let access = s
            .auth
            .new_session(&refreshed.user, Some(refreshed.grant), s.ttl);
        let rotated = refreshed.rotated.as_deref();
        Ok(org.token_body(&access, &refreshed.user, rotated))
    })
}

/// The `authorization_code` grant: the code's user gets a new grant with a refresh token.
fn exchange_code(org: &Org, form: &Form) -> Result<Value, OAuthError> {
    org.with_state(|s| {
        let client = authenticate(s, form)?;
        let code = s
            .auth
            .take_code(form.get("code").unwrap_or_default())
            .map_err(|refused| match refused {
                CodeRefused::Unknown => OAuthError::invalid_grant("invalid authorization code"),
                CodeRefused::Expired => OAuthError::invalid_grant("expired authorization code"),
            })?;
        if code.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("invalid authorization code"));
        }
        if form.get("redirect_uri") != Some(code.redirect_uri.as_str()) {
            return Err(OAuthError::new(
                "redirect_uri_mismatch",
                "redirect_uri must match configuration",
            ));
        }
        let (grant, refresh_token) = s.auth.new_grant(&client.client_id, &code.user);
        let access = s.auth.new_session(&code.user, Some(grant), s.ttl);
        Ok(org.token_body(&access, &code.user, Some(&refresh_token)))
    })
}

impl Org {
    /// A token endpoint answer for `user`, with `refresh_token` when one was issued.
    pub(crate) fn token_body(&self, access: &str, user: &str, refresh: Option<&str>) -> Value {
        let mut body = json!({
            "access_token": access,
            "instance_url": self.base_url,
            "id": format!("{}/id/{}/{}", self.base_url, self.org_id, user),
            "token_type": "Bearer",
            "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
            "signature": uuid::Uuid::new_v4().simple().to_string(),
        });
        if let Some(refresh) = refresh {
            body["refresh_token"] = json!(refresh);
        }
        body
    }
}

/// The bearer token of a request (`Bearer` or Salesforce's older `OAuth` scheme).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("OAuth "))
}

/// Whether assignment rules run: `Sforce-Auto-Assign: FALSE` (any case) turns them off.
fn auto_assign(headers: &HeaderMap) -> bool {
    let value = headers
        .get("Sforce-Auto-Assign")
        .and_then(|v| v.to_str().ok());
    !value.is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

/// Whether the call lets `allow` duplicate rules save: `Sforce-Duplicate-Rule-Header:
/// allowSave=true`.
fn allow_duplicates(headers: &HeaderMap) -> bool {
    let value = headers
        .get("Sforce-Duplicate-Rule-Header")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    value.split(',').any(|part| {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        key.trim().eq_ignore_ascii_case("allowSave") && value.trim().eq_ignore_ascii_case("true")
    })
}

/// Refuses data calls without a live bearer token with `INVALID_SESSION_ID`; otherwise runs
/// the call as the token's user, and tells the request log who that was.
pub(crate) async fn require_session(
    State(org): State<Arc<Org>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = bearer(request.headers()).map(str::to_owned);
    let user = token.and_then(|t| org.with_state(|s| s.auth.session_user(&t)));
    let Some(user) = user else {
        return ApiError::invalid_session().into_response();
    };
    let caller = Caller {
        user,
        auto_assign: auto_assign(request.headers()),
        allow_duplicates: allow_duplicates(request.headers()),
    };
    request.extensions_mut().insert(caller.clone());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(caller);
    response
}
