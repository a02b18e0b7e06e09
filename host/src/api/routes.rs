//! The `/v1` routes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::input::{self, ApiPath};
use super::{AppState, Problem, requests};
use crate::auth::TokenError;
use crate::config::{CustomerConfig, check_schema};
use crate::crm::CrmError;
use crate::pipeline::{CustomerRuntime, RecordError, RecordResult, Status};

/// Largest plugin component accepted.
const MAX_PLUGIN_BYTES: usize = 16 * 1024 * 1024;

/// Largest write request: room for [`super::MAX_BATCH`] records of up to
/// 16 KiB each, far over axum's default of 2 MB.
const MAX_WRITE_BYTES: usize = 16 * 1024 * 1024;

/// Largest connection: four short strings.
const MAX_CONNECTION_BYTES: usize = 64 * 1024;

pub(super) fn v1() -> Router<AppState> {
    Router::new()
        .route(
            "/customers/{customer}/writes",
            post(write).layer(DefaultBodyLimit::max(MAX_WRITE_BYTES)),
        )
        .route(
            "/customers/{customer}/connection",
            put(connect).layer(DefaultBodyLimit::max(MAX_CONNECTION_BYTES)),
        )
        .route("/customers/{customer}/schema", get(schema))
        .route("/customers/{customer}/schema/refresh", post(refresh_schema))
        .route("/customers/{customer}/audit", get(audit))
        .route(
            "/plugins/{name}/{version}",
            put(upload_plugin).layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
}

/// A batch's per-status counts.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    created: usize,
    updated: usize,
    unchanged: usize,
    failed: usize,
    planned: usize,
}

/// `POST /v1/customers/{customer}/writes`: `{"records": [...], "dry_run": false}`.
async fn write(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    let config = state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;
    let body = input::body(body, MAX_WRITE_BYTES)?;
    let request = requests::write_request(&body)?;

    // Each record parses on its own: one malformed record fails alone.
    let intents = request.records.iter().map(requests::write_intent).collect();

    let results = state
        .pipeline
        .write_batch(config, intents, request.dry_run)
        .await;
    let summary = summarize(&results);
    Ok(Json(json!({ "results": results, "summary": summary })))
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
        }
    }
    summary
}

/// `PUT /v1/customers/{customer}/connection`: the org's credentials, stored
/// once the CRM has issued a token for them.
async fn connect(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let config = state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;
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
    let config = state
        .pipeline
        .config(customer)
        .ok_or_else(|| unknown_customer(customer))?;
    let runtime = state
        .pipeline
        .customer(&config)
        .await
        .map_err(record_problem)?;
    Ok((config, runtime))
}

/// `POST /v1/customers/{customer}/schema/refresh`: discover again now.
async fn refresh_schema(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    let (config, runtime) = customer_state(&state, &customer).await?;
    runtime.forget_schema().await;
    let schema = runtime.discover(&config).await.map_err(record_problem)?;
    for (name, object) in &schema.objects {
        let body = serde_json::to_value(object).unwrap_or_default();
        state
            .pipeline
            .store()
            .put_schema(&customer, name, &body)
            .await
            .map_err(internal)?;
    }
    let problems = check_schema(&config, &schema);
    if !problems.is_empty() {
        tracing::warn!(
            customer,
            problems = problems.len(),
            "config does not fit the discovered schema"
        );
    }
    Ok(Json(json!({
        "objects": schema.objects.keys().collect::<Vec<_>>(),
        "read_at": runtime.schema_read_at().await,
        "problems": problems,
    })))
}

/// `GET /v1/customers/{customer}/schema`: the schema the config is checked
/// against, discovered if not read yet, with what in the config does not
/// fit it. Saved as `schemas/CUSTOMER.json`, it is the snapshot `conduit
/// check` reads.
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
async fn audit(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;
    let filter = requests::audit_filter(query.as_deref())?;

    let entries = state
        .pipeline
        .store()
        .audit(&customer, &filter)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "entries": entries })))
}

/// `PUT /v1/plugins/{name}/{version}`: the component's bytes.
async fn upload_plugin(
    State(state): State<AppState>,
    ApiPath((name, version)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    requests::check_plugin_name(&name)?;
    requests::check_plugin_version(&version)?;
    let body = input::body(body, MAX_PLUGIN_BYTES)?;

    let hash = state
        .pipeline
        .upload_plugin(&name, &version, body.to_vec())
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "plugin_refused",
                format!("{e:#}"),
            )
        })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": name, "version": version, "sha256": hash })),
    ))
}

fn unknown_customer(customer: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown_customer",
        format!("no customer `{customer}`"),
    )
}

fn record_problem(e: RecordError) -> Problem {
    let status = if e.retryable {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::CONFLICT
    };
    let mut problem = Problem::new(status, &e.code, e.message);
    problem.field = e.field;
    problem
}

fn internal(e: anyhow::Error) -> Problem {
    tracing::error!(error = %format!("{e:#}"), "request failed inside the host");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the host failed; try again",
    )
}
