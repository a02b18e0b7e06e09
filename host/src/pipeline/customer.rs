//! A customer's live state: its CRM client, discovered schema and owner
//! directory.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::RwLock;
use tracing::{info, warn};

use super::RecordError;
use crate::auth::{Connection, Identity};
use crate::config::{CustomerConfig, Provider};
use crate::crm::Crm;
use crate::owner::OwnerDirectory;
use crate::schema::OrgSchema;
use crate::store::Store;

/// One customer's CRM client and caches.
pub struct CustomerRuntime {
    customer: String,
    /// The CRM client.
    pub crm: Crm,
    /// Rep email to owner id.
    pub owners: OwnerDirectory,
    schema: RwLock<(Arc<OrgSchema>, Option<DateTime<Utc>>)>,
}

impl CustomerRuntime {
    /// State for `config`'s customer over its stored credentials.
    pub fn new(config: &CustomerConfig, store: Store, http: reqwest::Client) -> Self {
        let connection = Arc::new(Connection::stored(
            &config.customer,
            Identity::Org,
            config.provider,
            store,
            http.clone(),
        ));
        Self {
            customer: config.customer.clone(),
            crm: Crm::new(config.provider, http, connection),
            owners: OwnerDirectory::default(),
            schema: RwLock::new((Arc::new(OrgSchema::default()), None)),
        }
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

    /// Forgets the discovered schema, so the next write reads it again.
    pub async fn forget_schema(&self) {
        *self.schema.write().await = (Arc::new(OrgSchema::default()), None);
    }

    /// When the schema was last discovered.
    pub async fn schema_read_at(&self) -> Option<DateTime<Utc>> {
        self.schema.read().await.1
    }
}
