//! CRM clients: the Salesforce REST API and HubSpot's CRM v3 API behind one
//! interface, so the pipeline does not care which CRM a customer runs.
//!
//! Each client sends as few calls as the API allows (sObject Collections and
//! Composite Graph, HubSpot batch endpoints) and reports failures per record, in the CRM's own
//! words.

mod changes;
mod error;
mod hubspot;
mod salesforce;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use changes::{Changed, ChangedPage, Keyset, parse_stamp};
pub use error::CrmError;
pub use hubspot::HubspotClient;
pub use salesforce::{COLLECTION_SIZE, SalesforceClient, graph};

use crate::auth::Connection;
use crate::config::Provider;
use crate::record::Fields;
use crate::schema::{ObjectInfo, ObjectSchema};
use crate::transport::{Budget, Transport};

/// A record found in the CRM, with its raw field values.
#[derive(Debug, Clone)]
pub struct FoundRecord {
    /// The CRM id.
    pub id: String,
    /// Field values as the CRM returned them.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A record to create.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// Fields to set.
    pub fields: Fields,
    /// Records to link it to at creation: CRM object and id (HubSpot; in
    /// Salesforce links are lookup fields and travel in `fields`).
    pub associations: Vec<(String, String)>,
    /// Conduit's key for the record, written to the object's `crm_key`
    /// field when it has one: the create is then an upsert on that key.
    pub key: Option<String>,
}

/// A record the CRM created.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its CRM id.
    pub id: String,
    /// The associations the CRM refused, each with its reason: the record
    /// exists, made once, without them.
    pub unlinked: Vec<Unlinked>,
}

impl Created {
    /// A record created with every association asked for.
    pub fn new(id: String) -> Self {
        Self {
            id,
            unlinked: Vec::new(),
        }
    }
}

/// An association the CRM refused.
#[derive(Debug, Clone)]
pub struct Unlinked {
    /// The object of the record it was to link to.
    pub object: String,
    /// That record's CRM id.
    pub id: String,
    /// Why the CRM refused it.
    pub error: CrmError,
}

/// One customer's CRM.
pub enum Crm {
    /// A Salesforce org.
    Salesforce(SalesforceClient),
    /// A HubSpot portal.
    Hubspot(HubspotClient),
}

impl Crm {
    /// A client for `provider` over `connection`. Salesforce's lead and
    /// case assignment rules stay off: they would replace the owner the
    /// host sets with whoever the rule picks.
    pub fn new(provider: Provider, http: reqwest::Client, connection: Arc<Connection>) -> Self {
        Self::with_assignment_rules(provider, http, connection, false)
    }

    /// A client that lets Salesforce's assignment rules run when
    /// `assignment_rules` is true, as a customer's config may choose.
    pub fn with_assignment_rules(
        provider: Provider,
        http: reqwest::Client,
        connection: Arc<Connection>,
        assignment_rules: bool,
    ) -> Self {
        let budget = Arc::new(Budget::default());
        Self::for_customer(provider, http, connection, assignment_rules, budget)
    }

    /// A client spending the customer's `budget`, which every client of
    /// that customer shares, and letting Salesforce's assignment rules run
    /// when `assignment_rules` is true.
    pub fn for_customer(
        provider: Provider,
        http: reqwest::Client,
        connection: Arc<Connection>,
        assignment_rules: bool,
        budget: Arc<Budget>,
    ) -> Self {
        let transport = Transport::new(http, connection).with_budget(budget);
        match provider {
            Provider::Salesforce if assignment_rules => {
                Crm::Salesforce(SalesforceClient::new(transport))
            }
            Provider::Salesforce => Crm::Salesforce(SalesforceClient::new(
                transport.with_header("sforce-auto-assign", "FALSE"),
            )),
            Provider::Hubspot => Crm::Hubspot(HubspotClient::new(transport)),
        }
    }

    /// The connection this client writes with.
    pub fn connection(&self) -> &Connection {
        match self {
            Crm::Salesforce(c) => c.transport().connection(),
            Crm::Hubspot(c) => c.transport().connection(),
        }
    }

    /// CRM API calls made through this client.
    pub fn calls(&self) -> u64 {
        match self {
            Crm::Salesforce(c) => c.transport().calls(),
            Crm::Hubspot(c) => c.transport().calls(),
        }
    }

    /// Discovers the schema of `object`.
    pub async fn describe(&self, object: &str) -> Result<ObjectSchema, CrmError> {
        match self {
            Crm::Salesforce(c) => c.describe(object).await,
            Crm::Hubspot(c) => c.describe(object).await,
        }
    }

    /// Every object the org has.
    pub async fn catalog(&self) -> Result<Vec<ObjectInfo>, CrmError> {
        match self {
            Crm::Salesforce(c) => c.catalog().await,
            Crm::Hubspot(c) => Ok(c.catalog()),
        }
    }

    /// Finds the records of `object` whose `field` holds one of `values`,
    /// reading `read` fields. `unique` says the field holds at most one
    /// record per value, which lets HubSpot use its batch read.
    pub async fn find(
        &self,
        object: &str,
        field: &str,
        unique: bool,
        values: &[String],
        read: &[String],
    ) -> Result<Vec<FoundRecord>, CrmError> {
        match self {
            Crm::Salesforce(c) => c.find(object, field, values, read).await,
            Crm::Hubspot(c) => c.find(object, field, unique, values, read).await,
        }
    }

    /// Reads `read` fields of one record by its CRM id; none if no record
    /// has it.
    pub async fn read(
        &self,
        object: &str,
        id: &str,
        read: &[String],
    ) -> Result<Option<FoundRecord>, CrmError> {
        let id_field = match self {
            Crm::Salesforce(_) => "Id",
            Crm::Hubspot(_) => "hs_object_id",
        };
        let found = self
            .find(object, id_field, true, &[id.to_owned()], read)
            .await?;
        Ok(found.into_iter().find(|r| r.id == id))
    }

    /// The CRM user or owner id of each rep email found, keyed by the email
    /// in lowercase.
    pub async fn find_owners(
        &self,
        emails: &[String],
    ) -> Result<BTreeMap<String, String>, CrmError> {
        match self {
            Crm::Salesforce(c) => c.find_owners(emails).await,
            Crm::Hubspot(c) => c.find_owners(emails).await,
        }
    }

    /// Creates records; one result per input, in order.
    ///
    /// With `crm_key` (a unique field of `object`), each record carries its
    /// [`NewRecord::key`] there and is sent as an upsert on it, so that
    /// sending it again after a lost answer finds the record instead of
    /// making a second one.
    pub async fn create_many(
        &self,
        object: &str,
        schema: &ObjectSchema,
        records: Vec<NewRecord>,
        crm_key: Option<&str>,
    ) -> Vec<Result<Created, CrmError>> {
        match (self, crm_key) {
            (Crm::Salesforce(c), None) => {
                let answers = c.create_many(object, records).await;
                answers.into_iter().map(|a| a.map(Created::new)).collect()
            }
            (Crm::Salesforce(c), Some(key)) => {
                let answers = c.upsert_many(object, key, records).await;
                answers.into_iter().map(|a| a.map(Created::new)).collect()
            }
            (Crm::Hubspot(c), None) => c.create_many(object, schema, records).await,
            (Crm::Hubspot(c), Some(key)) => c.upsert_many(object, key, records).await,
        }
    }

    /// Makes the associations of records that exist already, each given as
    /// `(id, associations)`; answers, per input, the links the CRM refused.
    /// Salesforce links by lookup fields, written with the record: nothing
    /// to make there.
    pub async fn link(
        &self,
        object: &str,
        records: &[(String, &[(String, String)])],
    ) -> Vec<Vec<Unlinked>> {
        match self {
            Crm::Salesforce(_) => records.iter().map(|_| Vec::new()).collect(),
            Crm::Hubspot(c) => c.link(object, records).await,
        }
    }

    /// Updates records by id; one result per input, in order.
    pub async fn update_many(
        &self,
        object: &str,
        schema: &ObjectSchema,
        records: Vec<(String, Fields)>,
    ) -> Vec<Result<(), CrmError>> {
        match self {
            Crm::Salesforce(c) => c.update_many(object, records).await,
            Crm::Hubspot(c) => c.update_many(object, schema, records).await,
        }
    }
}
