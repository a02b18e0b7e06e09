//! The plugin lifecycle over HTTP: upload, list, approve, and per customer
//! activate, roll back and resume; and the operator audit of those steps.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{Value, json};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

use super::input::{self, ApiPath, json_object, refuse_unknown_keys};
use super::problem::Wire;
use super::requests::{self, bad_request, check_plugin_name, check_plugin_version, text};
use super::routes::{CustomerPath, internal};
use super::{AppState, Problem, docs};
use crate::access::Principal;
use crate::config::CustomerConfig;
use crate::lifecycle::Registry;
use crate::lifecycle::registry::Step;

/// Largest plugin component accepted. A Rust plugin is a few hundred KiB;
/// a Python one carries its interpreter and standard library, about 18 MiB.
pub(super) const MAX_PLUGIN_BYTES: usize = 32 * 1024 * 1024;

/// The keys of an activation.
pub(super) const ACTIVATION_KEYS: &[&str] = &["version"];

/// The plugin routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload).layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)))
        .routes(routes!(list))
        .routes(routes!(versions))
        .routes(routes!(approve))
        .routes(routes!(customer_plugin, activate))
        .routes(routes!(rollback))
        .routes(routes!(resume))
        .routes(routes!(operator_audit))
}

/// A refused or failed step as a problem.
fn problem(step: Step) -> Problem {
    match step {
        Step::Refused(refusal) => {
            let detail = match &refusal.report {
                Some(report) => format!("{}:\n{}", refusal.message, report.render()),
                None => refusal.message,
            };
            Problem::new(refusal.status, refusal.code, detail)
        }
        Step::Failed(error) => internal(error),
    }
}

/// `PUT /v1/plugins/{name}/{version}`: the component's bytes.
#[utoipa::path(
    put,
    path = "/plugins/{name}/{version}",
    tag = "plugins",
    params(
        ("name" = String, Path, description = "The plugin's package name"),
        ("version" = String, Path, description = "Its semantic version"),
    ),
    request_body(content = docs::Component, content_type = "application/wasm"),
    responses(
        (status = 201, description = "Vetted, its fixture cases passed, stored",
            body = docs::PluginUploaded),
        (status = 200, description = "The same bytes were uploaded before",
            body = docs::PluginUploaded),
        (status = 400, description = "A bad name or version", body = Wire),
        (status = 409, description = "The version exists with other bytes", body = Wire),
        (status = 413, description = "Over 32 MiB", body = Wire),
        (status = 422, description = "Not a component for this contract, an import \
            plugins may not have, or a fixture case that failed", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn upload(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath((name, version)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    check_plugin_name(&name)?;
    check_plugin_version(&version)?;
    let body = input::body(body, MAX_PLUGIN_BYTES)?;

    let uploaded = state
        .pipeline
        .plugins()
        .upload(&actor, &name, &version, body.to_vec())
        .await
        .map_err(problem)?;
    let status = if uploaded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(uploaded.version)))
}

/// `GET /v1/plugins`: every uploaded version.
#[utoipa::path(
    get,
    path = "/plugins",
    tag = "plugins",
    responses((status = 200, description = "Every version, by name", body = docs::PluginVersions)),
    security(("bearer" = []))
)]
async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let versions = state
        .pipeline
        .store()
        .plugin_versions(None)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "versions": versions })))
}

/// `GET /v1/plugins/{name}`: one plugin's versions.
#[utoipa::path(
    get,
    path = "/plugins/{name}",
    tag = "plugins",
    params(("name" = String, Path, description = "The plugin's package name")),
    responses(
        (status = 200, description = "Its versions, oldest first", body = docs::PluginVersions),
        (status = 404, description = "No version of it was uploaded", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn versions(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    check_plugin_name(&name)?;
    let versions = state
        .pipeline
        .store()
        .plugin_versions(Some(&name))
        .await
        .map_err(internal)?;
    if versions.is_empty() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_plugin",
            format!("no version of plugin `{name}` has been uploaded"),
        ));
    }
    Ok(Json(json!({ "versions": versions })))
}

/// `POST /v1/plugins/{name}/{version}/approve`: by anyone but its uploader.
#[utoipa::path(
    post,
    path = "/plugins/{name}/{version}/approve",
    tag = "plugins",
    params(
        ("name" = String, Path, description = "The plugin's package name"),
        ("version" = String, Path, description = "Its version"),
    ),
    responses(
        (status = 200, description = "Approved (or approved before)", body = docs::PluginUploaded),
        (status = 403, description = "The caller uploaded it", body = Wire),
        (status = 404, description = "No such version", body = Wire),
        (status = 409, description = "It carries no fixture cases", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn approve(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> Result<impl IntoResponse, Problem> {
    let approved = state
        .pipeline
        .plugins()
        .approve(&actor, &name, &version)
        .await
        .map_err(problem)?;
    Ok(Json(approved))
}

/// What runs for a customer, as the customer routes answer it.
async fn plugin_state(registry: &Registry, config: &CustomerConfig) -> Result<Value, Problem> {
    let history = registry.history(&config.customer).await.map_err(internal)?;
    let in_force = history.iter().find(|a| a.rolled_back_at.is_none());
    Ok(json!({
        "customer": config.customer,
        "plugin": config.plugin.as_ref().map(|p| &p.name),
        "version": config.plugin.as_ref().map(|p| &p.version),
        "source": if in_force.is_some() { "activation" } else { "config" },
        "paused": config
            .plugin
            .as_ref()
            .and_then(|p| registry.pause(&config.customer, &p.name, &p.version)),
        "history": history,
    }))
}

/// The answer of every customer plugin route: what runs for it now.
async fn answer_state(state: &AppState, customer: &str) -> Result<Json<Value>, Problem> {
    let config = state.customer_config(customer)?;
    Ok(Json(plugin_state(state.pipeline.plugins(), &config).await?))
}

/// `GET /v1/customers/{customer}/plugin`: the version in force, where it
/// comes from, any pause, and the activations newest first.
#[utoipa::path(
    get,
    path = "/customers/{customer}/plugin",
    tag = "plugins",
    params(CustomerPath),
    responses(
        (status = 200, description = "What runs for the customer", body = docs::CustomerPlugin),
        (status = 404, description = "No such customer", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn customer_plugin(
    State(state): State<AppState>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    answer_state(&state, &customer).await
}

/// `PUT /v1/customers/{customer}/plugin`: `{"version": "0.2.0"}` of the
/// plugin the customer's config names, approved; in force from the next
/// batch.
#[utoipa::path(
    put,
    path = "/customers/{customer}/plugin",
    tag = "plugins",
    params(CustomerPath),
    request_body(content = docs::Activation, description = "The version to run"),
    responses(
        (status = 200, description = "Activated", body = docs::CustomerPlugin),
        (status = 404, description = "No such customer or version", body = Wire),
        (status = 409, description = "Not approved, or no plugin in the config", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn activate(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath(customer): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let body = input::body(body, requests::MAX_SMALL_BODY)?;
    let object = json_object(&body)?;
    refuse_unknown_keys(&object, ACTIVATION_KEYS)?;
    let version = text(&object, "version")?;
    check_plugin_version(&version).map_err(|_| {
        bad_request(format!(
            "`version` must be a semantic version, not `{version}`"
        ))
        .field("version")
    })?;
    let registry = state.pipeline.plugins();
    let activated = registry.activate(&actor, &config, &version).await;
    activated.map_err(problem)?;
    answer_state(&state, &customer).await
}

/// `POST /v1/customers/{customer}/plugin/rollback`: the activation before
/// the newest, or the config's version, in force from the next batch.
#[utoipa::path(
    post,
    path = "/customers/{customer}/plugin/rollback",
    tag = "plugins",
    params(CustomerPath),
    responses(
        (status = 200, description = "Rolled back", body = docs::CustomerPlugin),
        (status = 404, description = "No such customer", body = Wire),
        (status = 409, description = "No activation to roll back", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn rollback(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    let config = state.customer_config(&customer)?;
    let rolled_back = state.pipeline.plugins().roll_back(&actor, &config).await;
    rolled_back.map_err(problem)?;
    answer_state(&state, &customer).await
}

/// `POST /v1/customers/{customer}/plugin/resume`: lifts the pause repeated
/// traps put on the customer's plugin.
#[utoipa::path(
    post,
    path = "/customers/{customer}/plugin/resume",
    tag = "plugins",
    params(CustomerPath),
    responses(
        (status = 200, description = "Resumed", body = docs::CustomerPlugin),
        (status = 404, description = "No such customer", body = Wire),
        (status = 409, description = "Not paused", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn resume(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath(customer): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    state.customer_config(&customer)?;
    let resumed = state.pipeline.plugins().resume(&actor, &customer).await;
    resumed.map_err(problem)?;
    answer_state(&state, &customer).await
}

/// The operator audit's query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "parsed by hand to name a bad value; this only describes it"
)]
pub(super) struct OperatorAuditQuery {
    /// Only steps about this customer (and those about no customer).
    customer: Option<String>,
    /// Only steps about this plugin.
    plugin: Option<String>,
    /// How many steps, newest first (default 100, at most 1,000).
    limit: Option<i64>,
}

/// `GET /v1/audit`: who uploaded, approved, activated, rolled back, paused
/// and resumed plugins and created and revoked keys, newest first.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "plugins",
    params(OperatorAuditQuery),
    responses(
        (status = 200, description = "Steps, newest first", body = docs::OperatorAudit),
        (status = 400, description = "A bad query parameter", body = Wire),
    ),
    security(("bearer" = []))
)]
async fn operator_audit(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    let (mut customer, plugin, limit) = requests::operator_audit_query(query.as_deref())?;
    if let Some(wanted) = &customer
        && !actor.may_act_for(wanted)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden_customer",
            format!("key `{}` does not act for `{wanted}`", actor.name),
        ));
    }
    // A scoped key sees its own customer's steps, never another's.
    if customer.is_none() && actor.customers.len() == 1 {
        customer = actor.customers.first().cloned();
    } else if customer.is_none() && !actor.customers.is_empty() {
        return Err(
            bad_request("this key acts for several customers: name one with `customer=`")
                .field("customer"),
        );
    }
    let events = state
        .pipeline
        .store()
        .operator_audit(customer.as_deref(), plugin.as_deref(), limit)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "events": events })))
}
