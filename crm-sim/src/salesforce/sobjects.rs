//! The sObject rows resources: create, retrieve, update, delete and upsert by external id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::describe::SObject;
use super::errors::{ApiError, SfError, parse_json};
use super::store::{Caller, OrgState};
use super::write::{self, WriteFailure};
use super::{API_VERSION, Org};

impl From<WriteFailure> for ApiError {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::Parse(error) => ApiError::bad_request(error),
            WriteFailure::Record(errors) => ApiError {
                status: StatusCode::BAD_REQUEST,
                errors,
            },
        }
    }
}

/// The sObject type `object` names, or the 404 Salesforce answers for an unknown one.
pub(crate) fn sobject_of(s: &OrgState, object: &str) -> Result<Arc<SObject>, ApiError> {
    let found = s.schema.object(object).cloned();
    found.ok_or_else(|| ApiError::unknown_object(object))
}

/// Parses a body that must be a JSON object of field values.
pub(crate) fn parse_fields(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_json(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::json_parser(
            "Cannot deserialize instance of SObject from START_ARRAY value",
        )),
    }
}

/// A record as the API returns it: `attributes` first, then the asked-for fields.
pub(crate) fn render(
    object: &str,
    record: &Map<String, Value>,
    fields: Option<&[String]>,
) -> Value {
    let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({
            "type": object,
            "url": format!("/services/data/{API_VERSION}/sobjects/{object}/{id}")
        }),
    );
    match fields {
        Some(fields) => {
            for name in fields {
                out.insert(
                    name.clone(),
                    record.get(name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        None => out.extend(record.iter().map(|(k, v)| (k.clone(), v.clone()))),
    }
    Value::Object(out)
}

/// `POST /sobjects/{Object}` → 201 `{"id","success":true,"errors":[]}`.
pub(crate) async fn create(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path(object): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = parse_fields(&body)?;
    org.with_caller(&caller, |s| {
        if s.schema.object(&object).is_none() {
            return Err(ApiError::unknown_object(&object));
        }
        let id = write::create(s, &object, &fields)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"id": id, "success": true, "errors": []})),
        )
            .into_response())
    })
}

/// `GET /sobjects/{Object}/{id}[?fields=a,b]`.
pub(crate) async fn get(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path((object, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    org.with_caller(&caller, |s| {
        let sobject = sobject_of(s, &object)?;
        let record = s.get(&sobject.name, &id).ok_or_else(ApiError::not_found)?;
        let fields = match query.get("fields") {
            Some(list) => {
                let mut names = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let field = sobject
                        .field(name)
                        .filter(|f| !s.is_hidden(&sobject.name, &f.name))
                        .ok_or_else(|| ApiError::no_such_column(name, &sobject.name))?;
                    names.push(field.name.clone());
                }
                Some(names)
            }
            None => Some(
                sobject
                    .fields
                    .iter()
                    .filter(|f| !s.is_hidden(&sobject.name, &f.name))
                    .map(|f| f.name.clone())
                    .collect(),
            ),
        };
        Ok(Json(render(&sobject.name, record, fields.as_deref())))
    })
}

/// `PATCH /sobjects/{Object}/{id}` → 204.
pub(crate) async fn update(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let fields = parse_fields(&body)?;
    org.with_caller(&caller, |s| {
        let sobject = sobject_of(s, &object)?;
        if s.get(&sobject.name, &id).is_none() {
            return Err(ApiError::not_found());
        }
        write::update(s, &sobject.name, &id, &fields)?;
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `DELETE /sobjects/{Object}/{id}` → 204.
pub(crate) async fn delete(
    State(org): State<Arc<Org>>,
    Path((object, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    org.with_state(|s| {
        let sobject = sobject_of(s, &object)?;
        if s.delete(&sobject.name, &id) {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found())
        }
    })
}

/// What an upsert by external id found.
pub(crate) enum Upserted {
    /// A new record: its Id.
    Created(String),
    /// An existing record was updated: its Id.
    Updated(String),
}

/// Upserts `fields` on the record whose `field` equals `value`; the 300 case is `Err(urls)`.
pub(crate) fn upsert_one(
    s: &mut OrgState,
    object: &str,
    field: &str,
    value: &str,
    fields: &Map<String, Value>,
) -> Result<Result<Upserted, Vec<String>>, WriteFailure> {
    let Some(sobject) = s.schema.object(object).cloned() else {
        return Err(WriteFailure::Record(vec![SfError::bare(
            "NOT_FOUND",
            format!("sObject type '{object}' is not supported."),
        )]));
    };
    let key = match sobject.field(field) {
        Some(f) if f.external_id || f.name == "Id" => f.name.clone(),
        _ => {
            return Err(WriteFailure::Record(vec![SfError::bare(
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            )]));
        }
    };
    // Upserts go by an external id, which is indexed; `Id` is the key itself.
    let candidates: Vec<&Map<String, Value>> = if key == "Id" {
        s.get(&sobject.name, value).into_iter().collect()
    } else if s.is_indexed(&sobject.name, &key) {
        let ids = s.candidates(&sobject.name, &key, value);
        ids.iter()
            .filter_map(|id| s.get(&sobject.name, id))
            .collect()
    } else {
        s.records_of(&sobject.name).collect()
    };
    let matches: Vec<String> = candidates
        .into_iter()
        .filter(|r| {
            r.get(&key)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    match matches.as_slice() {
        [] => {
            let mut fields = fields.clone();
            if key != "Id" {
                fields.insert(key, json!(value));
            }
            write::create(s, &sobject.name, &fields).map(|id| Ok(Upserted::Created(id)))
        }
        [id] => {
            write::update(s, &sobject.name, id, fields).map(|()| Ok(Upserted::Updated(id.clone())))
        }
        many => Ok(Err(many
            .iter()
            .map(|id| {
                format!(
                    "/services/data/{API_VERSION}/sobjects/{}/{id}",
                    sobject.name
                )
            })
            .collect())),
    }
}

/// `GET /sobjects/{Object}/{ExtIdField}/{value}`: the record with that external id, 404 for
/// none, 300 with their URLs for several.
pub(crate) async fn get_by_external_id(
    State(org): State<Arc<Org>>,
    Path((object, field, value)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    org.with_state(|s| {
        let sobject = sobject_of(s, &object)?;
        let key = match sobject.field(&field) {
            Some(f) if f.external_id || f.unique || f.name == "Id" => f.name.clone(),
            _ => return Err(ApiError::no_such_column(&field, &sobject.name)),
        };
        let holds = |r: &&Map<String, Value>| {
            let text = r.get(&key).and_then(Value::as_str);
            text.is_some_and(|v| v.eq_ignore_ascii_case(&value))
        };
        let found: Vec<&Map<String, Value>> = s.records_of(&sobject.name).filter(holds).collect();
        let names: Vec<String> = sobject.fields.iter().map(|f| f.name.clone()).collect();
        match found.as_slice() {
            [] => Err(ApiError::not_found()),
            [one] => Ok(Json(render(&sobject.name, one, Some(&names))).into_response()),
            many => {
                let urls: Vec<Value> = many
                    .iter()
                    .map(|r| render(&sobject.name, r, Some(&[]))["attributes"]["url"].clone())
                    .collect();
                Ok((StatusCode::MULTIPLE_CHOICES, Json(json!(urls))).into_response())
            }
        }
    })
}

/// `PATCH /sobjects/{Object}/{ExtIdField}/{value}`: 201 created, 200 updated, 300 ambiguous.
pub(crate) async fn upsert(
    State(org): State<Arc<Org>>,
    Extension(caller): Extension<Caller>,
    Path((object, field, value)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = parse_fields(&body)?;
    org.with_caller(&caller, |s| {
        if s.schema.object(&object).is_none() {
            return Err(ApiError::unknown_object(&object));
        }
        Ok(match upsert_one(s, &object, &field, &value, &fields)? {
            Ok(Upserted::Created(id)) => {
                let body = json!({"id": id, "success": true, "errors": [], "created": true});
                (StatusCode::CREATED, Json(body)).into_response()
            }
            Ok(Upserted::Updated(id)) => {
                let body = json!({"id": id, "success": true, "errors": [], "created": false});
                (StatusCode::OK, Json(body)).into_response()
            }
            Err(urls) => (StatusCode::MULTIPLE_CHOICES, Json(json!(urls))).into_response(),
        })
    })
}
