//! A HubSpot CRM v3 simulator: OAuth (authorize, code and refresh grants, revoke) and private
//! app tokens, properties and pipelines, objects (engagements included) with batch and
//! search, v4 associations and owners, with HubSpot's validation errors. Every token belongs to a user, and records record
//! who created and last updated them (`hs_created_by_user_id`, `hs_updated_by_user_id`).

mod engagements;
mod limits;
mod lookup;
mod oauth;
mod objects;
mod profile;
mod properties;
mod schemas;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;

pub use crate::{Faults, LoggedRequest, OAuthClient, Sim};
pub use limits::RateLimits;
pub use objects::AssociationLabel;
pub use profile::{CustomProperty, Profile, ProfileOwner};
pub use schemas::{CustomObjectSchema, Labels};

use crate::faults::{FaultPlan, Refusal};
use crate::index::ValueIndex;
use crate::request_log::RequestLog;
use properties::Property;

/// A stored CRM object as tests see it.
#[derive(Debug, Clone, PartialEq)]
pub struct HubspotRecord {
    /// The object id.
    pub id: String,
    /// Every property value, as strings as in v3.
    pub properties: Map<String, Value>,
    /// Associations: (to object type, to id, association type id).
    pub associations: Vec<(String, String, u32)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    record: HubspotRecord,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Owner {
    id: String,
    user_id: String,
    email: String,
    first: String,
    last: String,
    created_at: String,
}

#[derive(Debug)]
pub(crate) struct PortalState {
    properties: BTreeMap<String, Vec<Property>>,
    pipelines: Vec<Value>,
    records: BTreeMap<String, BTreeMap<u64, Stored>>,
    /// Archived records with when they were archived, per object type: listed with
    /// `archived=true`, found by no other call.
    archived: BTreeMap<String, BTreeMap<u64, (Stored, String)>>,
    /// Record ids by unique property values, per object type.
    index: HashMap<String, ValueIndex<u64>>,
    owners: Vec<Owner>,
    tokens: oauth::Tokens,
    /// The `userId` of the integration user, who holds the profile's refresh tokens and
    /// the private app tokens; not an owner.
    integration_user: u64,
    /// The `userId` the call being served runs as; `None` for the Rust API.
    actor: Option<u64>,
    clients: Vec<OAuthClient>,
    ttl: Duration,
    next_id: u64,
    /// Properties a create must set, per object type (`hs_timestamp` on engagements).
    required: BTreeMap<String, Vec<String>>,
    /// The custom object types.
    custom_types: Vec<String>,
    /// The portal's own association labels.
    labels: Vec<objects::AssociationLabel>,
}

/// A simulated HubSpot portal.
#[derive(Debug)]
pub struct Org {
    state: Mutex<PortalState>,
    log: RequestLog,
    faults: FaultPlan,
    limiter: limits::Limiter,
    /// The profile's custom objects, in declaration order (their ids follow it).
    custom_objects: Vec<CustomObjectSchema>,
}

/// The integration user's `userId`; owners' `userId`s start after it.
const INTEGRATION_USER: u64 = 9_000_000;

/// The object types the simulator has.
pub(crate) const OBJECT_TYPES: [&str; 8] = [
    "companies",
    "contacts",
    "deals",
    "calls",
    "emails",
    "meetings",
    "notes",
    "tasks",
];

/// Starts a simulated portal from `profile` on `addr` (use port 0 for any free port).
pub async fn serve(profile: Profile, addr: SocketAddr) -> anyhow::Result<Sim<Org>> {
    let (listener, base_url) = crate::server::bind(addr).await?;
    let org = Arc::new(Org::new(&profile)?);
    let api = Router::new()
        .route("/crm/v3/properties/{object_type}", get(list_properties))
        .route("/crm/v3/pipelines/deals", get(list_pipelines))
        .route("/crm/v3/schemas", get(schemas::list))
        .route("/crm/v3/schemas/{object_type}", get(schemas::get))
        .route("/crm/v3/owners", get(list_owners))
        .route("/crm/v3/owners/", get(list_owners))
        .route(
            "/crm/v3/objects/{object_type}",
            get(objects::list).post(objects::create),
        )
        .route(
            "/crm/v3/objects/{object_type}/{id}",
            get(objects::get)
                .patch(objects::update)
                .delete(objects::archive),
        )
        .route(
            "/crm/v3/objects/{object_type}/batch/read",
            post(objects::batch_read),
        )
        .route(
            "/crm/v3/objects/{object_type}/batch/create",
            post(objects::batch_create),
        )
        .route(
            "/crm/v3/objects/{object_type}/batch/update",
            post(objects::batch_update),
        )
        .route(
            "/crm/v3/objects/{object_type}/batch/upsert",
            post(objects::batch_upsert),
        )
        .route(
            "/crm/v3/objects/{object_type}/search",
            post(objects::search),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/{to}",
            get(objects::list_associations),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}",
            put(objects::associate_default),
        )
        .route(
            "/crm/v4/objects/{from}/{id}/associations/{to}/{to_id}",
            put(objects::associate_labeled),
        )
        .route(
            "/crm/v4/associations/{from}/{to}/batch/create",
            post(objects::batch_associate),
        )
        .route(
            "/crm/v4/associations/{from}/{to}/labels",
            get(objects::list_labels),
        )
        .route_layer(middleware::from_fn_with_state(
            org.clone(),
            oauth::require_token,
        ));
    let router = Router::new()
        .merge(api)
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/oauth/v1/token", post(oauth::token))
        .route("/oauth/v1/refresh-tokens/{token}", delete(oauth::revoke))
        .route("/oauth/v1/access-tokens/{token}", get(oauth::token_info))
        .route(
            "/__sim/requests",
            get(|State(org): State<Arc<Org>>| async move { Json(org.requests()) }),
        )
        .route("/__sim/owners", post(admin_add_owner))
        .route("/__sim/faults", put(admin_set_faults).get(admin_faults))
        .route("/__sim/rate-limits", put(admin_set_rate_limits))
        .layer(middleware::from_fn_with_state(org.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(org.clone(), inject_faults))
        .layer(middleware::from_fn_with_state(org.clone(), log_request))
        .with_state(org.clone());
    let aliases = schemas::aliases(&profile.custom_objects);
    let router = Router::new()
        .fallback_service(router.map_request(move |request| schemas::rewrite(&aliases, request)));
    Ok(crate::server::spawn(listener, base_url, router, org))
}

async fn log_request(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    if !path.starts_with("/__sim/") {
        let user = response.extensions().get::<oauth::Caller>();
        let user = user.map(|c| c.0.to_string());
        org.log
            .record(&method, &path, response.status().as_u16(), user);
    }
    response
}

/// Runs every call through the portal's fault plan: a throttled call answers the
/// ten-second limit's 429, a failed one a server error.
async fn inject_faults(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    org.faults
        .apply(request, next, |refusal| match refusal {
            Refusal::Throttled => limits::too_many(limits::Policy::TenSecondly),
            Refusal::Failed(status) => error(
                status,
                "INTERNAL_ERROR",
                "Internal error, please try again later",
                Map::new(),
            ),
        })
        .await
}

/// Counts each CRM call against its token's rate limits; one over answers 429 and is not
/// served. Answers carry HubSpot's `X-HubSpot-RateLimit-*` headers while a limit is on.
async fn rate_limit(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/crm/") {
        return next.run(request).await;
    }
    let search = path.ends_with("/search");
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let room = match org.limiter.take(&token, search) {
        Ok(room) => room,
        Err(policy) => return limits::too_many(policy),
    };
    let mut response = next.run(request).await;
    if let Some((max, remaining)) = room {
        let headers = response.headers_mut();
        for (name, value) in [
            ("X-HubSpot-RateLimit-Interval-Milliseconds", 10_000),
            ("X-HubSpot-RateLimit-Max", max),
            ("X-HubSpot-RateLimit-Remaining", remaining),
        ] {
            headers.insert(name, value.into());
        }
    }
    response
}

async fn admin_set_faults(State(org): State<Arc<Org>>, body: Bytes) -> (StatusCode, Json<Value>) {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            org.set_faults(faults);
            (StatusCode::NO_CONTENT, Json(Value::Null))
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn admin_faults(State(org): State<Arc<Org>>) -> Json<Faults> {
    Json(org.faults())
}

async fn admin_set_rate_limits(
    State(org): State<Arc<Org>>,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    match serde_json::from_slice::<RateLimits>(&body) {
        Ok(limits) => {
            org.limiter.set(limits);
            (StatusCode::NO_CONTENT, Json(Value::Null))
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

/// A HubSpot error body with a fresh correlation id.
pub(crate) fn error(
    status: StatusCode,
    category: &str,
    message: impl Into<String>,
    extra: Map<String, Value>,
) -> Response {
    let mut body = json!({
        "status": "error", "message": message.into(),
        "correlationId": uuid::Uuid::new_v4().to_string(), "category": category,
    });
    if let Some(body) = body.as_object_mut() {
        body.extend(extra);
    }
    (status, Json(body)).into_response()
}

async fn list_properties(State(org): State<Arc<Org>>, Path(object_type): Path<String>) -> Response {
    match org.with_state(|s| {
        s.properties
            .get(&object_type)
            .map(|p| p.iter().map(|p| p.v3.clone()).collect::<Vec<_>>())
    }) {
        Some(results) => Json(json!({ "results": results })).into_response(),
        None => error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Unable to infer object type from: {object_type}"),
            Map::new(),
        ),
    }
}

async fn list_pipelines(State(org): State<Arc<Org>>) -> Json<Value> {
    Json(json!({ "results": org.with_state(|s| s.pipelines.clone()) }))
}

fn owner_json(o: &Owner) -> Value {
    json!({
        "id": o.id,
        "email": o.email,
        "firstName": o.first,
        "lastName": o.last,
        "userId": o.user_id.parse::<u64>().unwrap_or(0),
        "createdAt": o.created_at,
        "updatedAt": o.created_at,
        "archived": false
    })
}

/// `GET /crm/v3/owners?email=..&limit=..&after=..`.
async fn list_owners(
    State(org): State<Arc<Org>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let after = q
        .get("after")
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0);
    let owners: Vec<Value> = org.with_state(|s| {
        s.owners
            .iter()
            .filter(|o| {
                q.get("email")
                    .is_none_or(|e| o.email.eq_ignore_ascii_case(e))
            })
            .map(owner_json)
            .collect()
    });
    let page: Vec<Value> = owners.iter().skip(after).take(limit).cloned().collect();
    let mut body = json!({ "results": page });
    if after + limit < owners.len() {
        body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    Json(body)
}

async fn admin_add_owner(State(org): State<Arc<Org>>, body: Bytes) -> (StatusCode, Json<Value>) {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    match (field("email"), field("firstName"), field("lastName")) {
        (Some(email), Some(first), Some(last)) => (
            StatusCode::CREATED,
            Json(json!({"id": org.add_owner(&email, &first, &last)})),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "expected {email, firstName, lastName}"})),
        ),
    }
}

impl Org {
    fn new(profile: &Profile) -> anyhow::Result<Self> {
        let pipelines = properties::pipelines()?;
        let mut props = BTreeMap::new();
        let custom_types: Vec<String> = profile
            .custom_objects
            .iter()
            .map(|o| o.name.clone())
            .collect();
        let types: Vec<String> = OBJECT_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .chain(custom_types.iter().cloned())
            .collect();
        let declared: Vec<CustomProperty> = profile
            .custom_objects
            .iter()
            .flat_map(CustomObjectSchema::custom_properties)
            .chain(profile.custom_properties.iter().cloned())
            .collect();
        if let Some(c) = declared.iter().find(|c| !types.contains(&c.object_type)) {
            anyhow::bail!(
                "custom property `{}` is on `{}`, which the simulator does not have",
                c.name,
                c.object_type
            );
        }
        let mut required = BTreeMap::new();
        for object_type in &types {
            let custom: Vec<&CustomProperty> = declared
                .iter()
                .filter(|c| &c.object_type == object_type)
                .collect();
            props.insert(
                object_type.clone(),
                properties::load(object_type, &custom, &pipelines)?,
            );
            if engagements::is_engagement(object_type) {
                required.insert(object_type.clone(), vec!["hs_timestamp".to_owned()]);
            }
        }
        for object in &profile.custom_objects {
            required.insert(object.name.clone(), object.required_properties.clone());
        }
        let mut state = PortalState {
            properties: props,
            pipelines,
            records: BTreeMap::new(),
            archived: BTreeMap::new(),
            index: HashMap::new(),
            owners: Vec::new(),
            tokens: oauth::Tokens::default(),
            integration_user: INTEGRATION_USER,
            actor: None,
            clients: profile.oauth_clients.clone(),
            ttl: Duration::from_secs(profile.token_ttl_seconds),
            required,
            custom_types,
            labels: profile.association_labels.clone(),
            next_id: 1001,
        };
        for client in &profile.oauth_clients {
            let (id, token) = (&client.client_id, &client.refresh_token);
            state.tokens.insert_refresh(id, INTEGRATION_USER, token);
        }
        for token in &profile.private_app_tokens {
            state.tokens.insert_private_app(INTEGRATION_USER, token);
        }
        let org = Self {
            state: Mutex::new(state),
            log: RequestLog::default(),
            faults: FaultPlan::new(profile.faults.clone()),
            limiter: limits::Limiter::new(profile.rate_limits.clone()),
            custom_objects: profile.custom_objects.clone(),
        };
        for owner in &profile.owners {
            org.add_owner(&owner.email, &owner.first_name, &owner.last_name);
        }
        Ok(org)
    }

    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut PortalState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Runs `f` with the state locked, as `caller`: what it writes carries their `userId`.
    pub(crate) fn with_caller<T>(
        &self,
        caller: oauth::Caller,
        f: impl FnOnce(&mut PortalState) -> T,
    ) -> T {
        self.with_state(|s| {
            s.actor = Some(caller.0);
            let out = f(s);
            s.actor = None;
            out
        })
    }

    /// Replaces the portal's fault plan.
    pub fn set_faults(&self, faults: Faults) {
        self.faults.set(faults);
    }

    /// The portal's fault plan as it stands (counts left).
    pub fn faults(&self) -> Faults {
        self.faults.current()
    }

    /// Sets the rate limits the portal enforces.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.limiter.set(limits);
    }

    /// Adds an owner; returns its `id` (distinct from its `userId`).
    pub fn add_owner(&self, email: &str, first: &str, last: &str) -> String {
        self.with_state(|s| {
            let n = s.owners.len() as u64 + 1;
            let owner = Owner {
                id: (70_000_000 + n).to_string(),
                user_id: (INTEGRATION_USER + n).to_string(),
                email: email.to_owned(),
                first: first.to_owned(),
                last: last.to_owned(),
                created_at: objects::now_iso(),
            };
            let id = owner.id.clone();
            s.owners.push(owner);
            id
        })
    }

    /// Every live record of `object_type` (`deals`, `companies`, `contacts`), oldest first.
    pub fn records(&self, object_type: &str) -> Vec<HubspotRecord> {
        self.with_state(|s| {
            s.records
                .get(object_type)
                .map(|r| r.values().map(|r| r.record.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// One live record.
    pub fn record(&self, object_type: &str, id: &str) -> Option<HubspotRecord> {
        let id = id.parse::<u64>().ok()?;
        self.with_state(|s| {
            s.records
                .get(object_type)?
                .get(&id)
                .map(|r| r.record.clone())
        })
    }

    /// Inserts a record as a user would in the UI, bypassing validation; returns its id.
    pub fn insert(&self, object_type: &str, properties: Map<String, Value>) -> String {
        self.with_state(|s| {
            objects::store_new(s, object_type, objects::stringify(properties), Vec::new())
        })
    }

    /// Updates a record as a user would, bypassing validation. Unknown ids are ignored.
    pub fn update(&self, object_type: &str, id: &str, properties: Map<String, Value>) {
        self.with_state(|s| {
            objects::store_update(s, object_type, id, objects::stringify(properties))
        });
    }

    /// Gives the records `ids` of `object_type` the modification time `at` (RFC 3339,
    /// written back with milliseconds), as an import that touches many records at once
    /// leaves them: for tests of paging through records that share one
    /// `hs_lastmodifieddate`. Returns how many it found.
    pub fn set_modified(&self, object_type: &str, ids: &[String], at: &str) -> usize {
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
            return 0;
        };
        let stamp = at
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        self.with_state(|s| {
            let Some(records) = s.records.get_mut(object_type) else {
                return 0;
            };
            let mut found = 0;
            for id in ids.iter().filter_map(|id| id.parse::<u64>().ok()) {
                if let Some(stored) = records.get_mut(&id) {
                    let properties = &mut stored.record.properties;
                    properties.insert("hs_lastmodifieddate".into(), Value::String(stamp.clone()));
                    stored.updated_at = stamp.clone();
                    found += 1;
                }
            }
            found
        })
    }

    /// The integration's pre-issued OAuth credentials.
    pub fn oauth_client(&self) -> OAuthClient {
        self.with_state(|s| s.clients.first().cloned())
            .unwrap_or_else(|| OAuthClient {
                client_id: String::new(),
                client_secret: String::new(),
                refresh_token: String::new(),
            })
    }

    /// How many API requests the portal has served (admin `/__sim/` requests excluded).
    pub fn request_count(&self) -> u64 {
        self.log.count()
    }

    /// Every API request the portal has served, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.entries()
    }

    /// Ends every OAuth access token now, as if they had all expired; private app tokens,
    /// which never expire, keep working.
    pub fn expire_tokens(&self) {
        self.with_state(|s| s.tokens.expire());
    }

    /// The integration user's `userId`, as recorded on what its tokens write.
    pub fn integration_user_id(&self) -> String {
        self.with_state(|s| s.integration_user.to_string())
    }

    /// Installs `client_id` as the owner with this email, as if they had been through
    /// `/oauth/authorize`; returns the install's refresh token.
    pub fn grant_for(&self, client_id: &str, email: &str) -> anyhow::Result<String> {
        self.with_state(|s| {
            anyhow::ensure!(
                s.clients.iter().any(|c| c.client_id == client_id),
                "no oauth client `{client_id}` in the simulated portal"
            );
            let user = s
                .user_of(email)
                .ok_or_else(|| anyhow::anyhow!("no owner `{email}` in the simulated portal"))?;
            Ok(oauth::new_install(s, client_id, user))
        })
    }

    /// Revokes a refresh token, as `DELETE /oauth/v1/refresh-tokens/{token}` does; returns
    /// whether it was known. Its access tokens work until they expire.
    pub fn revoke_refresh_token(&self, token: &str) -> bool {
        self.with_state(|s| s.tokens.revoke_refresh(token))
    }

    /// Accepts `token` as a private app token: a bearer token acting as the integration user
    /// that never expires.
    pub fn add_private_app_token(&self, token: &str) {
        self.with_state(|s| {
            let user = s.integration_user;
            s.tokens.insert_private_app(user, token)
        });
    }
}

impl PortalState {
    /// The `userId` of the owner with this email (case-insensitive).
    pub(crate) fn user_of(&self, email: &str) -> Option<u64> {
        let owner = self
            .owners
            .iter()
            .find(|o| o.email.eq_ignore_ascii_case(email))?;
        owner.user_id.parse().ok()
    }
}
