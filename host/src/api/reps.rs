//! Connections per customer: the list with each one's state, and the
//! authorization-code flow through which a rep connects their own CRM user.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use serde::Deserialize;
use serde_json::json;

use super::input::ApiPath;
use super::problem::Wire;
use super::routes::{CustomerPath, internal, record_problem};
use super::{AppState, Problem};

/// The path of the callback the CRM sends a rep back to.
pub(super) const CALLBACK: &str = "/oauth/callback";

/// A customer and a rep, from the path.
#[derive(utoipa::IntoParams)]
#[into_params(names("customer", "rep"), parameter_in = Path)]
#[allow(dead_code, reason = "axum reads the path; this only describes it")]
pub(super) struct RepPath(
    /// The customer, as its config file names it.
    String,
    /// The rep's email.
    String,
);

/// `GET /v1/customers/{customer}/connections`: every connection and its
/// state, nothing secret.
#[utoipa::path(
    get,
    path = "/customers/{customer}/connections",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 200, description = "The org-wide connection and the reps'"),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let connections = state
        .pipeline
        .store()
        .grants(&customer)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "connections": connections })))
}

/// `POST /v1/customers/{customer}/reps/{rep}/authorize`: the link the rep
/// opens to connect; the CRM sends them back to this host's callback.
#[utoipa::path(
    post,
    path = "/customers/{customer}/reps/{rep}/authorize",
    tag = "customers",
    params(RepPath),
    responses(
        (status = 200, description = "`authorize_url`, valid for ten minutes"),
        (status = 400, description = "The rep is not an email", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
        (status = 409, description = "The customer has no org-wide connection", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn authorize(
    State(state): State<AppState>,
    ApiPath((customer, rep)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let email = rep_email(&rep)?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "bad_request", "no `Host` header"))?;
    let redirect_uri = format!("http://{host}{CALLBACK}");

    let url = state
        .pipeline
        .authorize_rep(&config, &email, &redirect_uri)
        .await
        .map_err(record_problem)?;
    Ok(Json(
        json!({ "authorize_url": url, "redirect_uri": redirect_uri }),
    ))
}

/// `DELETE /v1/customers/{customer}/reps/{rep}/connection`.
#[utoipa::path(
    delete,
    path = "/customers/{customer}/reps/{rep}/connection",
    tag = "customers",
    params(RepPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such customer or connection", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn disconnect(
    State(state): State<AppState>,
    ApiPath((customer, rep)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    state.customer_config(&customer)?;
    let email = rep_email(&rep)?;
    let removed = state
        .pipeline
        .disconnect_rep(&customer, &email)
        .await
        .map_err(internal)?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_connected",
            format!("rep `{email}` has no connection for customer `{customer}`"),
        ))
    }
}

/// What the CRM sends the rep back with.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Callback {
    /// The authorization code.
    code: Option<String>,
    /// The state the flow was started with.
    state: Option<String>,
    /// Set instead of `code` when the rep or the CRM refused.
    error: Option<String>,
    /// The CRM's words for the refusal.
    error_description: Option<String>,
}

/// `GET /oauth/callback`: where the CRM sends the rep's browser. It carries
/// no API key: the single-use `state` is what ties it to the flow.
#[utoipa::path(
    get,
    path = "/oauth/callback",
    tag = "customers",
    params(Callback),
    responses(
        (status = 200, description = "The rep is connected", content_type = "text/html"),
        (status = 400, description = "Refused, unknown or expired", body = Wire),
    )
)]
pub(super) async fn callback(
    State(state): State<AppState>,
    Query(callback): Query<Callback>,
) -> Result<impl IntoResponse, Problem> {
    if let Some(error) = callback.error {
        let why = callback.error_description.unwrap_or_default();
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "authorization_refused",
            format!("the CRM refused the authorization: {error} {why}"),
        ));
    }
    let (Some(code), Some(flow_state)) = (callback.code, callback.state) else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the callback needs `code` and `state`",
        ));
    };
    let flow = state
        .pipeline
        .finish_rep_authorization(&flow_state, &code)
        .await
        .map_err(|e| {
            let mut problem = Problem::new(StatusCode::BAD_REQUEST, &e.code, e.message);
            problem.field = e.field;
            problem
        })?;
    Ok(Html(format!(
        "<!doctype html><title>Connected</title><p>{} is connected for {}. \
         You can close this page.</p>",
        html_escape(&flow.subject),
        html_escape(&flow.customer)
    )))
}

/// A rep is named by email; compared in lowercase everywhere.
fn rep_email(rep: &str) -> Result<String, Problem> {
    let email = rep.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
    if !valid {
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("`{rep}` is not a rep's email"),
        );
        problem.field = Some("rep".into());
        return Err(problem);
    }
    Ok(email)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
