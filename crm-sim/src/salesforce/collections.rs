//! sObject Collections: create, update, upsert, retrieve and delete up to 200 records per call.
//!
//! Results come back in input order. With `allOrNone: true` one failure rolls every record
//! back and the others report `ALL_OR_NONE_OPERATION_ROLLED_BACK`. A value that cannot be
//! deserialized fails the whole call with a 400 `JSON_PARSER_ERROR`, as in Salesforce.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use serde_json::{Map, Value, json};

use super::Org;
use super::errors::{ApiError, SfError, parse_json};
use super::sobjects::{Upserted, render, sobject_of, upsert_one};
use super::store::{Caller, OrgState};
use super::write::{self, WriteFailure};

/// The most records one collection call takes.
const MAX_RECORDS: usize = 200;

struct Request {
    all_or_none: bool,
    records: Vec<Map<String, Value>>,
}

fn parse_request(body: &[u8]) -> Result<Request, ApiError> {
    let value = parse_json(body)?;
    let all_or_none = value
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let records: Vec<Map<String, Value>> = value
        .get("records")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    if records.len() > MAX_RECORDS {
        return Err(ApiError::bad_request(SfError::bare(
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {MAX_RECORDS} records into this call"
            ),
        )));
    }
    Ok(Request {
        all_or_none,
        records,
    })
}

fn record_type(record: &Map<String, Value>) -> Option<String> {
    record
        .get("attributes")?
        .get("type")?
        .as_str()
        .map(str::to_owned)
}

/// Runs `op` on each record, rolling back everything when `all_or_none` and one failed.
///
/// Salesforce reads the whole request before it writes anything, so a value
/// it cannot deserialize refuses the call with nothing written, whatever
/// `allOrNone` says. `object_of` names each record's sObject type; `caller` is who writes.
fn run(
    org: &Org,
    caller: &Caller,
    request: Request,
    object_of: impl Fn(&Map<String, Value>) -> Option<String>,
    op: impl Fn(&mut OrgState, &Map<String, Value>) -> Result<Value, WriteFailure>,
) -> Result<Json<Value>, ApiError> {
    org.with_caller(caller, |s| {
        for record in &request.records {
            if let Some(object) = object_of(record) {
                write::deserializable(s, &object, record).map_err(ApiError::bad_request)?;
            }
        }

        let snapshot = request.all_or_none.then(|| s.snapshot());
        let mut results = Vec::new();
        for record in &request.records {
            match op(s, record) {
                Ok(value) => results.push(Ok(value)),
                Err(WriteFailure::Parse(error)) => {
                    if let Some(snapshot) = snapshot {
                        s.restore(snapshot);
                    }
                    return Err(ApiError::bad_request(error));
                }
                Err(WriteFailure::Record(errors)) => results.push(Err(errors)),
            }
        }
        let failed = results.iter().any(Result::is_err);
        match snapshot {
            Some(snapshot) if !failed => s.commit(snapshot),
            Some(snapshot) => s.restore(snapshot),
            None => {}
        }
        if failed && request.all_or_none {
            let rolled_back = SfError::on_fields(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid \
                 and the request was using AllOrNone header",
                Vec::new(),
            );
            for result in &mut results {
                if result.is_ok() {
                    *result = Err(vec![rolled_back.clone()]);
                }
            }
        }
        let body = results
            .into_iter()
            .map(|r| match r {
                Ok(value) => value,
                Err(errors) => json!({
                    "success": false,
                    "errors": errors.iter().map(SfError::collection_json).collect::<Vec<_>>(),
                }),
            })
            .collect();
        Ok(Json(Value::Array(body)))
    })
}

fn missing_type() -> WriteFailure {
    WriteFailure::Record(vec![SfError::on_fields(
        "INVALID_FIELD",
        "No SObject Type defined in the record's attributes",
        Vec::new(),
    )])
}

/// `POST /composite/sobjects`: creates each record.
pub(crate) async fn create(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = parse_request(&body)?;
    run(&org, &caller, request, record_type, |s, record| {
        let object = record_type(record).ok_or_else(missing_type)?;
        let id = write::create(s, &object, record)?;
        Ok(json!({"id": id, "success": true, "errors": []}))
    })
}

/// `PATCH /composite/sobjects`: updates each record by its `Id`.
pub(crate) async fn update(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = parse_request(&body)?;
    run(&org, &caller, request, record_type, |s, record| {
        let object = record_type(record).ok_or_else(missing_type)?;
        let Some(id) = record.get("Id").and_then(Value::as_str) else {
            return Err(WriteFailure::Record(vec![SfError::on_fields(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
                Vec::new(),
            )]));
        };
        write::update(s, &object, id, record)?;
        let id = s
            .get(&object, id)
            .and_then(|r| r.get("Id"))
            .cloned()
            .unwrap_or(json!(id));
        Ok(json!({"id": id, "success": true, "errors": []}))
    })
}

/// `PATCH /composite/sobjects/{Object}/{ExtIdField}`: upserts each record, with `created`.
pub(crate) async fn upsert(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path((object, field)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request = parse_request(&body)?;
    run(
        &org,
        &caller,
        request,
        |_| Some(object.clone()),
        |s, record| {
            let mut fields = record.clone();
            let key = fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&field))
                .map(|(k, _)| k.clone());
            let value = key
                .and_then(|k| fields.remove(&k))
                .and_then(|v| v.as_str().map(str::to_owned));
            let outcome = match value {
                Some(value) => upsert_one(s, &object, &field, &value, &fields)?,
                None => Ok(Upserted::Created(write::create(s, &object, &fields)?)),
            };
            match outcome {
                Ok(Upserted::Created(id)) => {
                    Ok(json!({"id": id, "success": true, "errors": [], "created": true}))
                }
                Ok(Upserted::Updated(id)) => {
                    Ok(json!({"id": id, "success": true, "errors": [], "created": false}))
                }
                Err(_) => Err(WriteFailure::Record(vec![SfError::on_fields(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("{field}: more than one record found for external id field"),
                    vec![field.clone()],
                )])),
            }
        },
    )
}

/// `GET /composite/sobjects/{Object}?ids=..&fields=..`: `null` for ids not found.
pub(crate) async fn retrieve(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path(object): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let list = |key: &str| -> Vec<String> {
        query
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ids, names) = (list("ids"), list("fields"));
    org.with_caller(&caller, |s| {
        let sobject = sobject_of(s, &object)?;
        let mut fields = Vec::new();
        for name in &names {
            let visible = sobject
                .field(name)
                .filter(|f| !s.is_hidden(&sobject.name, &f.name));
            let field = visible.ok_or_else(|| {
                ApiError::bad_request(SfError::bare(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on entity '{}'.", sobject.name),
                ))
            })?;
            fields.push(field.name.clone());
        }
        let rows = ids
            .iter()
            .map(|id| {
                s.get(&sobject.name, id)
                    .map(|r| render(&sobject.name, r, Some(&fields)))
                    .unwrap_or(Value::Null)
            })
            .collect();
        Ok(Json(Value::Array(rows)))
    })
}

/// `DELETE /composite/sobjects?ids=..`: deletes each record.
pub(crate) async fn delete(
    State(org): State<Arc<Org>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let ids: Vec<String> = query
        .get("ids")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    org.with_state(|s| {
        let rows = ids
            .iter()
            .map(|id| {
                let object = s.schema.object_for_id(id).map(|o| o.name.clone());
                match object {
                    Some(object) if s.delete(&object, id) => {
                        json!({"id": id, "success": true, "errors": []})
                    }
                    _ => json!({
                        "success": false,
                        "errors": [{
                            "statusCode": "ENTITY_IS_DELETED",
                            "message": "entity is deleted",
                            "fields": []
                        }]
                    }),
                }
            })
            .collect();
        Json(Value::Array(rows))
    })
}
