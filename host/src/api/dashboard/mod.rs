//! The per-customer dashboard CS opens: an HTML page and its script and
//! style, embedded in the binary and served by the host, and the JSON it
//! draws from, computed from the audit.
//!
//! The page holds no data and needs no key; the script fetches
//! `GET /v1/customers/{customer}/dashboard` with the API key the user
//! pastes in (or passes as `#key=…`, which never leaves the browser), and
//! draws the charts as SVG.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::input::ApiPath;
use super::problem::Wire;
use super::routes::{CustomerPath, LimitQuery, internal};
use super::{AppState, Problem, observe, requests};
use crate::store::{AuditEntry, AuditFilter, ConnectionState, DriftReport, WriteStats};

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("dashboard.js");
const STYLE: &str = include_str!("dashboard.css");

/// The page may load only its own script and style and call only this host.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'";

/// Recent writes shown when the page does not ask for a number.
const DEFAULT_RECENT: i64 = 25;

/// Everything the dashboard shows of one customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    /// The customer.
    customer: String,
    /// `salesforce` or `hubspot`, from its config.
    provider: String,
    /// The config version in force now.
    config_version: String,
    /// The plugin its config activates, as `name@version`.
    plugin: Option<String>,
    /// The CRM connection as the store holds it; `None` before the first.
    connection: Option<ConnectionState>,
    /// Outcomes, success over time, errors, objects and skipped fields.
    writes: WriteStats,
    /// What the last schema check found that the CRM no longer allows.
    drift: DriftReport,
    /// The latest audited writes with their per-field decisions, newest
    /// first.
    #[schema(value_type = Vec<Object>)]
    recent: Vec<AuditEntry>,
    /// When these figures were read (RFC 3339).
    generated_at: String,
}

/// `GET /v1/customers/{customer}/dashboard?limit=N`: the figures of the
/// page, with the `N` latest writes.
#[utoipa::path(
    get,
    path = "/customers/{customer}/dashboard",
    tag = "dashboard",
    params(CustomerPath, LimitQuery),
    responses(
        (status = 200, description = "The customer's figures", body = Dashboard),
        (status = 400, description = "A bad `limit`", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn data(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Dashboard>, Problem> {
    let config = state.customer_config(&customer)?;
    let recent = recent_filter(query.as_deref())?;
    let plugin = observe::record_customer(&config);

    let store = state.pipeline.store();
    let generated_at = Utc::now().to_rfc3339();
    let writes = store.write_stats(&customer).await.map_err(internal)?;
    let connection = store.connection_state(&customer).await.map_err(internal)?;
    let recent = store.audit(&customer, &recent).await.map_err(internal)?;
    let drift = store.drift(&customer).await.map_err(internal)?;
    Ok(Json(Dashboard {
        customer,
        provider: config.provider.to_string(),
        config_version: config.version.clone(),
        plugin,
        connection,
        writes,
        drift,
        recent,
        generated_at,
    }))
}

/// The latest writes to show: `?limit=N`, and no other audit filter, since
/// the figures beside them cover every write.
fn recent_filter(query: Option<&str>) -> Result<AuditFilter, Problem> {
    let Some(query) = query else {
        return Ok(AuditFilter {
            limit: DEFAULT_RECENT,
            ..AuditFilter::default()
        });
    };
    let filter = requests::audit_filter(Some(query))?;
    let narrowed = [
        ("record", filter.record.is_some()),
        ("object", filter.object.is_some()),
        ("since", filter.since.is_some()),
        ("until", filter.until.is_some()),
    ];
    if let Some((key, _)) = narrowed.iter().find(|(_, set)| *set) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the dashboard takes only `limit`, not `{key}`; filter the audit instead"),
        )
        .field(key));
    }
    Ok(AuditFilter {
        limit: filter.limit,
        ..AuditFilter::default()
    })
}

/// `GET /customers/{customer}/dashboard`: the page.
#[utoipa::path(
    get,
    path = "/customers/{customer}/dashboard",
    tag = "dashboard",
    params(CustomerPath),
    responses(
        (status = 200, description = "The dashboard page", body = String,
            content_type = "text/html"),
        (status = 404, description = "No such customer", body = Wire),
    )
)]
pub(super) async fn page(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    Ok(asset("text/html; charset=utf-8", PAGE))
}

/// `GET /dashboard/dashboard.js`: the page's script.
#[utoipa::path(
    get,
    path = "/dashboard/dashboard.js",
    tag = "dashboard",
    responses((status = 200, description = "The page's script", body = String,
        content_type = "text/javascript"))
)]
pub(super) async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /dashboard/dashboard.css`: the page's style.
#[utoipa::path(
    get,
    path = "/dashboard/dashboard.css",
    tag = "dashboard",
    responses((status = 200, description = "The page's style", body = String,
        content_type = "text/css"))
)]
pub(super) async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
