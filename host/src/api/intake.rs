//! Jobs and outcomes by key: a large submission stored at once and run in
//! the background, its progress and its per-record results; and what became
//! of any write the agent sent with an idempotency key.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::input::{self, ApiPath, quoted};
use super::problem::Wire;
use super::requests::{self, bad_request};
use super::routes::{CustomerPath, internal};
use super::{AppState, MAX_JOB, Problem, docs};
use crate::access::Principal;
use crate::store::{JobCounts, JobItem, JobRecord, StoredOutcome};

/// Largest job request: room for [`MAX_JOB`] records of a few hundred
/// bytes, the size agents send.
const MAX_JOB_BYTES: usize = 64 * 1024 * 1024;

/// The query parameters of a job's results.
const RESULT_PARAMETERS: &[&str] = &["after", "limit"];

/// The intake routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit).layer(DefaultBodyLimit::max(MAX_JOB_BYTES)))
        .routes(routes!(job))
        .routes(routes!(results))
        .routes(routes!(outcome))
}

/// A job as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Job {
    /// The job's id.
    id: String,
    /// `queued` (nothing finished yet), `running` or `done` (every record
    /// has its final outcome).
    #[schema(example = "running")]
    state: &'static str,
    /// Records and activities, by outcome.
    counts: Counts,
    /// The share of records with a final outcome, from 0 to 1.
    progress: f64,
    /// Who submitted it.
    created_by: String,
    /// When (RFC 3339).
    created_at: String,
}

/// A job's records by outcome.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Counts {
    /// Every record and activity of the job.
    total: i64,
    /// Created, updated or found unchanged.
    done: i64,
    /// Failed for good: see each result's `error`.
    failed: i64,
    /// Not run yet, running, or deferred until the CRM takes writes again.
    pending: i64,
}

impl Job {
    fn new(job: JobRecord, counts: JobCounts) -> Self {
        let finished = counts.done + counts.failed;
        let state = match (finished, counts.pending) {
            (_, 0) => "done",
            (0, _) => "queued",
            _ => "running",
        };
        let progress = if job.total == 0 {
            1.0
        } else {
            finished as f64 / job.total as f64
        };
        Job {
            id: job.id,
            state,
            counts: Counts {
                total: job.total,
                done: counts.done,
                failed: counts.failed,
                pending: counts.pending,
            },
            progress,
            created_by: job.created_by,
            created_at: job.created_at,
        }
    }
}

/// One page of a job's results.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JobResults {
    /// Per record, in the job's order: the result as a write answers it
    /// (`index` is the record's position in the job, activities after
    /// records), or `{"index", "status": "pending"}` while it has none.
    #[schema(value_type = Vec<Object>)]
    results: Vec<serde_json::Value>,
    /// The `after` of the next page; absent on the last one.
    next_after: Option<i64>,
}

/// What became of a write with an idempotency key.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WriteOutcome {
    /// The key asked for.
    idempotency_key: String,
    /// `pending` (accepted, not final yet) or `done`.
    #[schema(example = "done")]
    state: &'static str,
    /// The per-record result, once done: as the write answered it.
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    /// While pending: not run before this time (RFC 3339).
    not_before: Option<String>,
    /// How many times it was taken to run.
    attempts: i64,
    /// While pending after a deferral: why it waits (a per-record error,
    /// with `retry_at`).
    #[schema(value_type = Option<Object>)]
    last_error: Option<serde_json::Value>,
}

/// `POST /v1/customers/{customer}/jobs`: a submission run in the
/// background.
#[utoipa::path(
    post,
    path = "/customers/{customer}/jobs",
    tag = "writes",
    params(CustomerPath),
    request_body(content = docs::JobRequest, description = "Write intents, up to 100,000"),
    responses(
        (status = 202, description = "Stored; the job runs in the background. `Location` \
            names it.", body = Job),
        (status = 400, description = "The request is not a job request", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
        (status = 413, description = "More than 100,000 records", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn submit(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath(customer): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let body = input::body(body, MAX_JOB_BYTES)?;
    let request = requests::write_request(&body, MAX_JOB)?;
    if request.dry_run {
        return Err(bad_request(
            "a dry run is answered at once: send it to `POST /v1/customers/{customer}/writes`",
        )
        .field("dry_run"));
    }

    let mut intents: Vec<_> = request.records.iter().map(requests::write_intent).collect();
    intents.extend(
        request
            .activities
            .iter()
            .map(|a| requests::activity_intent(&config, a)),
    );
    let job = state
        .pipeline
        .submit_job(&config, intents, &actor.who())
        .await
        .map_err(internal)?;

    let location = format!("/v1/customers/{customer}/jobs/{}", job.id);
    let counts = JobCounts {
        pending: job.total,
        ..JobCounts::default()
    };
    let answer = Job::new(job, counts);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(answer),
    ))
}

/// `GET /v1/customers/{customer}/jobs/{job}`: state and progress.
#[utoipa::path(
    get,
    path = "/customers/{customer}/jobs/{job}",
    tag = "writes",
    params(CustomerPath, JobPath),
    responses(
        (status = 200, description = "The job's state and counts", body = Job),
        (status = 404, description = "No such customer or job", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn job(
    State(state): State<AppState>,
    ApiPath((customer, id)): ApiPath<(String, String)>,
) -> Result<Json<Job>, Problem> {
    state.customer_config(&customer)?;
    let (job, counts) = state
        .pipeline
        .store()
        .job(&customer, &id)
        .await
        .map_err(internal)?
        .ok_or_else(|| unknown_job(&customer, &id))?;
    Ok(Json(Job::new(job, counts)))
}

/// `GET /v1/customers/{customer}/jobs/{job}/results?after=&limit=`: the
/// per-record results, in the job's order, a page at a time.
#[utoipa::path(
    get,
    path = "/customers/{customer}/jobs/{job}/results",
    tag = "writes",
    params(CustomerPath, JobPath, ResultsQuery),
    responses(
        (status = 200, description = "A page of results", body = JobResults),
        (status = 400, description = "A bad query parameter", body = Wire),
        (status = 404, description = "No such customer or job", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn results(
    State(state): State<AppState>,
    ApiPath((customer, id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<JobResults>, Problem> {
    state.customer_config(&customer)?;
    let (after, limit) = results_query(query.as_deref())?;
    let store = state.pipeline.store();
    if store.job(&customer, &id).await.map_err(internal)?.is_none() {
        return Err(unknown_job(&customer, &id));
    }

    let items = store
        .job_results(&customer, &id, after, limit)
        .await
        .map_err(internal)?;
    let next_after = match items.last() {
        Some(last) if items.len() as i64 == limit => Some(last.ordinal),
        _ => None,
    };
    let results = items.into_iter().map(item_answer).collect();
    Ok(Json(JobResults {
        results,
        next_after,
    }))
}

/// `GET /v1/customers/{customer}/writes/{idempotency_key}`: the outcome of
/// the write sent with this key.
#[utoipa::path(
    get,
    path = "/customers/{customer}/writes/{idempotency_key}",
    tag = "writes",
    params(CustomerPath, KeyPath),
    responses(
        (status = 200, description = "Pending, or the stored per-record result",
            body = WriteOutcome),
        (status = 404, description = "No such customer, or no write with this key", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn outcome(
    State(state): State<AppState>,
    ApiPath((customer, key)): ApiPath<(String, String)>,
) -> Result<Json<WriteOutcome>, Problem> {
    state.customer_config(&customer)?;
    let stored = state
        .pipeline
        .store()
        .outcome(&customer, &key)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown_idempotency_key",
                format!("customer `{customer}` has no write with idempotency key `{key}`"),
            )
            .field("idempotency_key")
        })?;
    Ok(Json(outcome_answer(key, stored)))
}

fn outcome_answer(key: String, stored: StoredOutcome) -> WriteOutcome {
    let done = stored.result.is_some();
    WriteOutcome {
        idempotency_key: key,
        state: if done { "done" } else { "pending" },
        result: stored.result,
        not_before: stored.not_before.filter(|_| stored.resumable),
        attempts: stored.attempts,
        last_error: stored.last_error.filter(|_| !done),
    }
}

/// A job's record as its listing shows it.
fn item_answer(item: JobItem) -> serde_json::Value {
    let Some(mut result) = item.result else {
        let key = item
            .intent
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|stored| {
                stored["intent"]["idempotency_key"]
                    .as_str()
                    .map(str::to_owned)
            });
        let mut pending = serde_json::json!({ "index": item.ordinal, "status": "pending" });
        if let Some(key) = key {
            pending["idempotency_key"] = key.into();
        }
        return pending;
    };
    // A record following an earlier intent's outcome answers it in its own
    // position, as a replay.
    if item.replayed {
        result["index"] = item.ordinal.into();
        result["replayed"] = true.into();
    }
    result
}

fn unknown_job(customer: &str, id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown_job",
        format!("customer `{customer}` has no job `{id}`"),
    )
    .field("job")
}

/// `?after=N&limit=M`: results after position N (from the start unless
/// given), M of them (100 unless given, at most 1,000).
fn results_query(query: Option<&str>) -> Result<(i64, i64), Problem> {
    let (mut after, mut limit) = (-1, 100);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let number = |min: i64| {
            value
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| {
                    bad_request(format!(
                        "query parameter `{key}` must be a whole number from {min}, not `{value}`"
                    ))
                    .field(&key)
                })
        };
        match key.as_ref() {
            "after" => after = number(0)?,
            "limit" => limit = number(1)?.min(1000),
            _ => {
                return Err(bad_request(format!(
                    "unknown query parameter `{key}`; accepted: {}",
                    quoted(RESULT_PARAMETERS)
                ))
                .field(&key));
            }
        }
    }
    Ok((after, limit))
}

/// The `{job}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(names("job"), parameter_in = Path)]
#[allow(dead_code, reason = "axum reads the path; this only describes it")]
pub(super) struct JobPath(
    /// The job's id, as its submission answered it.
    String,
);

/// The `{idempotency_key}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(names("idempotency_key"), parameter_in = Path)]
#[allow(dead_code, reason = "axum reads the path; this only describes it")]
pub(super) struct KeyPath(
    /// The key the record or activity was sent with.
    String,
);

/// A job's results' query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
pub(super) struct ResultsQuery {
    /// Only results after this position (the `next_after` of the page
    /// before).
    after: Option<i64>,
    /// How many results (default 100, at most 1,000).
    limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_results_query_reads_after_and_limit() -> Result<(), Problem> {
        assert_eq!(results_query(None)?, (-1, 100));
        assert_eq!(results_query(Some("after=199&limit=50"))?, (199, 50));
        assert_eq!(results_query(Some("limit=5000"))?, (-1, 1000));
        for bad in ["after=-1", "limit=0", "after=x", "page=2"] {
            assert!(results_query(Some(bad)).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn a_job_is_done_when_nothing_is_pending() {
        let job = |done, failed, pending| {
            let record = JobRecord {
                id: "j".into(),
                customer: "c".into(),
                total: done + failed + pending,
                created_by: "a".into(),
                created_at: "t".into(),
            };
            Job::new(
                record,
                JobCounts {
                    done,
                    failed,
                    pending,
                },
            )
        };
        assert_eq!(job(0, 0, 4).state, "queued");
        assert_eq!(job(1, 1, 2).state, "running");
        assert_eq!(job(1, 1, 2).progress, 0.5);
        assert_eq!(job(3, 1, 0).state, "done");
    }
}
