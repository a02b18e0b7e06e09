//! A Salesforce REST API (v60.0) simulator.
//!
//! Serves OAuth (web server flow, refresh with optional rotation, JWT bearer, revoke), describe,
//! sObject rows and upsert, SOQL queries with paging and sObject Collections, with Salesforce's
//! own enforcement and error codes on every write. Every access token belongs to a user, and
//! data calls run as that user: new records are created by and owned by them, then the org's
//! lead assignment and territory rules may give them to someone else. State lives in [`Org`],
//! which tests can seed and inspect directly.

mod admin;
mod authorize;
mod collections;
mod composite;
mod custom;
mod describe;
mod duplicates;
mod errors;
mod grants;
mod jwt;
mod limits;
mod oauth;
mod profile;
mod references;
mod rules;
mod security;
mod sobjects;
mod soql;
mod store;
mod task;
mod validation;
mod write;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Map, Value};

pub use crate::{Faults, LoggedRequest, OAuthClient, Sim};
pub use duplicates::DuplicateRule;
pub use profile::{
    CustomField, CustomObject, JwtKey, Preauthorization, Profile, ProfileUser, Territory,
};
pub use security::FieldSecurity;
pub use validation::{Condition, ValidationRule};

use crate::faults::{FaultPlan, Refusal};
use crate::request_log::RequestLog;
pub use describe::FieldChange;
use describe::Schema;
use store::Caller;

/// The API version the simulator serves.
pub(crate) const API_VERSION: &str = "v60.0";

/// Starts a simulated org from `profile` on `addr` (use port 0 for any free port).
pub async fn serve(profile: Profile, addr: SocketAddr) -> anyhow::Result<Sim<Org>> {
    let (listener, base_url) = crate::server::bind(addr).await?;
    let org = Arc::new(Org::new(&profile, base_url.clone())?);
    let router = router(org.clone());
    Ok(crate::server::spawn(listener, base_url, router, org))
}

fn router(org: Arc<Org>) -> Router {
    let data = format!("/services/data/{API_VERSION}");
    let api = data_router()
        .route(&format!("{data}/composite"), post(composite::composite))
        .route(&format!("{data}/composite/"), post(composite::composite))
        .route(&format!("{data}/composite/graph"), post(composite::graph))
        .route_layer(middleware::from_fn_with_state(
            org.clone(),
            oauth::require_session,
        ))
        .layer(middleware::from_fn_with_state(org.clone(), composite::gate));
    Router::new()
        .merge(api)
        .route("/services/oauth2/token", post(oauth::token))
        .route("/services/oauth2/authorize", get(authorize::authorize))
        .route("/services/oauth2/revoke", post(authorize::revoke))
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions))
        .merge(admin::routes())
        .layer(middleware::from_fn_with_state(org.clone(), inject_faults))
        .layer(middleware::from_fn_with_state(org.clone(), log_and_limit))
        .with_state(org)
}

/// The data routes a composite subrequest may call, behind the session check, without the
/// request log or the composite gate: a composite call is logged and counted once.
pub(crate) fn data_routes(org: Arc<Org>) -> Router {
    data_router()
        .route_layer(middleware::from_fn_with_state(
            org.clone(),
            oauth::require_session,
        ))
        .with_state(org)
}

/// The sObject, describe, query and collections resources.
fn data_router() -> Router<Arc<Org>> {
    let data = format!("/services/data/{API_VERSION}");
    Router::new()
        .route(&format!("{data}/sobjects"), get(describe::global))
        .route(
            &format!("{data}/sobjects/{{object}}/describe"),
            get(describe::object),
        )
        .route(
            &format!("{data}/sobjects/{{object}}"),
            post(sobjects::create),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/{{id}}"),
            get(sobjects::get)
                .patch(sobjects::update)
                .delete(sobjects::delete),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/{{field}}/{{value}}"),
            get(sobjects::get_by_external_id).patch(sobjects::upsert),
        )
        .route(&format!("{data}/limits"), get(limits::limits))
        .route(&format!("{data}/query"), get(soql::query))
        .route(&format!("{data}/queryAll"), get(soql::query_all))
        .route(&format!("{data}/query/{{locator}}"), get(soql::query_more))
        .route(
            &format!("{data}/composite/sobjects"),
            post(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(
            &format!("{data}/composite/sobjects/{{object}}"),
            get(collections::retrieve),
        )
        .route(
            &format!("{data}/composite/sobjects/{{object}}/{{field}}"),
            patch(collections::upsert),
        )
}

/// Logs every API request, counts data calls against the daily allocation (refusing them
/// once it is spent) and stamps `Sforce-Limit-Info` on their answers.
async fn log_and_limit(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if path.starts_with("/__sim/") {
        return next.run(request).await;
    }
    let data = path.starts_with("/services/data/v");
    let usage = if data {
        match org.api_usage.take() {
            Ok(usage) => Some(usage),
            Err(refused) => {
                let response = refused.into_response();
                let status = response.status().as_u16();
                org.log.record(&method, &path, status, None);
                return response;
            }
        }
    } else {
        None
    };
    let mut response = next.run(request).await;
    let user = response
        .extensions()
        .get::<Caller>()
        .map(|c| c.user.clone());
    org.log
        .record(&method, &path, response.status().as_u16(), user);
    if let Some((used, max)) = usage
        && let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{max}"))
    {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
    response
}

/// Runs every call through the org's fault plan, refusing in Salesforce's shapes: a
/// throttled call as the concurrent request limit, a failed one as a server error.
async fn inject_faults(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    org.faults
        .apply(request, next, |refusal| {
            let (status, code, message) = match refusal {
                Refusal::Throttled => (
                    StatusCode::FORBIDDEN,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                ),
                Refusal::Failed(status) if status == StatusCode::SERVICE_UNAVAILABLE => (
                    status,
                    "SERVER_UNAVAILABLE",
                    "Server temporarily unavailable.",
                ),
                Refusal::Failed(status) => (
                    status,
                    "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred. Please try again later.",
                ),
            };
            let errors = vec![errors::SfError::bare(code, message)];
            errors::ApiError { status, errors }.into_response()
        })
        .await
}

/// `GET /services/data/`: the API versions the org supports.
async fn versions() -> axum::Json<Value> {
    axum::Json(serde_json::json!([
        {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"},
        {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"},
    ]))
}

/// A simulated Salesforce org: schema, records, users, sessions and the request log.
#[derive(Debug)]
pub struct Org {
    base_url: String,
    org_id: String,
    state: Mutex<store::OrgState>,
    log: RequestLog,
    /// Shared by data calls, held alone by a composite call (see [`composite::gate`]).
    gate: tokio::sync::RwLock<()>,
    /// The daily API request allocation and its use.
    api_usage: limits::ApiUsage,
    /// Injected faults.
    faults: FaultPlan,
}

impl Org {
    fn new(profile: &Profile, base_url: String) -> anyhow::Result<Self> {
        let schema = Schema::load(&profile.custom_fields, &profile.custom_objects)?;
        let ttl = Duration::from_secs(profile.token_ttl_seconds);
        let mut state = store::OrgState::new(schema, profile.oauth_clients.clone(), ttl);
        state.integration_user =
            state.insert_user("integration@conduit.example", "Integration", "User");
        for user in &profile.users {
            state.insert_user(&user.email, &user.first_name, &user.last_name);
        }
        let integration = state.integration_user.clone();
        for client in &profile.oauth_clients {
            let (id, token) = (&client.client_id, &client.refresh_token);
            state.auth.insert_grant(id, &integration, token);
        }
        for key in &profile.jwt_keys {
            jwt::check_key(&key.public_key)
                .map_err(|e| e.context(format!("jwt key of client `{}`", key.client_id)))?;
            let pem = key.public_key.clone();
            state.auth.jwt_keys.insert(key.client_id.clone(), pem);
        }
        for pre in &profile.preauthorized {
            let pair = (pre.client_id.clone(), pre.username.clone());
            state.auth.preauthorized.insert(pair);
        }
        state.auth.rotate = profile.rotate_refresh_tokens;
        state.territory = profile.territory.clone();
        state.lead_owner = profile.lead_assignment_owner.clone();
        state.validation_rules = profile.validation_rules.clone();
        state.field_security = profile.field_security.clone();
        state.duplicate_rules = profile.duplicate_rules.clone();
        Ok(Self {
            base_url,
            org_id: "00D5g000004SimAEAU".to_owned(),
            state: Mutex::new(state),
            log: RequestLog::default(),
            gate: tokio::sync::RwLock::new(()),
            api_usage: limits::ApiUsage::new(profile.daily_api_requests),
            faults: FaultPlan::new(profile.faults.clone()),
        })
    }

    /// Runs `f` with the org's state locked.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut store::OrgState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Runs `f` with the state locked, as `caller`: what it writes is theirs.
    pub(crate) fn with_caller<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&mut store::OrgState) -> T,
    ) -> T {
        self.with_state(|s| {
            s.caller = Some(caller.clone());
            let out = f(s);
            s.caller = None;
            out
        })
    }

    /// Adds an active `value` to the picklist `field` of `object`, as an admin would in
    /// Setup; false when the object has no such field.
    pub fn add_picklist_value(&self, object: &str, field: &str, value: &str) -> bool {
        self.with_state(|s| s.schema.add_picklist_value(object, field, value))
    }

    /// Deletes the custom field `field` of `object`, as an admin would in Setup.
    pub fn delete_field(&self, object: &str, field: &str) -> Result<(), FieldChange> {
        self.with_state(|s| s.schema.delete_field(object, field))
    }

    /// Undeletes a custom field deleted with [`delete_field`](Self::delete_field).
    pub fn undelete_field(&self, object: &str, field: &str) -> Result<(), FieldChange> {
        self.with_state(|s| s.schema.undelete_field(object, field))
    }

    /// Adds an active user and returns its 18-character Id.
    pub fn add_user(&self, email: &str, first: &str, last: &str) -> String {
        self.with_state(|s| s.insert_user(email, first, last))
    }

    /// Every stored record of `object` with all its fields, oldest first.
    pub fn records(&self, object: &str) -> Vec<Map<String, Value>> {
        self.with_state(|s| s.all(object))
    }

    /// One stored record, if it exists.
    pub fn record(&self, object: &str, id: &str) -> Option<Map<String, Value>> {
        self.with_state(|s| s.get(object, id).cloned())
    }

    /// Inserts a record as a rep would in the UI, bypassing the API's checks; returns its Id.
    ///
    /// System fields are set as on an API create. Unknown objects get a `000` key prefix.
    pub fn insert(&self, object: &str, fields: Map<String, Value>) -> String {
        self.with_state(|s| s.insert_unchecked(object, fields))
    }

    /// Updates a record as a rep would, bypassing the API's checks. Unknown ids are ignored.
    pub fn update(&self, object: &str, id: &str, fields: Map<String, Value>) {
        self.with_state(|s| s.update_unchecked(object, id, fields));
    }

    /// Gives the records `ids` of `object` the modification time `at` (any RFC 3339 time),
    /// as a data load that touches many records in one transaction leaves them: for tests
    /// of paging through records that share one `SystemModstamp`. Returns how many it
    /// found.
    pub fn set_modstamp(&self, object: &str, ids: &[String], at: &str) -> usize {
        let Some(stamp) = write::parse_datetime(at) else {
            return 0;
        };
        self.with_state(|s| s.set_modstamp(object, ids, &stamp))
    }

    /// The integration user's pre-issued OAuth credentials.
    pub fn oauth_client(&self) -> OAuthClient {
        self.with_state(|s| s.clients.first().cloned())
            .unwrap_or_else(|| OAuthClient {
                client_id: String::new(),
                client_secret: String::new(),
                refresh_token: String::new(),
            })
    }

    /// How many API requests the org has served (admin `/__sim/` requests excluded).
    pub fn request_count(&self) -> u64 {
        self.log.count()
    }

    /// Every API request the org has served, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.entries()
    }

    /// The Id of the integration user, who owns what the API creates without an `OwnerId`.
    pub fn integration_user_id(&self) -> String {
        self.with_state(|s| s.integration_user.clone())
    }

    /// Ends every access token now, as if they had all expired.
    pub fn expire_sessions(&self) {
        self.with_state(|s| s.auth.expire_sessions());
    }

    /// The Id of the user with this username or email (case-insensitive), if any.
    pub fn user_id(&self, username: &str) -> Option<String> {
        self.with_state(|s| s.user_id(username))
    }

    /// Grants `client_id` access as `username`, as if that user had been through the web
    /// server flow; returns the grant's refresh token.
    pub fn grant_for(&self, client_id: &str, username: &str) -> anyhow::Result<String> {
        self.with_state(|s| {
            anyhow::ensure!(
                s.clients.iter().any(|c| c.client_id == client_id),
                "no oauth client `{client_id}` in the simulated org"
            );
            let user = s
                .user_id(username)
                .ok_or_else(|| anyhow::anyhow!("no user `{username}` in the simulated org"))?;
            Ok(s.auth.new_grant(client_id, &user).1)
        })
    }

    /// Revokes a refresh token (with every token of its grant) or an access token, as
    /// `POST /services/oauth2/revoke` does; returns whether the token was known.
    pub fn revoke(&self, token: &str) -> bool {
        self.with_state(|s| s.auth.revoke(token))
    }

    /// Turns refresh token rotation on or off (the profile's `rotate_refresh_tokens`).
    pub fn set_rotation(&self, rotate: bool) {
        self.with_state(|s| s.auth.rotate = rotate);
    }

    /// Registers the RSA public key (PEM) that verifies `client_id`'s JWT bearer assertions,
    /// replacing any earlier one. Fails when `public_pem` is not an RSA public key.
    pub fn register_jwt_key(&self, client_id: &str, public_pem: &str) -> anyhow::Result<()> {
        jwt::check_key(public_pem)?;
        self.with_state(|s| {
            let pem = public_pem.to_owned();
            s.auth.jwt_keys.insert(client_id.to_owned(), pem)
        });
        Ok(())
    }

    /// Pre-authorizes `username` for `client_id`, which the JWT bearer grant requires.
    pub fn preauthorize(&self, client_id: &str, username: &str) {
        let pair = (client_id.to_owned(), username.to_owned());
        self.with_state(|s| s.auth.preauthorized.insert(pair));
    }

    /// Sets or clears the territory rule.
    pub fn set_territory(&self, territory: Option<Territory>) {
        self.with_state(|s| s.territory = territory);
    }

    /// Replaces the org's fault plan.
    pub fn set_faults(&self, faults: Faults) {
        self.faults.set(faults);
    }

    /// The org's fault plan as it stands (counts left).
    pub fn faults(&self) -> Faults {
        self.faults.current()
    }

    /// Sets the daily API request allocation and, if given, how much of it is used.
    pub fn set_api_usage(&self, max: u64, used: Option<u64>) {
        self.api_usage.set(max, used);
    }

    /// (used, max) of the daily API request allocation.
    pub fn api_usage(&self) -> (u64, u64) {
        self.api_usage.current()
    }

    /// Replaces the org's duplicate rules.
    pub fn set_duplicate_rules(&self, rules: Vec<DuplicateRule>) {
        self.with_state(|s| s.duplicate_rules = rules);
    }

    /// Replaces the org's field-level security rules.
    pub fn set_field_security(&self, rules: Vec<FieldSecurity>) {
        self.with_state(|s| s.field_security = rules);
    }

    /// Replaces the org's validation rules.
    pub fn set_validation_rules(&self, rules: Vec<ValidationRule>) {
        self.with_state(|s| s.validation_rules = rules);
    }

    /// Sets or clears the owner the lead assignment rule gives new Leads (an Id or username).
    pub fn set_lead_assignment(&self, owner: Option<&str>) {
        self.with_state(|s| s.lead_owner = owner.map(str::to_owned));
    }
}
