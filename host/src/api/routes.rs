//! The `/v1` routes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::input::{self, ApiPath};
use super::problem::Wire;
use super::{AppState, Problem, dashboard, docs, observe, reps, requests};
use crate::auth::TokenError;
use crate::config::{CustomerConfig, check_schema};
use crate::crm::CrmError;
use crate::pipeline::{CustomerRuntime, RecordError, RecordResult, Status};
use crate::telemetry::metrics;

/// Largest write request: room for [`super::MAX_BATCH`] records of up to
/// 16 KiB each, far over axum's default of 2 MB.
const MAX_WRITE_BYTES: usize = 16 * 1024 * 1024;

/// Largest connection: four short strings.
const MAX_CONNECTION_BYTES: usize = 64 * 1024;

/// The `/v1` routes, each registered with its OpenAPI operation.
pub(super) fn v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(write).layer(DefaultBodyLimit::max(MAX_WRITE_BYTES)))
        .routes(routes!(connect).layer(DefaultBodyLimit::max(MAX_CONNECTION_BYTES)))
        .routes(routes!(schema))
        .routes(routes!(audit))
        .routes(routes!(dashboard::data))
        .routes(routes!(reps::list))
        .routes(routes!(reps::authorize))
        .routes(routes!(reps::disconnect))
}

/// A batch's per-status counts.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    created: usize,
    updated: usize,
    unchanged: usize,
    failed: usize,
    planned: usize,
    pending: usize,
}

/// `POST /v1/customers/{customer}/writes`: `{"records": [...], "activities": [...],
/// "dry_run": false}`.
#[utoipa::path(
    post,
    path = "/customers/{customer}/writes",
    tag = "writes",
    params(CustomerPath),
    request_body(content = docs::WriteRequest, description = "Write intents"),
    responses(
        (status = 200, description = "One result per record, in order", body = docs::WriteAnswer),
        (status = 400, description = "The request is not a write request", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
        (status = 413, description = "More than 1,000 records", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn write(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let body = input::body(body, MAX_WRITE_BYTES)?;
    let request = requests::write_request(&body, super::MAX_BATCH)?;

    observe::record_customer(&config);

    // Each record and activity parses on its own: one malformed record
    // fails alone. Activities follow the records in the batch, so the
    // order of levels puts one after the record it relates to.
    let mut intents: Vec<_> = request.records.iter().map(requests::write_intent).collect();
    let records = intents.len();
    intents.extend(
        request
            .activities
            .iter()
            .map(|a| requests::activity_intent(&config, a)),
    );

    let queued = QueuedRecords::enter(&customer, intents.len());
    let mut results = state
        .pipeline
        .write_batch(config, intents, request.dry_run)
        .await;
    drop(queued);
    count_outcomes(&customer, &results);
    let summary = summarize(&results);

    if request.activities.is_empty() {
        return Ok(Json(json!({ "results": results, "summary": summary })));
    }
    let mut activities = results.split_off(records);
    for (index, result) in activities.iter_mut().enumerate() {
        result.index = index;
    }
    Ok(Json(json!({
        "results": results,
        "activities": activities,
        "summary": summary,
    })))
}

/// Records of one request counted in the queue depth until it is answered,
/// or abandoned when the caller goes away.
struct QueuedRecords<'a> {
    customer: &'a str,
    records: f64,
}

impl<'a> QueuedRecords<'a> {
    fn enter(customer: &'a str, records: usize) -> Self {
        let records = records as f64;
        metrics::queue_depth(customer, records);
        Self { customer, records }
    }
}

impl Drop for QueuedRecords<'_> {
    fn drop(&mut self) {
        metrics::queue_depth(self.customer, -self.records);
    }
}

fn count_outcomes(customer: &str, results: &[RecordResult]) {
    for r in results {
        // The CRM object from the customer's config, never what the caller
        // typed: an unknown entity must not make a metric series of its own.
        let object = r.object.as_deref().unwrap_or("unknown");
        let outcome = match r.status {
            _ if r.replayed => "replayed",
            Status::Created => "created",
            Status::Updated => "updated",
            Status::Unchanged => "unchanged",
            Status::Failed => "failed",
            Status::Planned => "planned",
            Status::Pending => "pending",
        };
        metrics::write(customer, object, outcome);
    }
}

fn summarize(results: &[RecordResult]) -> Summary {
    let mut summary = Summary::default();
    for r in results {
        match r.status {
            Status::Created => summary.created += 1,
            Status::Updated => summary.updated += 1,
            Status::Unchanged => summary.unchanged += 1,
            Status::Failed => summary.failed += 1,
            Status::Planned => summary.planned += 1,
            Status::Pending => summary.pending += 1,
        }
    }
    summary
}

/// `PUT /v1/customers/{customer}/connection`: the org's credentials, stored
/// once the CRM has issued a token for them.
#[utoipa::path(
    put,
    path = "/customers/{customer}/connection",
    tag = "customers",
    params(CustomerPath),
    request_body(content = docs::Connection, description = "The org's OAuth credentials"),
    responses(
        (status = 204, description = "Verified with the CRM and stored"),
        (status = 400, description = "Not a connection", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
        (status = 422, description = "The CRM refused the credentials", body = Wire),
        (status = 502, description = "The CRM could not be reached", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn connect(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let config = state.customer_config(&customer)?;
    let body = input::body(body, MAX_CONNECTION_BYTES)?;
    let credentials = requests::credentials(&body)?;

    state
        .pipeline
        .connect(&customer, config.provider, credentials)
        .await
        .map_err(|e| match e.downcast::<TokenError>() {
            Ok(refused) => token_problem(&customer, &refused),
            Err(e) => internal(e),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why the CRM issued no token for new credentials: refused (fix them) or
/// unreachable (try again).
fn token_problem(customer: &str, error: &TokenError) -> Problem {
    tracing::debug!(customer, error = %error, "connection not verified");
    match error {
        TokenError::Refused {
            provider,
            status,
            reason,
        } if CrmError::retryable_status(*status) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "crm_unreachable",
            format!("the token endpoint of {provider} answered {status} ({reason}); try again"),
        ),
        TokenError::Refused { .. } | TokenError::Unexpected { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "connection_refused",
            error.to_string(),
        ),
        TokenError::Unreachable { .. } => Problem::new(
            StatusCode::BAD_GATEWAY,
            "crm_unreachable",
            error.to_string(),
        ),
    }
}

/// A known customer's config and live state.
async fn customer_state(
    state: &AppState,
    customer: &str,
) -> Result<(Arc<CustomerConfig>, Arc<CustomerRuntime>), Problem> {
    let config = state.customer_config(customer)?;
    let runtime = state
        .pipeline
        .customer(&config)
        .await
        .map_err(record_problem)?;
    Ok((config, runtime))
}

/// `GET /v1/customers/{customer}/schema`: the schema the config is checked
/// against, discovered if not read yet, with what in the config does not
/// fit it. Saved as `schemas/CUSTOMER.json`, it is the snapshot `conduit
/// check` reads.
#[utoipa::path(
    get,
    path = "/customers/{customer}/schema",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 200, description = "The discovered schema and what does not fit it",
            body = docs::SchemaSnapshot),
        (status = 404, description = "No such customer", body = Wire),
        (status = 409, description = "The customer cannot be described yet", body = Wire),
        (status = 502, description = "The CRM could not be reached", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn schema(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    let (config, runtime) = customer_state(&state, &customer).await?;
    let schema = runtime.discover(&config).await.map_err(record_problem)?;
    let problems = check_schema(&config, &schema);
    Ok(Json(json!({
        "read_at": runtime.schema_read_at().await,
        "objects": schema.objects,
        "catalog": schema.catalog,
        "problems": problems,
    })))
}

/// `GET /v1/customers/{customer}/audit?limit=N`: newest first.
#[utoipa::path(
    get,
    path = "/customers/{customer}/audit",
    tag = "customers",
    params(CustomerPath, AuditQuery),
    responses(
        (status = 200, description = "Audit entries, newest first", body = docs::Audit),
        (status = 400, description = "A bad query parameter", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn audit(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let filter = requests::audit_filter(query.as_deref())?;

    let entries = state
        .pipeline
        .store()
        .audit(&customer, &filter)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "entries": entries })))
}

/// The `{customer}` path parameter of every customer route.
#[derive(utoipa::IntoParams)]
#[into_params(names("customer"), parameter_in = Path)]
#[allow(dead_code, reason = "axum reads the path; this only describes it")]
pub(super) struct CustomerPath(
    /// The customer, as its config file names it.
    String,
);

/// The audit's query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
pub(super) struct AuditQuery {
    /// Only entries of this record: the agent's key or the CRM id.
    record: Option<String>,
    /// Only entries of this CRM object or agent entity.
    object: Option<String>,
    /// Only entries written at or after this time (RFC 3339).
    since: Option<String>,
    /// Only entries written before this time (RFC 3339).
    until: Option<String>,
    /// How many entries, newest first (default 100, at most 1,000).
    limit: Option<i64>,
}

/// The `?limit=N` of listings.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
pub(super) struct LimitQuery {
    /// How many entries, newest first (default 100, at most 1,000).
    limit: Option<i64>,
}

pub(super) fn unknown_customer(customer: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown_customer",
        format!("no customer `{customer}`"),
    )
}

pub(super) fn record_problem(e: RecordError) -> Problem {
    let status = if e.retryable {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::CONFLICT
    };
    let mut problem = Problem::new(status, &e.code, e.message);
    problem.field = e.field;
    problem
}

pub(super) fn internal(e: anyhow::Error) -> Problem {
    tracing::error!(error = %format!("{e:#}"), "request failed inside the host");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the host failed; try again",
    )
}
