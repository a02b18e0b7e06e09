//! Each route's input, parsed and checked before the host acts on it, so
//! that a mistake is refused with the key at fault instead of ignored.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::input::{json_object, quoted, refuse_unknown_keys};
use super::{MAX_BATCH, MAX_JOB, Problem};
use crate::auth::Credentials;
use crate::config::CustomerConfig;
use crate::pipeline::{ActivityIntent, RecordError, WriteIntent, into_intent};
use crate::store::AuditFilter;

/// The top-level keys of a write request.
pub(super) const WRITE_KEYS: &[&str] = &["records", "activities", "dry_run"];

/// The keys of a connection.
pub(super) const CONNECTION_KEYS: &[&str] = &[
    "base_url",
    "client_id",
    "client_secret",
    "refresh_token",
    "jwt_private_key",
];

/// The query parameters of the audit.
const AUDIT_PARAMETERS: &[&str] = &["record", "object", "since", "until", "limit"];

/// The query parameters of the operator audit.
const OPERATOR_AUDIT_PARAMETERS: &[&str] = &["customer", "plugin", "limit"];

/// Largest body of the small JSON requests (an activation, a key).
pub(super) const MAX_SMALL_BODY: usize = 64 * 1024;

/// The longest plugin name.
const MAX_PLUGIN_NAME: usize = 64;

/// A write request, its records still unparsed: each parses on its own so
/// that one malformed record fails alone.
pub(super) struct WriteRequest {
    /// The records as sent.
    pub records: Vec<Value>,
    /// The activities as sent.
    pub activities: Vec<Value>,
    /// Plan only, write nothing.
    pub dry_run: bool,
}

/// `{"records": [...], "dry_run": false}` of at most `max` records and
/// activities.
pub(super) fn write_request(body: &[u8], max: usize) -> Result<WriteRequest, Problem> {
    let mut object = json_object(body)?;
    refuse_unknown_keys(&object, WRITE_KEYS)?;

    let records = list(&mut object, "records")?;
    let activities = list(&mut object, "activities")?;
    if records.is_none() && activities.is_none() {
        return Err(bad_request("`records` must be a list").field("records"));
    }
    let records = records.unwrap_or_default();
    let activities = activities.unwrap_or_default();
    let sent = records.len() + activities.len();
    if sent > max {
        let field = if records.len() >= activities.len() {
            "records"
        } else {
            "activities"
        };
        let hint = if max == MAX_BATCH {
            format!("; send up to {MAX_JOB} as a job (`POST /v1/customers/{{customer}}/jobs`)")
        } else {
            String::new()
        };
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{sent} records and activities sent; at most {max} per request{hint}"),
        )
        .field(field));
    }

    let dry_run = match object.remove("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(dry_run)) => dry_run,
        Some(_) => return Err(bad_request("`dry_run` must be true or false").field("dry_run")),
    };
    Ok(WriteRequest {
        records,
        activities,
        dry_run,
    })
}

/// The list under `key`, if the request has one.
fn list(object: &mut Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>, Problem> {
    match object.remove(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(bad_request(format!("`{key}` must be a list")).field(key)),
    }
}

/// One activity of a write request, as the write intent of the customer's
/// activity entity for its kind.
pub(super) fn activity_intent(
    config: &CustomerConfig,
    activity: &Value,
) -> Result<WriteIntent, RecordError> {
    if !activity.is_object() {
        return Err(RecordError::input(
            "invalid_activity",
            "an activity is a JSON object with `kind`, `occurred_at` and `idempotency_key`".into(),
            None,
        ));
    }
    let parsed = ActivityIntent::deserialize(activity).map_err(|e| {
        invalid_field(activity).unwrap_or_else(|| {
            RecordError::input(
                "invalid_activity",
                format!("activity is malformed: {e}"),
                None,
            )
        })
    })?;
    into_intent(config, parsed)
}

/// One record of a write request.
pub(super) fn write_intent(record: &Value) -> Result<WriteIntent, RecordError> {
    if !record.is_object() {
        let kind = match record {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "list",
            Value::Object(_) => "object",
        };
        return Err(RecordError::input(
            "invalid_record",
            format!(
                "a record is a JSON object with `entity`, `operation` and `fields`, not a {kind}"
            ),
            None,
        ));
    }
    WriteIntent::deserialize(record).map_err(|e| {
        // serde names no map key: look for the field value at fault.
        invalid_field(record).unwrap_or_else(|| {
            RecordError::input("invalid_record", format!("record is malformed: {e}"), None)
        })
    })
}

/// The first of a record's fields whose value is of no accepted shape.
fn invalid_field(record: &Value) -> Option<RecordError> {
    let fields = record.get("fields")?.as_object()?;
    fields.iter().find_map(|(name, value)| {
        let error = crate::record::Value::deserialize(value).err()?;
        Some(RecordError::input(
            "invalid_record",
            format!("field `{name}`: {error}"),
            Some(name.clone()),
        ))
    })
}

/// `{"base_url": ..., "client_id": ..., "client_secret": ..., "refresh_token": ...}`.
pub(super) fn credentials(body: &[u8]) -> Result<Credentials, Problem> {
    let object = json_object(body)?;
    refuse_unknown_keys(&object, CONNECTION_KEYS)?;

    let credentials = Credentials {
        base_url: text(&object, "base_url")?,
        client_id: text(&object, "client_id")?,
        client_secret: text(&object, "client_secret")?,
        refresh_token: text(&object, "refresh_token")?,
        jwt_key: match object.get("jwt_private_key") {
            None | Some(Value::Null) => None,
            Some(_) => Some(text(&object, "jwt_private_key")?),
        },
    };
    check_base_url(&credentials.base_url)?;
    if let Some(pem) = &credentials.jwt_key {
        crate::auth::check_jwt_key(pem).map_err(|e| {
            bad_request(format!("`jwt_private_key` is not usable: {e}")).field("jwt_private_key")
        })?;
    }
    Ok(credentials)
}

pub(super) fn text(object: &Map<String, Value>, key: &str) -> Result<String, Problem> {
    match object.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        _ => Err(bad_request(format!("`{key}` must be non-empty text")).field(key)),
    }
}

/// Token paths are appended to the base URL: it must be an absolute http(s)
/// URL with nothing after its path.
fn check_base_url(base_url: &str) -> Result<(), Problem> {
    let valid = url::Url::parse(base_url).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.query().is_none()
            && url.fragment().is_none()
    });
    if valid {
        return Ok(());
    }
    Err(bad_request(format!(
        "`base_url` must be an absolute http(s) URL such as \
         `https://login.salesforce.com`, not `{base_url}`"
    ))
    .field("base_url"))
}

/// `?limit=N`: how many audit entries, 100 unless given, within 1 to 1000.
pub(super) fn audit_filter(query: Option<&str>) -> Result<AuditFilter, Problem> {
    let mut filter = AuditFilter::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let time = |value: &str| {
            DateTime::parse_from_rfc3339(value)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    bad_request(format!(
                        "query parameter `{key}` must be an RFC 3339 time such as \
                         2026-01-31T09:00:00Z, not `{value}`"
                    ))
                    .field(&key)
                })
        };
        match key.as_ref() {
            "record" => filter.record = Some(value.into_owned()),
            "object" => filter.object = Some(value.into_owned()),
            "since" => filter.since = Some(time(&value)?),
            "until" => filter.until = Some(time(&value)?),
            "limit" => filter.limit = limit(&value)?,
            _ => {
                return Err(bad_request(format!(
                    "unknown query parameter `{key}`; accepted: {}",
                    quoted(AUDIT_PARAMETERS)
                ))
                .field(&key));
            }
        }
    }
    Ok(filter)
}

/// `limit=N`: a whole number from 1; more than 1,000 reads 1,000.
pub(super) fn limit(value: &str) -> Result<i64, Problem> {
    let limit: i64 = value.parse().ok().filter(|l| *l >= 1).ok_or_else(|| {
        bad_request(format!(
            "query parameter `limit` must be a whole number from 1, not \
             `{value}` (more than 1,000 reads 1,000)"
        ))
        .field("limit")
    })?;
    Ok(limit.min(1000))
}

/// `?customer=&plugin=&limit=` of the operator audit.
pub(super) fn operator_audit_query(
    query: Option<&str>,
) -> Result<(Option<String>, Option<String>, i64), Problem> {
    let (mut customer, mut plugin, mut count) = (None, None, 100);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "customer" => customer = Some(value.into_owned()),
            "plugin" => plugin = Some(value.into_owned()),
            "limit" => count = limit(&value)?,
            _ => {
                return Err(bad_request(format!(
                    "unknown query parameter `{key}`; accepted: {}",
                    quoted(OPERATOR_AUDIT_PARAMETERS)
                ))
                .field(&key));
            }
        }
    }
    Ok((customer, plugin, count))
}

/// A plugin name: `[a-z0-9][a-z0-9_-]*`, at most 64 characters, so that it
/// is safe wherever a name ends up (paths, logs, metrics).
pub(super) fn check_plugin_name(name: &str) -> Result<(), Problem> {
    let valid = name.len() <= MAX_PLUGIN_NAME && crate::config::is_package_name(name);
    if valid {
        return Ok(());
    }
    Err(bad_request(format!(
        "path parameter `name` must match `[a-z0-9][a-z0-9_-]*` in at most \
         {MAX_PLUGIN_NAME} characters, not `{name}`"
    ))
    .field("name"))
}

/// A plugin version: `MAJOR.MINOR.PATCH` with an optional pre-release, as
/// semantic versioning 2.0.0 writes them (no build metadata).
pub(super) fn check_plugin_version(version: &str) -> Result<(), Problem> {
    if is_semantic_version(version) {
        return Ok(());
    }
    Err(bad_request(format!(
        "path parameter `version` must be a semantic version \
         `MAJOR.MINOR.PATCH` or `MAJOR.MINOR.PATCH-PRERELEASE`, not `{version}`"
    ))
    .field("version"))
}

fn is_semantic_version(version: &str) -> bool {
    let (core, pre_release) = match version.split_once('-') {
        Some((core, pre_release)) => (core, Some(pre_release)),
        None => (version, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers.iter().all(|n| is_number(n))
        && pre_release.is_none_or(|pre| pre.split('.').all(is_pre_release_identifier))
}

/// A numeric identifier: digits, no leading zero.
fn is_number(identifier: &str) -> bool {
    !identifier.is_empty()
        && identifier.bytes().all(|b| b.is_ascii_digit())
        && (identifier == "0" || !identifier.starts_with('0'))
}

fn is_pre_release_identifier(identifier: &str) -> bool {
    let alphanumeric = !identifier.is_empty()
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let numeric = identifier.bytes().all(|b| b.is_ascii_digit());
    alphanumeric && (!numeric || is_number(identifier))
}

pub(super) fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    fn write_request_of(body: &[u8]) -> Result<WriteRequest, Problem> {
        write_request(body, MAX_BATCH)
    }

    #[test]
    fn a_misspelt_dry_run_is_refused() {
        let problem = write_request_of(&body(json!({ "records": [], "dryrun": true })))
            .map(|_| ())
            .expect_err("`dryrun` is unknown");
        assert_eq!(problem.field.as_deref(), Some("dryrun"));
        assert!(
            problem
                .detail
                .contains("`records`, `activities`, `dry_run`"),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn a_write_request_reads_records_and_dry_run() -> Result<(), Problem> {
        let request = write_request_of(&body(json!({ "records": [{}, {}], "dry_run": true })))?;
        assert_eq!(request.records.len(), 2);
        assert!(request.dry_run);
        Ok(())
    }

    #[test]
    fn a_nested_object_names_its_field() {
        let record = json!({
            "entity": "company", "operation": "create",
            "fields": { "city": "Oslo", "name": { "nested": true } },
        });
        let error = write_intent(&record).expect_err("an object is no value");
        assert_eq!(error.code, "invalid_record");
        assert_eq!(error.field.as_deref(), Some("name"));
        assert!(
            error.message.starts_with("field `name`: "),
            "{}",
            error.message
        );
        assert!(
            error.message.contains(crate::record::ACCEPTED_VALUES),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_record_malformed_elsewhere_says_so() {
        let error = write_intent(&json!({ "entity": "company" })).expect_err("no operation");
        assert!(error.message.contains("`operation`"), "{}", error.message);
        assert_eq!(error.field, None);
    }

    fn connection(base_url: &str) -> Value {
        json!({
            "base_url": base_url, "client_id": "id", "client_secret": "secret",
            "refresh_token": "refresh",
        })
    }

    #[test]
    fn a_connection_needs_an_absolute_http_url() {
        for good in ["https://login.salesforce.com", "http://127.0.0.1:8081/"] {
            assert!(credentials(&body(connection(good))).is_ok(), "{good}");
        }
        for bad in [
            "login.salesforce.com",
            "ftp://host",
            "https://host/?a=b",
            "/relative",
        ] {
            let problem = credentials(&body(connection(bad))).expect_err(bad);
            assert_eq!(problem.field.as_deref(), Some("base_url"), "{bad}");
        }
    }

    #[test]
    fn a_connection_refuses_unknown_and_missing_keys() {
        let mut sent = connection("https://login.salesforce.com");
        sent["instance"] = "eu".into();
        let problem = credentials(&body(sent)).expect_err("unknown key");
        assert_eq!(problem.field.as_deref(), Some("instance"));

        let sent = json!({ "base_url": "https://login.salesforce.com" });
        let problem = credentials(&body(sent)).expect_err("missing keys");
        assert_eq!(problem.field.as_deref(), Some("client_id"));
    }

    #[test]
    fn the_audit_filter_reads_record_object_time_and_limit() -> Result<(), Problem> {
        let limit = |query: &str| audit_filter(Some(query)).map(|f| f.limit);
        assert_eq!(audit_filter(None)?.limit, 100);
        assert_eq!(limit("limit=5")?, 5);
        assert_eq!(limit("limit=5000")?, 1000);
        let problem = limit("limit=abc").expect_err("not a number");
        assert_eq!(problem.field.as_deref(), Some("limit"));
        assert!(problem.detail.contains("`abc`"), "{}", problem.detail);
        for below in ["limit=0", "limit=-1"] {
            let problem = limit(below).expect_err("below one");
            assert_eq!(problem.field.as_deref(), Some("limit"));
        }
        let problem = limit("limt=5").expect_err("misspelt");
        assert_eq!(problem.field.as_deref(), Some("limt"));

        let filter = audit_filter(Some(
            "record=deal-7&object=Opportunity&since=2026-01-31T09:00:00Z\
             &until=2026-02-01T00:00:00%2B01:00",
        ))?;
        assert_eq!(filter.record.as_deref(), Some("deal-7"));
        assert_eq!(filter.object.as_deref(), Some("Opportunity"));
        assert_eq!(
            filter.since.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-31T09:00:00+00:00")
        );
        assert_eq!(
            filter.until.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-31T23:00:00+00:00")
        );
        let problem = audit_filter(Some("since=yesterday")).expect_err("not a time");
        assert_eq!(problem.field.as_deref(), Some("since"));
        Ok(())
    }

    #[test]
    fn plugin_names_are_lowercase_words() {
        for good in ["globex-deal-stages", "a", "0_x", &"a".repeat(64)] {
            assert!(check_plugin_name(good).is_ok(), "{good}");
        }
        for bad in [
            "../../x",
            "",
            "-x",
            "_x",
            "Globex",
            "a b",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(check_plugin_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_versions_are_semantic_versions() {
        for good in [
            "0.1.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-rc.1",
            "1.0.0-x-y.0",
        ] {
            assert!(check_plugin_version(good).is_ok(), "{good}");
        }
        for bad in [
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+build",
            "v1.2.3",
            "1.2.x",
            "..",
            "1.2.3-a..b",
        ] {
            assert!(check_plugin_version(bad).is_err(), "{bad}");
        }
    }
}
