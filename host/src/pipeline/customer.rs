//! A customer's live state: its CRM client, discovered schema and owner
//! directory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, RwLock};
use tracing::{info, warn};

use super::RecordError;
use crate::auth::{Connection, Identity};
use crate::config::{CustomerConfig, Provider, RepAuth};
use crate::crm::Crm;
use crate::owner::OwnerDirectory;
use crate::schema::OrgSchema;
use crate::store::{GrantState, ORG, Store};
use crate::transport::Budget;

/// One customer's CRM client and caches.
pub struct CustomerRuntime {
    customer: String,
    /// The CRM client on the org-wide connection: reads, and the writes the
    /// config gives the integration user.
    pub crm: Arc<Crm>,
    /// Rep email to owner id.
    pub owners: OwnerDirectory,
    schema: RwLock<(Arc<OrgSchema>, Option<DateTime<Utc>>)>,
    /// Clients on reps' connections, by email, built on first use.
    reps: Mutex<HashMap<String, Arc<Crm>>>,
    /// The customer's API budget, spent by every one of its clients.
    budget: Arc<Budget>,
    store: Store,
    http: reqwest::Client,
}

impl CustomerRuntime {
    /// State for `config`'s customer over its stored connections.
    pub fn new(config: &CustomerConfig, store: Store, http: reqwest::Client) -> Self {
        let connection = Arc::new(Connection::stored(
            &config.customer,
            Identity::Org,
            config.provider,
            store.clone(),
            http.clone(),
        ));
        let rules = config.connections.assignment_rules;
        let budget = Arc::new(Budget::new(config.limits));
        Self {
            customer: config.customer.clone(),
            crm: Arc::new(Crm::for_customer(
                config.provider,
                http.clone(),
                connection,
                rules,
                budget.clone(),
            )),
            budget,
            owners: OwnerDirectory::default(),
            schema: RwLock::new((Arc::new(OrgSchema::default()), None)),
            reps: Mutex::new(HashMap::new()),
            store,
            http,
        }
    }

    /// The client on `email`'s connection: none when the rep has not
    /// connected; an error when the connection needs authorising again.
    pub async fn rep(
        &self,
        config: &CustomerConfig,
        email: &str,
    ) -> Result<Option<Arc<Crm>>, RecordError> {
        let mut reps = self.reps.lock().await;
        if let Some(crm) = reps.get(email) {
            return Ok(Some(crm.clone()));
        }
        if config.connections.rep_auth == RepAuth::Jwt {
            let crm = self.jwt_client(config, email).await?;
            reps.insert(email.to_owned(), crm.clone());
            return Ok(Some(crm));
        }
        let grant = self
            .store
            .grant(&self.customer, email)
            .await
            .map_err(|e| RecordError::input("store_unavailable", format!("{e:#}"), None))?;
        let Some(grant) = grant else { return Ok(None) };
        if grant.state == GrantState::NeedsReauth {
            return Err(RecordError::input(
                "rep_needs_reauth",
                format!(
                    "the connection of rep `{email}` must be authorised again: {}",
                    grant.reason.unwrap_or_default()
                ),
                Some("acting_for".into()),
            ));
        }
        let connection = Arc::new(Connection::stored(
            &self.customer,
            Identity::Rep(email.to_owned()),
            config.provider,
            self.store.clone(),
            self.http.clone(),
        ));
        let crm = Arc::new(Crm::for_customer(
            config.provider,
            self.http.clone(),
            connection,
            config.connections.assignment_rules,
            self.budget.clone(),
        ));
        reps.insert(email.to_owned(), crm.clone());
        Ok(Some(crm))
    }

    /// A client acting as `email` through the org's connected app.
    async fn jwt_client(
        &self,
        config: &CustomerConfig,
        email: &str,
    ) -> Result<Arc<Crm>, RecordError> {
        let org = self
            .store
            .grant(&self.customer, ORG)
            .await
            .map_err(|e| RecordError::input("store_unavailable", format!("{e:#}"), None))?;
        let Some((org, key)) = org.and_then(|g| g.secrets.jwt_key.clone().map(|k| (g, k))) else {
            return Err(RecordError::input(
                "rep_not_connected",
                format!(
                    "customer `{}` connects reps through the JWT bearer flow, but its org-wide \
                     connection has no `jwt_private_key`",
                    self.customer
                ),
                None,
            ));
        };
        let connection = Arc::new(Connection::jwt(
            &self.customer,
            email,
            &org.base_url,
            &org.client_id,
            &key,
            self.http.clone(),
        ));
        Ok(Arc::new(Crm::for_customer(
            config.provider,
            self.http.clone(),
            connection,
            config.connections.assignment_rules,
            self.budget.clone(),
        )))
    }

    /// The client that writes a record: the org-wide one, or for a rep
    /// `writer` the one [`rep`](Self::rep) built; none if it was forgotten
    /// since, never another identity's.
    pub async fn writer(&self, writer: Option<&String>) -> Option<Arc<Crm>> {
        match writer {
            Some(email) => self.reps.lock().await.get(email).cloned(),
            None => Some(self.crm.clone()),
        }
    }

    /// Forgets the client on `email`'s connection, after it was replaced.
    pub async fn forget_rep(&self, email: &str) {
        self.reps.lock().await.remove(email);
    }

    /// The schema of every object of `objects` that can be discovered, and
    /// the error of each that cannot: a record needing that object fails
    /// with it, and the others go on.
    pub async fn schema_of_each(
        &self,
        objects: &[&str],
    ) -> (Arc<OrgSchema>, BTreeMap<String, RecordError>) {
        let mut failed = BTreeMap::new();
        for object in objects {
            if let Err(error) = self.schema(&[object]).await {
                failed.insert((*object).to_owned(), error);
            }
        }
        let schema = self.schema.read().await.0.clone();
        (schema, failed)
    }

    /// The customer's schema, discovering any of `objects` not read yet.
    pub async fn schema(&self, objects: &[&str]) -> Result<Arc<OrgSchema>, RecordError> {
        {
            let cached = self.schema.read().await;
            if objects.iter().all(|o| cached.0.objects.contains_key(*o)) {
                return Ok(cached.0.clone());
            }
        }
        let mut cached = self.schema.write().await;
        let mut schema = (*cached.0).clone();
        for object in objects {
            if schema.objects.contains_key(*object) {
                continue;
            }
            let discovered = self.crm.describe(object).await.map_err(|e| {
                let mut error = RecordError::crm(e);
                // A spent API limit keeps its code and `retry_at`.
                if error.retry_at.is_some() {
                    return error;
                }
                error.code = "schema_unavailable".into();
                error.message = format!("could not discover `{object}`: {}", error.message);
                error
            })?;
            info!(
                customer = %self.customer,
                object,
                fields = discovered.fields.len(),
                "schema discovered"
            );
            schema.objects.insert((*object).to_owned(), discovered);
        }
        let schema = Arc::new(schema);
        *cached = (schema.clone(), Some(Utc::now()));
        Ok(schema)
    }

    /// The whole schema the customer's config needs, with the org's object
    /// catalog: every object the config names that the org has, discovered
    /// if not read yet. An object the org lacks is left out, for the schema
    /// check to report by name.
    pub async fn discover(&self, config: &CustomerConfig) -> Result<Arc<OrgSchema>, RecordError> {
        let catalog = match self.schema.read().await.0.catalog.clone() {
            cached if !cached.is_empty() => cached,
            _ => self.crm.catalog().await.map_err(|e| {
                let mut error = RecordError::crm(e);
                error.code = "schema_unavailable".into();
                error.message = format!("could not list the org's objects: {}", error.message);
                error
            })?,
        };
        let mut objects: Vec<&str> = config.objects().collect();
        objects.sort();
        objects.dedup();
        for object in objects {
            // HubSpot's catalog lists only standard objects; custom ones are
            // found by describing them.
            let listed = catalog.iter().any(|o| o.name == object);
            if !listed && config.provider == Provider::Salesforce {
                continue;
            }
            if let Err(e) = self.schema(&[object]).await {
                warn!(customer = %self.customer, object, error = %e.message, "not discovered");
            }
        }
        let mut cached = self.schema.write().await;
        let mut schema = (*cached.0).clone();
        schema.catalog = catalog;
        let schema = Arc::new(schema);
        cached.0 = schema.clone();
        Ok(schema)
    }

    /// Reads the schema again from the CRM: the catalog and every object
    /// the config names or the cache holds. The cache is replaced only
    /// once every object has been read; an object the CRM no longer has
    /// is left out, for the schema check to report. A CRM that cannot be
    /// read leaves the cache as it was.
    pub async fn rediscover(&self, config: &CustomerConfig) -> Result<Arc<OrgSchema>, RecordError> {
        let unavailable = |what: String, e| {
            let mut error = RecordError::crm(e);
            error.code = "schema_unavailable".into();
            error.message = format!("could not {what}: {}", error.message);
            error
        };
        let catalog = self
            .crm
            .catalog()
            .await
            .map_err(|e| unavailable("list the org's objects".into(), e))?;

        let mut objects: Vec<String> = config.objects().map(str::to_owned).collect();
        objects.extend(self.schema.read().await.0.objects.keys().cloned());
        objects.sort();
        objects.dedup();

        let mut fresh = OrgSchema::default();
        for object in objects {
            // HubSpot's catalog lists only standard objects; custom ones
            // are found by describing them.
            let listed = catalog.iter().any(|o| o.name == object);
            if !listed && config.provider == Provider::Salesforce {
                continue;
            }
            match self.crm.describe(&object).await {
                Ok(described) => {
                    fresh.objects.insert(object, described);
                }
                Err(e) if e.status == Some(404) => {
                    warn!(customer = %self.customer, object, "object no longer in the org");
                }
                Err(e) => return Err(unavailable(format!("discover `{object}`"), e)),
            }
        }
        fresh.catalog = catalog;

        let fresh = Arc::new(fresh);
        *self.schema.write().await = (fresh.clone(), Some(Utc::now()));
        info!(
            customer = %self.customer,
            objects = fresh.objects.len(),
            "schema discovered again"
        );
        Ok(fresh)
    }

    /// Forgets the discovered schema, so the next write reads it again.
    pub async fn forget_schema(&self) {
        *self.schema.write().await = (Arc::new(OrgSchema::default()), None);
    }

    /// When the schema was last discovered.
    pub async fn schema_read_at(&self) -> Option<DateTime<Utc>> {
        self.schema.read().await.1
    }
}
