//! The read side over HTTP: the change feed the agent pulls, each object's
//! read progress, an on-demand run, and webhook deliveries with replay.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::input::{ApiPath, quoted};
use super::problem::Wire;
use super::requests::{bad_request, limit};
use super::routes::{CustomerPath, internal};
use super::{AppState, Problem, docs};
use crate::schedule::RunError;
use crate::store::{decode_cursor, timestamp};
use crate::sync;

/// The routes of this module.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(changes))
        .routes(routes!(reads))
        .routes(routes!(run))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
        .routes(routes!(replay_changes))
}

/// The feed's query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
struct FeedQuery {
    /// The `cursor` of the last change already taken; from the first
    /// change when left out.
    after: Option<String>,
    /// How many changes (default 100, at most 1,000).
    limit: Option<i64>,
}

/// `GET /v1/customers/{customer}/changes?after=CURSOR&limit=N`.
#[utoipa::path(
    get,
    path = "/customers/{customer}/changes",
    tag = "reads",
    params(CustomerPath, FeedQuery),
    responses(
        (status = 200, description = "Changes after the cursor, oldest first, and the cursor \
            to pass next", body = docs::Feed),
        (status = 400, description = "A bad cursor or limit", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn changes(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let (mut after, mut count, mut given) = (0, 100, None);
    for (key, value) in parse(query.as_deref()) {
        match key.as_str() {
            "after" => {
                after = cursor(&value, "after")?;
                given = Some(value);
            }
            "limit" => count = limit(&value)?,
            _ => return Err(unknown(&key, &["after", "limit"])),
        }
    }
    // Every cursor the feed gives out is one of this customer's changes: any
    // other number would silently skip changes or read another's position.
    let store = state.pipeline.store();
    if after > 0
        && store
            .change(&customer, after)
            .await
            .map_err(internal)?
            .is_none()
    {
        let value = given.unwrap_or_default();
        return Err(bad_request(format!(
            "`after` must be a cursor the feed of `{customer}` gave out, not `{value}`"
        ))
        .field("after"));
    }
    let changes = store
        .changes(&customer, after, count)
        .await
        .map_err(internal)?;
    // With nothing new, the agent keeps its cursor.
    let next = changes.last().map(|c| c.cursor.clone()).or(given);
    Ok(Json(json!({ "changes": changes, "next": next })))
}

/// `GET /v1/customers/{customer}/reads`: per object, cursor, mode, counts,
/// last run and last error.
#[utoipa::path(
    get,
    path = "/customers/{customer}/reads",
    tag = "reads",
    params(CustomerPath),
    responses(
        (status = 200, description = "Each read object's progress", body = docs::Reads),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn reads(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let cursors = state
        .pipeline
        .store()
        .read_cursors(&customer)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "objects": cursors })))
}

/// The on-demand run's query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
struct RunQuery {
    /// `true`: read every object again from `since`, or from the
    /// beginning; records the agent already knows as they are stay out of
    /// the feed.
    backfill: Option<bool>,
    /// With `backfill`: where to start (RFC 3339).
    since: Option<String>,
}

/// `POST /v1/customers/{customer}/reads/run`: read every mapped object now.
#[utoipa::path(
    post,
    path = "/customers/{customer}/reads/run",
    tag = "reads",
    params(CustomerPath, RunQuery),
    responses(
        (status = 200, description = "What the run read, per object", body = docs::ReadRun),
        (status = 400, description = "A bad parameter", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
        (status = 409, description = "The customer cannot be read yet", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn run(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let (mut backfill, mut since) = (false, None);
    for (key, value) in parse(query.as_deref()) {
        match key.as_str() {
            "backfill" => {
                backfill = value.parse().map_err(|_| {
                    bad_request(format!("`backfill` is `true` or `false`, not `{value}`"))
                        .field("backfill")
                })?;
            }
            "since" => since = Some(time(&value, "since")?),
            _ => return Err(unknown(&key, &["backfill", "since"])),
        }
    }
    if since.is_some() && !backfill {
        return Err(bad_request("`since` starts a backfill: add `backfill=true`").field("since"));
    }
    // A start in the future would park every cursor past changes that
    // have not happened yet, and read nothing until then.
    if since.is_some_and(|since| since > Utc::now()) {
        return Err(
            bad_request("`since` is in the future; nothing has changed there yet").field("since"),
        );
    }

    // The scheduled `reads` task's lease, so that no replica reads this
    // customer at the same time and the feed gets each change once.
    let pipeline = &state.pipeline;
    let lease = super::schedule::take_lease(
        pipeline.store(),
        sync::TASK,
        &customer,
        "reads_running",
        format!("the reads of `{customer}` are running now; try again shortly"),
    )
    .await?;

    let reads = async {
        if backfill {
            sync::start_backfill(pipeline, &customer, since).await?;
        }
        sync::run_reads(pipeline, &customer).await
    };
    let report = lease.run(reads, None).await.map_err(|e| {
        let e = match e {
            RunError::Failed(e) => e,
            RunError::LostLease => anyhow::anyhow!("the reads lost their lease"),
        };
        tracing::debug!(customer, error = %format!("{e:#}"), "reads cannot run");
        Problem::new(StatusCode::CONFLICT, "reads_unavailable", format!("{e:#}"))
    })?;
    Ok(Json(report))
}

/// The deliveries listing's query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `delivered` or `dead`.
    state: Option<String>,
    /// How many, newest first (default 100, at most 1,000).
    limit: Option<i64>,
}

/// `GET /v1/customers/{customer}/webhooks/deliveries?state=dead`.
#[utoipa::path(
    get,
    path = "/customers/{customer}/webhooks/deliveries",
    tag = "reads",
    params(CustomerPath, DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = docs::Deliveries),
        (status = 400, description = "A bad parameter", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn deliveries(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let (mut wanted, mut count) = (None, 100);
    for (key, value) in parse(query.as_deref()) {
        match key.as_str() {
            "state" if ["pending", "delivered", "dead"].contains(&value.as_str()) => {
                wanted = Some(value);
            }
            "state" => {
                return Err(bad_request(format!(
                    "`state` is `pending`, `delivered` or `dead`, not `{value}`"
                ))
                .field("state"));
            }
            "limit" => count = limit(&value)?,
            _ => return Err(unknown(&key, &["state", "limit"])),
        }
    }
    let found = state
        .pipeline
        .store()
        .deliveries(&customer, wanted.as_deref(), count)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "deliveries": found })))
}

/// A customer and a delivery id, from the path.
#[derive(utoipa::IntoParams)]
#[into_params(names("customer", "id"), parameter_in = Path)]
#[allow(dead_code, reason = "axum reads the path; this only describes it")]
struct DeliveryPath(
    /// The customer, as its config file names it.
    String,
    /// The delivery's id.
    i64,
);

/// `POST /v1/customers/{customer}/webhooks/deliveries/{id}/replay`.
#[utoipa::path(
    post,
    path = "/customers/{customer}/webhooks/deliveries/{id}/replay",
    tag = "reads",
    params(DeliveryPath),
    responses(
        (status = 202, description = "Queued to be sent again from its first attempt"),
        (status = 404, description = "No such customer or delivery", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn replay(
    State(state): State<AppState>,
    ApiPath((customer, id)): ApiPath<(String, String)>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let missing = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_delivery",
            format!("customer `{customer}` has no delivery `{id}`"),
        )
    };
    let number: i64 = id.parse().map_err(|_| missing())?;
    let now = timestamp(Utc::now());
    let found = state
        .pipeline
        .store()
        .replay_delivery(&customer, number, &now)
        .await
        .map_err(internal)?;
    if !found {
        return Err(missing());
    }
    tracing::info!(customer, delivery = number, "delivery replayed");
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": number }))))
}

/// The replay's query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
struct ReplayQuery {
    /// Required: the feed cursor after which every change is sent again,
    /// to every webhook that takes it.
    after: String,
}

/// `POST /v1/customers/{customer}/webhooks/replay?after=CURSOR`.
#[utoipa::path(
    post,
    path = "/customers/{customer}/webhooks/replay",
    tag = "reads",
    params(CustomerPath, ReplayQuery),
    responses(
        (status = 202, description = "`enqueued`: the deliveries queued"),
        (status = 400, description = "No or a bad cursor", body = Wire),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn replay_changes(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let mut after = None;
    for (key, value) in parse(query.as_deref()) {
        match key.as_str() {
            "after" => after = Some(cursor(&value, "after")?),
            _ => return Err(unknown(&key, &["after"])),
        }
    }
    let after = after.ok_or_else(|| {
        bad_request("`after` is required: the cursor after which changes are sent again")
            .field("after")
    })?;
    let hooks: Vec<_> = config
        .webhooks
        .iter()
        .map(|w| (w.url.clone(), w.entities.clone()))
        .collect();
    let now = timestamp(Utc::now());
    let enqueued = state
        .pipeline
        .store()
        .replay_changes(&customer, after, &hooks, &now)
        .await
        .map_err(internal)?;
    tracing::info!(customer, enqueued, "changes replayed to webhooks");
    Ok((StatusCode::ACCEPTED, Json(json!({ "enqueued": enqueued }))))
}

fn parse(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn cursor(value: &str, key: &str) -> Result<i64, Problem> {
    decode_cursor(value).ok_or_else(|| {
        bad_request(format!(
            "`{key}` must be a `cursor` the feed gave out, not `{value}`"
        ))
        .field(key)
    })
}

fn time(value: &str, key: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad_request(format!(
                "`{key}` must be an RFC 3339 time such as 2026-01-31T09:00:00Z, not `{value}`"
            ))
            .field(key)
        })
}

fn unknown(key: &str, accepted: &[&str]) -> Problem {
    bad_request(format!(
        "unknown query parameter `{key}`; accepted: {}",
        quoted(accepted)
    ))
    .field(key)
}
