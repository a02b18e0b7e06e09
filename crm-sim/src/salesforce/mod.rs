//! A Salesforce REST API (v60.0) simulator.
//!
//! Serves OAuth refresh, describe, sObject rows and upsert, SOQL queries with paging and sObject
//! Collections, with Salesforce's own enforcement and error codes on every write. State lives in
//! [`Org`], which tests can seed and inspect directly.

mod admin;
mod collections;
mod describe;
mod errors;
mod oauth;
mod profile;
mod sobjects;
mod soql;
mod store;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde_json::{Map, Value};

pub use crate::{LoggedRequest, OAuthClient, Sim};
pub use profile::{CustomField, Profile, ProfileUser};

use crate::request_log::RequestLog;
use describe::Schema;

/// The API version the simulator serves.
pub(crate) const API_VERSION: &str = "v60.0";

/// The daily API request allocation reported in `Sforce-Limit-Info`.
const API_LIMIT: u64 = 15_000;

/// Starts a simulated org from `profile` on `addr` (use port 0 for any free port).
pub async fn serve(profile: Profile, addr: SocketAddr) -> anyhow::Result<Sim<Org>> {
    let (listener, base_url) = crate::server::bind(addr).await?;
    let org = Arc::new(Org::new(&profile, base_url.clone())?);
    let router = router(org.clone());
    Ok(crate::server::spawn(listener, base_url, router, org))
}

fn router(org: Arc<Org>) -> Router {
    let data = format!("/services/data/{API_VERSION}");
    let api = Router::new()
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
            patch(sobjects::upsert),
        )
        .route(&format!("{data}/query"), get(soql::query))
        .route(&format!("{data}/query/"), get(soql::query))
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
        .route_layer(middleware::from_fn_with_state(
            org.clone(),
            oauth::require_session,
        ));
    Router::new()
        .merge(api)
        .route("/services/oauth2/token", post(oauth::token))
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions))
        .route("/__sim/requests", get(admin::requests))
        .route("/__sim/users", post(admin::add_user))
        .layer(middleware::from_fn_with_state(org.clone(), log_and_limit))
        .with_state(org)
}

/// Logs every API request and stamps `Sforce-Limit-Info` on data responses.
async fn log_and_limit(State(org): State<Arc<Org>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    if path.starts_with("/__sim/") {
        return response;
    }
    let count = org.log.record(&method, &path, response.status().as_u16());
    if path.starts_with("/services/data/") {
        let usage = format!("api-usage={count}/{API_LIMIT}");
        if let Ok(value) = HeaderValue::from_str(&usage) {
            response.headers_mut().insert("Sforce-Limit-Info", value);
        }
    }
    response
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
}

impl Org {
    fn new(profile: &Profile, base_url: String) -> anyhow::Result<Self> {
        let schema = Schema::load(&profile.custom_fields)?;
        let mut state = store::OrgState {
            schema,
            records: BTreeMap::new(),
            index: HashMap::new(),
            sessions: HashMap::new(),
            cursors: HashMap::new(),
            next_id: 1,
            integration_user: String::new(),
            clients: profile.oauth_clients.clone(),
            ttl: Duration::from_secs(profile.token_ttl_seconds),
        };
        state.integration_user =
            state.insert_user("integration@conduit.example", "Integration", "User");
        for user in &profile.users {
            state.insert_user(&user.email, &user.first_name, &user.last_name);
        }
        Ok(Self {
            base_url,
            org_id: "00D5g000004SimAEAU".to_owned(),
            state: Mutex::new(state),
            log: RequestLog::default(),
        })
    }

    /// Runs `f` with the org's state locked.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut store::OrgState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
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
        self.with_state(|s| {
            let now = Instant::now();
            for expiry in s.sessions.values_mut() {
                *expiry = now;
            }
        });
    }
}
