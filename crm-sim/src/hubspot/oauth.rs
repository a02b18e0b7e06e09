//! HubSpot's OAuth: `GET /oauth/authorize` (approved at once for the user `login_hint`
//! names), `POST /oauth/v1/token` (authorization code and refresh token grants),
//! `DELETE /oauth/v1/refresh-tokens/{token}`, and the bearer check on every API call.
//!
//! Every token belongs to a user: OAuth tokens to the user who installed the app, the
//! profile's refresh tokens and private app tokens to the integration user. HubSpot refresh
//! tokens do not rotate, and revoking one leaves the access tokens it minted working until
//! they expire, as in HubSpot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, json};
use url::{Url, form_urlencoded};

use super::{Org, PortalState, error};
use crate::redirect::send_back;

/// How long an authorization code can be exchanged.
const CODE_TTL: Duration = Duration::from_secs(600);

/// An access token: whose, and until when (`None`: a private app token, which never expires).
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    user: u64,
    expires: Option<Instant>,
}

/// A refresh token: the app it was issued to and the user who installed it.
#[derive(Debug, Clone)]
pub(crate) struct Install {
    client_id: String,
    user: u64,
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    install: Install,
    redirect_uri: String,
    expires: Instant,
}

/// Every token of the portal.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, Install>,
    codes: HashMap<String, Code>,
}

/// Who an API call runs as: the `userId` of its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caller(pub u64);

impl Tokens {
    /// Accepts `token` as a refresh token for `user` on `client_id`.
    pub fn insert_refresh(&mut self, client_id: &str, user: u64, token: &str) {
        let install = Install {
            client_id: client_id.to_owned(),
            user,
        };
        self.refresh.insert(token.to_owned(), install);
    }

    /// Accepts `token` as a bearer token for `user` that never expires.
    pub fn insert_private_app(&mut self, user: u64, token: &str) {
        let access = AccessToken {
            user,
            expires: None,
        };
        self.access.insert(token.to_owned(), access);
    }

    /// Mints an access token for `user` that lives `ttl`.
    fn new_access(&mut self, user: u64, ttl: Duration) -> String {
        let token = format!("CO{}", uuid::Uuid::new_v4().simple());
        let access = AccessToken {
            user,
            expires: Some(Instant::now() + ttl),
        };
        self.access.insert(token.clone(), access);
        token
    }

    /// Ends every OAuth access token now; private app tokens stay.
    pub fn expire(&mut self) {
        let now = Instant::now();
        for token in self.access.values_mut() {
            if token.expires.is_some() {
                token.expires = Some(now);
            }
        }
    }

    /// Forgets a refresh token; returns whether it was known.
    pub fn revoke_refresh(&mut self, token: &str) -> bool {
        self.refresh.remove(token).is_some()
    }
}

/// A new refresh token for `user` on `client_id`.
pub(crate) fn new_install(s: &mut PortalState, client_id: &str, user: u64) -> String {
    let token = uuid::Uuid::new_v4().hyphenated().to_string();
    s.tokens.insert_refresh(client_id, user, &token);
    token
}

/// A refused token request: HubSpot's 400 with this category and message.
#[derive(Debug, Clone, Copy)]
struct Refused(&'static str, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0, self.1, Map::new())
    }
}

const UNKNOWN_REFRESH_TOKEN: &str = "missing or unknown refresh token";
const BAD_REFRESH_TOKEN: Refused = Refused("BAD_REFRESH_TOKEN", UNKNOWN_REFRESH_TOKEN);

/// `GET /oauth/authorize?client_id&redirect_uri&scope&state&login_hint`: 302 to
/// `redirect_uri` with `code` (and `state`), or `error=access_denied` for an unknown user.
pub(crate) async fn authorize(
    State(org): State<Arc<Org>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let client_id = param("client_id");
    let known = org.with_state(|s| s.clients.iter().any(|c| c.client_id == client_id));
    let redirect = Url::parse(param("redirect_uri"));
    let (true, Ok(redirect)) = (known, redirect) else {
        let page = "<!DOCTYPE html><html><body><p>Authorization failed because the \
                    client_id or redirect_uri is invalid.</p></body></html>";
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    };

    let code = org.with_state(|s| {
        let user = s.user_of(param("login_hint"))?;
        let install = Install {
            client_id: client_id.to_owned(),
            user,
        };
        let code = uuid::Uuid::new_v4().hyphenated().to_string();
        let entry = Code {
            install,
            redirect_uri: param("redirect_uri").to_owned(),
            expires: Instant::now() + CODE_TTL,
        };
        s.tokens.codes.insert(code.clone(), entry);
        Some(code)
    });
    let state = q.get("state").map(String::as_str);
    match &code {
        Some(code) => send_back(redirect, &[("code", code)], state),
        None => {
            let error = [
                ("error", "access_denied"),
                ("error_description", "the user did not authorize the app"),
            ];
            send_back(redirect, &error, state)
        }
    }
}

/// `POST /oauth/v1/token` with `grant_type=authorization_code` or `refresh_token`.
pub(crate) async fn token(State(org): State<Arc<Org>>, body: Bytes) -> Response {
    let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    org.with_state(|s| {
        let found = match param("grant_type") {
            "authorization_code" => exchange_code(s, param("code"), param("redirect_uri")),
            "refresh_token" => refresh(s, param("refresh_token")),
            _ => Err(Refused(
                "BAD_GRANT_TYPE",
                "grant_type must be authorization_code or refresh_token",
            )),
        };
        let (install, refresh_token) = match found {
            Ok(found) => found,
            Err(refused) => return refused.into_response(),
        };
        let authenticated = s.clients.iter().any(|c| {
            c.client_id == install.client_id
                && c.client_id == param("client_id")
                && c.client_secret == param("client_secret")
        });
        if !authenticated {
            let message = "missing or invalid client_id or client_secret";
            return Refused("BAD_CLIENT_ID", message).into_response();
        }
        // A code becomes an install only once its client has proved who it is.
        let refresh_token =
            refresh_token.unwrap_or_else(|| new_install(s, &install.client_id, install.user));
        let access = s.tokens.new_access(install.user, s.ttl);
        Json(json!({
            "access_token": access,
            "refresh_token": refresh_token,
            "expires_in": s.ttl.as_secs(),
            "token_type": "bearer"
        }))
        .into_response()
    })
}

/// The install a refresh token belongs to; HubSpot hands the same token back.
fn refresh(s: &PortalState, token: &str) -> Result<(Install, Option<String>), Refused> {
    let install = s.tokens.refresh.get(token).ok_or(BAD_REFRESH_TOKEN)?;
    Ok((install.clone(), Some(token.to_owned())))
}

/// Takes a code out, so that it works once, and answers the install it approves.
fn exchange_code(
    s: &mut PortalState,
    code: &str,
    redirect_uri: &str,
) -> Result<(Install, Option<String>), Refused> {
    let Some(code) = s.tokens.codes.remove(code) else {
        return Err(Refused("BAD_AUTH_CODE", "missing or unknown auth code"));
    };
    if code.expires <= Instant::now() {
        return Err(Refused("BAD_AUTH_CODE", "auth code has expired"));
    }
    if code.redirect_uri != redirect_uri {
        return Err(Refused(
            "BAD_REDIRECT_URI",
            "redirect_uri does not match the one used to authorize",
        ));
    }
    Ok((code.install, None))
}

/// `DELETE /oauth/v1/refresh-tokens/{token}` → 204, or 400 `BAD_REFRESH_TOKEN` if unknown.
/// `GET /oauth/v1/access-tokens/{token}`: whom a live access token acts
/// for, as HubSpot answers it (`user` is the user's email).
pub(crate) async fn token_info(State(org): State<Arc<Org>>, Path(token): Path<String>) -> Response {
    let found = org.with_state(|s| {
        let access = s.tokens.access.get(&token)?;
        if access.expires.is_some_and(|at| at <= Instant::now()) {
            return None;
        }
        let user_id = access.user.to_string();
        let email = s
            .owners
            .iter()
            .find(|o| o.user_id == user_id)
            .map(|o| o.email.clone());
        Some((access.user, email))
    });
    match found {
        Some((user, email)) => Json(json!({
            "token": token,
            "user": email,
            "user_id": user,
            "token_type": "access",
        }))
        .into_response(),
        None => Refused("BAD_ACCESS_TOKEN", "missing or unknown access token").into_response(),
    }
}

pub(crate) async fn revoke(State(org): State<Arc<Org>>, Path(token): Path<String>) -> Response {
    if org.with_state(|s| s.tokens.revoke_refresh(&token)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        BAD_REFRESH_TOKEN.into_response()
    }
}

/// Refuses calls without a live bearer token (HubSpot's 401 bodies); otherwise runs the call
/// as the token's user, and tells the request log who that was.
pub(crate) async fn require_token(
    State(org): State<Arc<Org>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_owned);
    let found = token.and_then(|t| org.with_state(|s| s.tokens.access.get(&t).cloned()));
    let Some(found) = found else {
        return unauthorized(
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication \
             and you can find more details at \
             https://developers.hubspot.com/docs/methods/auth/oauth-overview"
                .to_owned(),
        );
    };
    if let Some(expires) = found.expires.filter(|e| *e <= Instant::now()) {
        let ago = expires.elapsed().as_secs();
        let message =
            format!("The OAuth token used to make this call expired {ago} second(s) ago.");
        return unauthorized("EXPIRED_AUTHENTICATION", message);
    }
    let caller = Caller(found.user);
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    response.extensions_mut().insert(caller);
    response
}

fn unauthorized(category: &str, message: String) -> Response {
    error(StatusCode::UNAUTHORIZED, category, message, Map::new())
}
