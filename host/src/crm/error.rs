//! A CRM's refusal, kept in the CRM's own words.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a CRM call failed, for one record or a whole request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CrmError {
    /// HTTP status, when the CRM answered.
    pub status: Option<u16>,
    /// The CRM's error code (`REQUIRED_FIELD_MISSING`, `VALIDATION_ERROR`…),
    /// or the host's own for failures before an answer.
    pub code: String,
    /// The CRM's message, untouched.
    pub message: String,
    /// Fields the CRM named.
    pub fields: Vec<String>,
    /// Whether trying again later can succeed.
    pub retryable: bool,
    /// Set when an API limit refused the call (the CRM's, or the ceiling
    /// the customer's config keeps under it): the earliest time a retry can
    /// help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
}

impl CrmError {
    /// The CRM could not be reached, or the answer was lost.
    pub fn connection(message: String) -> Self {
        Self {
            status: None,
            code: "connection_failed".into(),
            message,
            fields: vec![],
            retryable: true,
            retry_at: None,
        }
    }

    /// The CRM answered something the host cannot read.
    pub fn protocol(message: String) -> Self {
        Self {
            status: None,
            code: "unexpected_answer".into(),
            message,
            fields: vec![],
            retryable: false,
            retry_at: None,
        }
    }

    /// The same error, refused by an API limit until `retry_at`.
    pub(crate) fn limited_until(mut self, retry_at: DateTime<Utc>) -> Self {
        self.retryable = true;
        self.retry_at = Some(retry_at);
        self
    }

    /// Whether an API limit refused the call.
    pub fn is_limit(&self) -> bool {
        self.retry_at.is_some()
    }

    /// Whether a status means trying again may help.
    pub(crate) fn retryable_status(status: u16) -> bool {
        status == 429 || status >= 500
    }

    /// A Salesforce error list (`[{"message","errorCode","fields"}]`) or
    /// single error.
    pub(crate) fn from_salesforce(status: u16, body: &serde_json::Value) -> Self {
        let first = body.as_array().and_then(|a| a.first()).unwrap_or(body);
        let text = |key: &str| first.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            status: Some(status),
            code: text("errorCode")
                .or_else(|| text("statusCode"))
                .unwrap_or_else(|| format!("HTTP_{status}")),
            message: text("message").unwrap_or_else(|| body.to_string()),
            fields: strings(first.get("fields")),
            retryable: Self::retryable_status(status),
            retry_at: None,
        }
    }

    /// A HubSpot error body (`{"status","message","category","errors"}`).
    pub(crate) fn from_hubspot(status: u16, body: &serde_json::Value) -> Self {
        let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let detail = body
            .get("errors")
            .and_then(|e| e.as_array())
            .and_then(|e| e.first());
        let code = detail
            .and_then(|d| d.get("code"))
            .and_then(|c| c.as_str())
            .map(str::to_owned)
            .or_else(|| text("category"))
            .unwrap_or_else(|| format!("HTTP_{status}"));
        let fields = detail
            .and_then(|d| d.get("context"))
            .map(|c| strings(c.get("propertyName")))
            .unwrap_or_default();
        Self {
            status: Some(status),
            code,
            message: text("message").unwrap_or_else(|| body.to_string()),
            fields,
            retryable: Self::retryable_status(status),
            retry_at: None,
        }
    }
}

fn strings(value: Option<&serde_json::Value>) -> Vec<String> {
    value
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
