//! `POST .../search`: the filter operators HubSpot's search supports, one sort, and paging by
//! offset. Datetime properties compare as instants whether a filter gives epoch
//! milliseconds or an ISO 8601 time; numbers (ids) compare and sort as numbers.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{parse_body, render, requested_properties};
use crate::hubspot::{HubspotRecord, Org, Stored, error};

/// The most results a search can page through, whatever `total` says.
const MAX_RESULTS: usize = 10_000;

/// Whether `record` passes one search filter (`propertyName`, `operator`, `value(s)`).
fn filter_matches(record: &HubspotRecord, filter: &Value) -> bool {
    let name = filter
        .get("propertyName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = record.properties.get(name).and_then(Value::as_str);
    let target = filter
        .get("value")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let cmp = |v: &str| order(v, &target);
    match filter
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("EQ")
    {
        "EQ" => value
            .is_some_and(|v| v.eq_ignore_ascii_case(&target) || cmp(v).is_some_and(|o| o.is_eq())),
        "NEQ" => !value
            .is_some_and(|v| v.eq_ignore_ascii_case(&target) || cmp(v).is_some_and(|o| o.is_eq())),
        "IN" => value.is_some_and(|v| {
            filter
                .get("values")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter()
                        .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(v)))
                })
        }),
        "GT" => value.and_then(cmp).is_some_and(|o| o.is_gt()),
        "GTE" => value.and_then(cmp).is_some_and(|o| o.is_ge()),
        "LT" => value.and_then(cmp).is_some_and(|o| o.is_lt()),
        "LTE" => value.and_then(cmp).is_some_and(|o| o.is_le()),
        "HAS_PROPERTY" => value.is_some_and(|v| !v.is_empty()),
        "NOT_HAS_PROPERTY" => value.is_none_or(|v| v.is_empty()),
        _ => false,
    }
}

/// How two property values compare: as numbers when both are, as instants when both read
/// as times (epoch milliseconds or ISO 8601), else as text.
fn order(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    if let (Some(a), Some(b)) = (instant(a), instant(b)) {
        return Some(a.cmp(&b));
    }
    Some(a.cmp(b))
}

/// A time as epoch milliseconds: given so, or as ISO 8601.
fn instant(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `POST .../search`: filter groups OR'ed, filters AND'ed; `after` is an offset.
pub(crate) async fn search(
    State(org): State<Arc<Org>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    let input = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let limit = input
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .min(200) as usize;
    let after = input
        .get("after")
        .and_then(|a| {
            a.as_str()
                .and_then(|a| a.parse().ok())
                .or(a.as_u64().map(|a| a as usize))
        })
        .unwrap_or(0);
    if after >= MAX_RESULTS {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!(
                "Search can page through at most {MAX_RESULTS} results; narrow the filters \
                 to see past result {MAX_RESULTS}"
            ),
            Map::new(),
        );
    }
    let groups = input
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let wanted = requested_properties(&input);
    org.with_state(|s| {
        let mut hits: Vec<&Stored> = s
            .records
            .get(&object_type)
            .map(|r| {
                r.values()
                    .filter(|st| {
                        groups.is_empty()
                            || groups.iter().any(|g| {
                                g.get("filters").and_then(Value::as_array).is_none_or(|fs| {
                                    fs.iter().all(|f| filter_matches(&st.record, f))
                                })
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(sort) = input
            .get("sorts")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
        {
            let name = sort
                .get("propertyName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let descending = sort.get("direction").and_then(Value::as_str) == Some("DESCENDING");
            hits.sort_by(|a, b| {
                let x = a.record.properties.get(&name).and_then(Value::as_str);
                let y = b.record.properties.get(&name).and_then(Value::as_str);
                let o = match (x, y) {
                    (Some(x), Some(y)) => order(x, y).unwrap_or(std::cmp::Ordering::Equal),
                    (x, y) => x.cmp(&y),
                };
                if descending { o.reverse() } else { o }
            });
        }
        let total = hits.len();
        let results: Vec<Value> = hits
            .iter()
            .skip(after)
            .take(limit.min(MAX_RESULTS - after))
            .map(|st| render(st, Some(wanted.as_deref().unwrap_or(&[]))))
            .collect();
        let mut body = json!({"total": total, "results": results});
        if after + limit < total.min(MAX_RESULTS) {
            body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
        }
        Json(body).into_response()
    })
}
