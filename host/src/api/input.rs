//! Reading a request's path, body and keys, with every way they can be wrong
//! answered as a [`Problem`] rather than axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Problem;

/// Path parameters, like axum's [`Path`], refused as a problem naming the
/// parameter.
pub(super) struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_problem(&rejection)),
        }
    }
}

fn path_problem(rejection: &PathRejection) -> Problem {
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        // Only a route registered without its parameters gets here.
        tracing::error!(error = %rejection, "a handler's path parameters are missing");
        return Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the host failed; try again",
        );
    };
    tracing::debug!(error = %error, "path refused");
    match error.kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("path parameter `{key}` is not valid UTF-8"),
        )
        .field(key),
        kind => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the path is malformed: {kind}"),
        ),
    }
}

/// The body read under a route's `limit`, or the problem that stopped it.
pub(super) fn body(read: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, Problem> {
    read.map_err(|rejection| {
        tracing::debug!(error = %rejection, "body refused");
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is over {}, the most this route takes",
                    size(limit)
                ),
            )
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the body could not be read to its end",
            )
        }
    })
}

/// `bytes` in the largest binary unit that divides it.
fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// The body as a JSON object.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be a JSON object",
        )),
        Err(e) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not JSON: {e}"),
        )),
    }
}

/// Refuses keys other than `accepted`: a misspelt key must not be ignored,
/// as `dryrun` ignored would turn a dry run into a real write.
pub(super) fn refuse_unknown_keys(
    object: &Map<String, Value>,
    accepted: &[&str],
) -> Result<(), Problem> {
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|key| !accepted.contains(key))
        .collect();
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let plural = if unknown.len() == 1 { "" } else { "s" };
    Err(Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!(
            "unknown key{plural} {}; accepted keys: {}",
            quoted(&unknown),
            quoted(accepted)
        ),
    )
    .field(first))
}

/// `["a", "b"]` as "`a`, `b`".
pub(super) fn quoted(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn known_keys_pass() {
        let body = object(json!({ "records": [], "dry_run": true }));
        assert!(refuse_unknown_keys(&body, &["records", "dry_run"]).is_ok());
    }

    #[test]
    fn an_unknown_key_is_named_with_the_accepted_ones() {
        let body = object(json!({ "records": [], "dryrun": true }));
        let problem =
            refuse_unknown_keys(&body, &["records", "dry_run"]).expect_err("`dryrun` is unknown");
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, "invalid_request");
        assert_eq!(problem.field.as_deref(), Some("dryrun"));
        assert_eq!(
            problem.detail,
            "unknown key `dryrun`; accepted keys: `records`, `dry_run`"
        );
    }

    #[test]
    fn a_body_that_is_no_object_is_refused() {
        let problem = json_object(b"[1]").expect_err("a list is no object");
        assert_eq!(problem.code, "invalid_request");
        let problem = json_object(b"{").expect_err("not JSON");
        assert_eq!(problem.code, "invalid_json");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
