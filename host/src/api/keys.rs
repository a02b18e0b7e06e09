//! Who is calling: the `/v1` middleware that turns a bearer key into a
//! [`Principal`] and refuses a route to a role or customer it is not for,
//! and the admin routes that create, list and revoke keys.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, RequestExt as _};
use serde_json::{Value, json};

use super::input::{self, ApiPath, json_object, refuse_unknown_keys};
use super::problem::Wire;
use super::requests::{bad_request, text};
use super::routes::internal;
use super::{AppState, Problem};
use crate::access::{self, Principal, Role, policy};

/// The keys of a new API key's request.
pub(super) const KEY_KEYS: &[&str] = &["name", "role", "customers"];

/// Largest key request: a name and a list of customers.
const MAX_KEY_BYTES: usize = super::requests::MAX_SMALL_BODY;

/// Finds the caller of a `/v1` request and refuses it when its role may not
/// call the route or its key is scoped to other customers. The caller is
/// left in the request's extensions for handlers that audit who acted.
pub(super) async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let principal = authenticate(&state, request.headers()).await?;
    let params: Vec<(String, String)> = request
        .extract_parts::<RawPathParams>()
        .await
        .map(|params| {
            let params = params.iter();
            params.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
        })
        .unwrap_or_default();
    // Under `nest("/v1", ...)` the matched path carries the prefix.
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().trim_start_matches("/v1").to_owned());
    let customer = params
        .iter()
        .find(|(name, _)| name == "customer")
        .map(|(_, value)| value.clone());

    if let Some(template) = &template {
        let roles = policy::allowed(request.method(), template);
        if !roles.contains(&principal.role) {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            tracing::info!(key = %principal.id, role = %principal.role, route = %template,
                "request refused to the key's role");
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "key `{}` has role `{}`; `{} {template}` needs {}",
                    principal.name,
                    principal.role,
                    request.method(),
                    input::quoted(&roles)
                ),
            ));
        }
    }
    if let Some(customer) = customer.filter(|c| !principal.may_act_for(c)) {
        tracing::info!(key = %principal.id, customer, "request refused outside the key's customers");
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden_customer",
            format!(
                "key `{}` acts for {} only, not for `{customer}`",
                principal.name,
                input::quoted(
                    &principal
                        .customers
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                )
            ),
        ));
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The caller presenting `headers`: the host's `CONDUIT_API_KEY`, a stored
/// key, or anyone on a host with neither.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, Problem> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::bearer_token);
    let store = state.pipeline.store();
    let Some(presented) = presented else {
        let open = state.api_key.is_none() && !store.has_api_keys().await.map_err(internal)?;
        return if open {
            Ok(Principal::open_host())
        } else {
            Err(unauthorized())
        };
    };
    if let Some(expected) = &state.api_key
        && super::constant_time_eq(presented.as_bytes(), expected.as_bytes())
    {
        return Ok(Principal::host_key());
    }
    // The lookup is by hash: comparing hashes of a 256-bit key leaks
    // nothing a timing attack could use.
    let stored = store
        .api_key_by_hash(&access::hash_key(presented))
        .await
        .map_err(internal)?;
    stored.map(|key| key.principal()).ok_or_else(unauthorized)
}

fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send an API key as `Authorization: Bearer KEY`",
    )
}

/// `POST /v1/keys`: `{"name": ..., "role": ..., "customers": [...]}`.
#[utoipa::path(
    post,
    path = "/keys",
    tag = "keys",
    request_body(content = super::docs::NewKey, description = "What the key is for"),
    responses(
        (status = 201, description = "The key, shown this once", body = super::docs::KeyCreated),
        (status = 400, description = "Not a key request", body = Wire),
        (status = 403, description = "Only admins manage keys", body = Wire),
        (status = 404, description = "A customer that does not exist", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    let body = input::body(body, MAX_KEY_BYTES)?;
    let (name, role, customers) = key_request(&body)?;
    for customer in &customers {
        state.customer_config(customer)?;
    }

    let (key, secret) = access::create_key(state.pipeline.store(), &actor, &name, role, customers)
        .await
        .map_err(internal)?;
    let mut answer = serde_json::to_value(&key).unwrap_or_default();
    answer["key"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The name, role and customers of a key request.
fn key_request(body: &[u8]) -> Result<(String, Role, Vec<String>), Problem> {
    let object = json_object(body)?;
    refuse_unknown_keys(&object, KEY_KEYS)?;
    let name = text(&object, "name")?;
    let role: Role = text(&object, "role")?
        .parse()
        .map_err(|e: String| bad_request(e).field("role"))?;
    let customers = match object.get("customers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad_request("`customers` must be a list of names").field("customers"))?,
        Some(_) => {
            return Err(bad_request("`customers` must be a list of names").field("customers"));
        }
    };
    if role == Role::Agent && customers.is_empty() {
        return Err(bad_request(
            "an `agent` key must list the customers it acts for in `customers`",
        )
        .field("customers"));
    }
    Ok((name, role, customers))
}

/// `GET /v1/keys`: every key, revoked ones included, without their secrets.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every key", body = super::docs::Keys),
        (status = 403, description = "Only admins manage keys", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let keys = state.pipeline.store().api_keys().await.map_err(internal)?;
    Ok(Json(json!({ "keys": keys })))
}

/// `DELETE /v1/keys/{id}`: the key stops working at once.
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Only admins manage keys", body = Wire),
        (status = 404, description = "No such key, or revoked already", body = Wire),
    ),
    security(("bearer" = []))
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    Extension(actor): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    let revoked = access::revoke_key(state.pipeline.store(), &actor, &id)
        .await
        .map_err(internal)?;
    if !revoked {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_key",
            format!("no unrevoked key `{id}`"),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The key routes, each with its OpenAPI operation.
pub(super) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::router::UtoipaMethodRouterExt as _;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create).layer(axum::extract::DefaultBodyLimit::max(MAX_KEY_BYTES)))
        .routes(routes!(list))
        .routes(routes!(revoke))
}
