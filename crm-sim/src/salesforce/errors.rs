//! Salesforce's REST error shapes.
//!
//! Single-record and query calls answer with an array of `{"message","errorCode"[,"fields"]}`;
//! sObject Collections answer per record with `{"statusCode","message","fields"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One Salesforce error about a record or a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SfError {
    /// The error code, e.g. `REQUIRED_FIELD_MISSING`.
    pub code: &'static str,
    /// The message, worded as Salesforce words it.
    pub message: String,
    /// The fields involved; `None` for codes whose real body has no `fields` key.
    pub fields: Option<Vec<String>>,
    /// The `duplicateResult` of a `DUPLICATES_DETECTED` error.
    pub duplicates: Option<Value>,
}

impl SfError {
    /// An error whose real body carries no `fields` key.
    pub fn bare(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: None,
            duplicates: None,
        }
    }

    /// An error naming the fields it is about.
    pub fn on_fields(code: &'static str, message: impl Into<String>, fields: Vec<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: Some(fields),
            duplicates: None,
        }
    }

    /// This error with the `duplicateResult` of the records it duplicates.
    pub fn with_duplicates(mut self, result: Value) -> Self {
        self.duplicates = Some(result);
        self
    }

    /// The single-record REST shape: `{"message","errorCode"[,"fields"]}`.
    pub fn rest_json(&self) -> Value {
        let mut body = json!({ "message": self.message, "errorCode": self.code });
        if let Some(fields) = &self.fields {
            body["fields"] = json!(fields);
        }
        if let Some(result) = &self.duplicates {
            body["duplicateResult"] = result.clone();
        }
        body
    }

    /// The sObject Collections shape: `{"statusCode","message","fields"}`.
    pub fn collection_json(&self) -> Value {
        let mut body = json!({
            "statusCode": self.code,
            "message": self.message,
            "fields": self.fields.clone().unwrap_or_default(),
        });
        if let Some(result) = &self.duplicates {
            body["duplicateResult"] = result.clone();
        }
        body
    }
}

/// An error answer of the REST API: a status and the array of errors.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The errors in the body.
    pub errors: Vec<SfError>,
}

impl ApiError {
    /// A 400 with one error.
    pub fn bad_request(error: SfError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            errors: vec![error],
        }
    }

    /// A 404 `NOT_FOUND` as the sObject rows resource answers it.
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            errors: vec![SfError::bare(
                "NOT_FOUND",
                "The requested resource does not exist",
            )],
        }
    }

    /// A 404 `NOT_FOUND` for an sObject type the org does not have.
    pub fn unknown_object(object: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            errors: vec![SfError::bare(
                "NOT_FOUND",
                format!("The requested resource does not exist: sObject type '{object}'"),
            )],
        }
    }

    /// The 401 every data call answers for an unknown or expired bearer token.
    pub fn invalid_session() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            errors: vec![SfError::bare(
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            )],
        }
    }

    /// A 400 `INVALID_FIELD` for a field `written` that `entity` does not have.
    pub fn no_such_column(written: &str, entity: &str) -> Self {
        Self::bad_request(SfError::bare(
            "INVALID_FIELD",
            format!(
                "No such column '{written}' on entity '{entity}'. If you are attempting to use a \
                 custom field, be sure to append the '__c' after the custom field name. Please \
                 reference your WSDL or the describe call for the appropriate names."
            ),
        ))
    }

    /// A 400 `JSON_PARSER_ERROR` for a body that is not the JSON the resource expects.
    pub fn json_parser(message: impl Into<String>) -> Self {
        Self::bad_request(SfError::bare("JSON_PARSER_ERROR", message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body: Vec<Value> = self.errors.iter().map(SfError::rest_json).collect();
        (self.status, Json(Value::Array(body))).into_response()
    }
}

/// Parses a request body as JSON, answering `JSON_PARSER_ERROR` as Salesforce does.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::json_parser(format!(
            "Unexpected character in request body at [line:{}, column:{}]",
            error.line(),
            error.column()
        ))
    })
}
