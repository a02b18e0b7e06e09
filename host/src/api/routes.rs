//! The `/v1` routes.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AppState, MAX_BATCH, Problem};
use crate::auth::Credentials;
use crate::pipeline::{RecordError, RecordResult, Status, WriteIntent};

/// Largest plugin component accepted.
const MAX_PLUGIN_BYTES: usize = 16 * 1024 * 1024;

pub(super) fn v1() -> Router<AppState> {
    Router::new()
        .route("/customers/{customer}/writes", post(write))
        .route("/customers/{customer}/connection", put(connect))
        .route("/customers/{customer}/schema/refresh", post(refresh_schema))
        .route("/customers/{customer}/audit", axum::routing::get(audit))
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
    Path(customer): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let config = state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;

    let body: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("body is not JSON: {e}"),
        )
    })?;
    let records = body
        .get("records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "`records` must be a list",
            )
            .field("records")
        })?;
    if records.len() > MAX_BATCH {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} records sent; at most {MAX_BATCH} per request",
                records.len()
            ),
        )
        .field("records"));
    }
    let dry_run = match body.get("dry_run") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "`dry_run` must be true or false",
            )
            .field("dry_run"));
        }
    };

    // Each record parses on its own: one malformed record fails alone.
    let intents: Vec<Result<WriteIntent, RecordError>> = records
        .iter()
        .map(|record| {
            serde_json::from_value::<WriteIntent>(record.clone()).map_err(|e| {
                RecordError::input("invalid_record", format!("record is malformed: {e}"), None)
            })
        })
        .collect();

    let results = state.pipeline.write_batch(config, intents, dry_run).await;
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

/// `PUT /v1/customers/{customer}/connection`: the org's credentials.
async fn connect(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    let config = state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;
    let credentials: Credentials = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("bad connection: {e}"),
        )
    })?;
    state
        .pipeline
        .connect(&customer, config.provider, credentials)
        .await
        .map_err(internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/customers/{customer}/schema/refresh`: discover again now.
async fn refresh_schema(
    State(state): State<AppState>,
    Path(customer): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    let config = state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;
    let runtime = state
        .pipeline
        .customer(&config)
        .await
        .map_err(record_problem)?;
    runtime.forget_schema().await;
    let mut objects: Vec<&str> = config.objects().collect();
    objects.sort();
    objects.dedup();
    let schema = runtime.schema(&objects).await.map_err(record_problem)?;
    for (name, object) in &schema.objects {
        let body = serde_json::to_value(object).unwrap_or_default();
        state
            .pipeline
            .store()
            .put_schema(&customer, name, &body)
            .await
            .map_err(internal)?;
    }
    Ok(Json(json!({
        "objects": schema.objects.keys().collect::<Vec<_>>(),
        "read_at": runtime.schema_read_at().await,
    })))
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
}

/// `GET /v1/customers/{customer}/audit?limit=N`: newest first.
async fn audit(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, Problem> {
    state
        .pipeline
        .config(&customer)
        .ok_or_else(|| unknown_customer(&customer))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state
        .pipeline
        .store()
        .audit(&customer, limit)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "entries": entries })))
}

/// `PUT /v1/plugins/{name}/{version}`: the component's bytes.
async fn upload_plugin(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
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
