//! Errors for API callers as problem details (RFC 9457): a stable code, a
//! message about the caller's input, whether a retry can help, and the
//! request id to quote to an operator.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::observe;

/// A request-level error.
///
/// Its problem type URI and title follow from the code and the status, so
/// they are derived when serialized: a smaller error is cheaper to return.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code the caller can act on.
    pub code: String,
    /// What is wrong with this request.
    pub detail: String,
    /// The input field at fault.
    pub field: Option<String>,
    /// Whether sending the same request later can succeed.
    pub retryable: bool,
}

/// A [`Problem`] as RFC 9457 writes it; also its schema in the API's
/// OpenAPI document.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub(super) struct Wire<'a> {
    /// `https://conduit.dev/problems/{code}`.
    #[serde(rename = "type")]
    kind: String,
    /// The HTTP status's reason phrase.
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// Stable code the caller can act on.
    code: &'a str,
    /// What is wrong with this request.
    detail: &'a str,
    /// The input field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// Whether sending the same request later can succeed.
    retryable: bool,
    /// The request's `x-request-id`, to quote to an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl Problem {
    /// A problem with `status`, `code` and a message about the input.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            detail: detail.into(),
            field: None,
            retryable: status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The same problem, naming the input field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            kind: format!("https://conduit.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("error"),
            status: self.status.as_u16(),
            code: &self.code,
            detail: &self.detail,
            field: self.field.as_deref(),
            retryable: self.retryable,
            request_id: observe::current_request_id(),
        }
        .serialize(serializer)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_problem_serializes_as_rfc_9457_writes_it() -> serde_json::Result<()> {
        let problem = Problem::new(StatusCode::BAD_REQUEST, "invalid_request", "bad `x`");
        assert_eq!(
            serde_json::to_value(&problem)?,
            json!({
                "type": "https://conduit.dev/problems/invalid_request",
                "title": "Bad Request",
                "status": 400,
                "code": "invalid_request",
                "detail": "bad `x`",
                "retryable": false,
            })
        );
        let named = serde_json::to_value(problem.field("x"))?;
        assert_eq!(named["field"], "x");
        Ok(())
    }
}
