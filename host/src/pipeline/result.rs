//! What the agent gets back for each record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crm::CrmError;
use crate::export::FieldDecision;
use crate::mapping::MappingError;
use crate::schema::FieldError;

/// The outcome of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A new CRM record was created.
    Created,
    /// An existing record was changed.
    Updated,
    /// The record already held everything the plan allowed to write.
    Unchanged,
    /// Nothing was written: see `error`.
    Failed,
    /// A dry run: the plan, nothing written.
    Planned,
    /// Accepted and not final yet: waiting to run, or deferred until the
    /// CRM takes the customer's writes again (see `error.retry_at`). Ask for
    /// the outcome by its idempotency key.
    Pending,
}

/// A per-record error: a stable code the agent can act on, a message about
/// its input, and the CRM's own words when the CRM refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordError {
    /// Stable code, e.g. `invalid_picklist_value` or `crm_rejected`.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Whether sending the same record again later can succeed.
    pub retryable: bool,
    /// When a retry can help, for a record refused by an API limit
    /// (`crm_limit_reached`); sending it before then fails the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    /// The CRM's refusal, untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm: Option<Box<CrmError>>,
    /// The plugin involved, as `name@version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

impl RecordError {
    /// An error about the agent's input.
    pub fn input(code: &str, message: String, field: Option<String>) -> Self {
        Self {
            code: code.into(),
            message,
            field,
            retryable: false,
            retry_at: None,
            crm: None,
            plugin: None,
        }
    }

    /// The CRM refused or could not be reached.
    pub fn crm(error: CrmError) -> Self {
        // A connection that cannot write is said as such, with whose it is:
        // the agent's fix is a person reconnecting, not a different record.
        if CONNECTION_CODES.contains(&error.code.as_str()) {
            return Self {
                code: error.code.clone(),
                message: error.message.clone(),
                field: None,
                retryable: false,
                retry_at: None,
                crm: Some(Box::new(error)),
                plugin: None,
            };
        }
        // The customer's API allocation is spent, not the record wrong: the
        // same record goes through once the limit has room again.
        if let Some(retry_at) = error.retry_at {
            return Self {
                code: LIMIT_REACHED.into(),
                message: format!(
                    "the CRM's API limit for this customer is reached; retry after {}: {}",
                    retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    error.message
                ),
                field: None,
                retryable: true,
                retry_at: Some(retry_at),
                crm: Some(Box::new(error)),
                plugin: None,
            };
        }
        let code = if error.retryable {
            "crm_unavailable"
        } else {
            "crm_rejected"
        };
        Self {
            code: code.into(),
            message: format!("the CRM refused the write: {}", error.message),
            field: error.fields.first().cloned(),
            retryable: error.retryable,
            retry_at: None,
            crm: Some(Box::new(error)),
            plugin: None,
        }
    }
}

impl From<MappingError> for RecordError {
    fn from(e: MappingError) -> Self {
        Self::input(e.code, e.message, e.field)
    }
}

impl From<FieldError> for RecordError {
    fn from(e: FieldError) -> Self {
        Self::input(e.code, e.message, Some(e.field))
    }
}

/// The code of a record refused because the customer's API limit is
/// reached; `retry_at` says when sending it again can help.
pub const LIMIT_REACHED: &str = "crm_limit_reached";

/// Codes of connections that cannot write, from [`crate::auth::Connection`].
const CONNECTION_CODES: [&str; 5] = [
    "needs_reauth",
    "rep_needs_reauth",
    "not_connected",
    "rep_not_connected",
    "rep_not_authorized",
];

/// A record another record is linked to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The CRM object of the linked record, e.g. `companies`.
    pub object: String,
    /// Its CRM id.
    pub id: String,
    /// The Salesforce lookup field that holds the link, for an activity's
    /// links; none for a HubSpot association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Why the CRM refused the link; the record exists without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
}

/// The answer for one record of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordResult {
    /// Position in the request.
    pub index: usize,
    /// The agent's idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// What happened.
    pub status: Status,
    /// True when this is the stored outcome of an earlier request with the
    /// same idempotency key; nothing was sent this time.
    #[serde(default)]
    pub replayed: bool,
    /// The agent entity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The agent's key for the record, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The CRM object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The CRM record's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_id: Option<String>,
    /// Per field: written or not, and why.
    #[serde(default)]
    pub fields: Vec<FieldDecision>,
    /// Agent fields the customer's config does not map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<String>,
    /// Records this one is linked to by association (HubSpot), as made on
    /// create. A record's Salesforce links are lookup fields, listed under
    /// `fields`; an activity's are listed here too, with their field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Link>,
    /// Why the record failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
}

impl RecordResult {
    /// A record that failed before it had a plan.
    pub fn failed(
        index: usize,
        key: Option<String>,
        entity: Option<String>,
        e: RecordError,
    ) -> Self {
        Self {
            index,
            idempotency_key: key,
            status: Status::Failed,
            replayed: false,
            entity,
            key: None,
            object: None,
            crm_id: None,
            fields: Vec::new(),
            unmapped: Vec::new(),
            associations: Vec::new(),
            error: Some(e),
        }
    }
}
