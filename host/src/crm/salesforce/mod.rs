//! The Salesforce REST API: describe, SOQL, sObject Collections and
//! Composite Graph ([`graph`]).

pub mod graph;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tracing::debug;

use super::wire::{object, salesforce_value};
use super::{CrmError, FoundRecord, NewRecord};
use crate::record::Fields;
use crate::schema::{ObjectInfo, ObjectSchema, salesforce_object};
use crate::transport::Transport;

/// The REST API version every path uses.
pub const API_VERSION: &str = "v60.0";
/// sObject Collections take at most this many records per call.
pub const COLLECTION_SIZE: usize = 200;
/// Values per `IN (...)` list, keeping the query URL well under its limit.
const IN_LIST_SIZE: usize = 100;

/// A client for one Salesforce org.
pub struct SalesforceClient {
    transport: Transport,
}

impl SalesforceClient {
    /// A client sending through `transport`.
    pub fn new(transport: Transport) -> Self {
        Self { transport }
    }

    /// The transport, for call counts.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// A `GET` under the API version's path, answered 2xx, or the
    /// Salesforce error.
    async fn get(&self, path: &str) -> Result<serde_json::Value, CrmError> {
        let path = format!("/services/data/{API_VERSION}{path}");
        let response = self.transport.send(Method::GET, &path, &[], None).await?;
        if !response.status.is_success() {
            return Err(CrmError::from_salesforce(
                response.status.as_u16(),
                &response.body,
            ));
        }
        Ok(response.body)
    }

    /// `GET /sobjects/{object}/describe`.
    pub async fn describe(&self, object: &str) -> Result<ObjectSchema, CrmError> {
        let body = self.get(&format!("/sobjects/{object}/describe")).await?;
        salesforce_object(&body).map_err(|e| CrmError::protocol(format!("{e:#}")))
    }

    /// `GET /sobjects`: every object of the org, from the global describe.
    pub async fn catalog(&self) -> Result<Vec<ObjectInfo>, CrmError> {
        let body = self.get("/sobjects").await?;
        let listed = body.get("sobjects").and_then(|s| s.as_array());
        let Some(listed) = listed else {
            return Err(CrmError::protocol(
                "global describe without `sobjects`".into(),
            ));
        };
        let text = |o: &serde_json::Value, key: &str| {
            o.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(listed
            .iter()
            .map(|o| ObjectInfo {
                name: text(o, "name"),
                label: text(o, "label"),
                label_plural: text(o, "labelPlural"),
                custom: o.get("custom").and_then(|v| v.as_bool()).unwrap_or(false),
            })
            .filter(|o| !o.name.is_empty())
            .collect())
    }

    /// Finds records by a field with SOQL `IN` lists, following
    /// `nextRecordsUrl` pages.
    pub async fn find(
        &self,
        object: &str,
        field: &str,
        values: &[String],
        read: &[String],
    ) -> Result<Vec<FoundRecord>, CrmError> {
        let mut columns: Vec<&str> = vec!["Id", field];
        columns.extend(
            read.iter()
                .map(String::as_str)
                .filter(|c| *c != "Id" && *c != field),
        );
        let mut found = Vec::new();
        for list in in_lists(values) {
            let soql = format!(
                "SELECT {} FROM {object} WHERE {field} IN ({list})",
                columns.join(", ")
            );
            found.extend(self.query(&soql).await?);
        }
        Ok(found)
    }

    /// Runs a SOQL query and returns every row.
    async fn query(&self, soql: &str) -> Result<Vec<FoundRecord>, CrmError> {
        self.query_at("query", soql).await
    }

    /// Runs a SOQL query over the Recycle Bin too (`queryAll`): deleted
    /// records come back with `IsDeleted: true`.
    pub(super) async fn query_all(&self, soql: &str) -> Result<Vec<FoundRecord>, CrmError> {
        self.query_at("queryAll", soql).await
    }

    /// Runs a SOQL query through `resource` (`query` or `queryAll`),
    /// following `nextRecordsUrl`, and returns every row.
    async fn query_at(&self, resource: &str, soql: &str) -> Result<Vec<FoundRecord>, CrmError> {
        let mut rows = Vec::new();
        let mut path = format!("/services/data/{API_VERSION}/{resource}");
        let mut query = vec![("q", soql.to_owned())];
        loop {
            let response = self
                .transport
                .send(Method::GET, &path, &query, None)
                .await?;
            if !response.status.is_success() {
                return Err(CrmError::from_salesforce(
                    response.status.as_u16(),
                    &response.body,
                ));
            }
            let records = response.body.get("records").and_then(|r| r.as_array());
            for record in records.into_iter().flatten() {
                let Some(mut fields) = record.as_object().cloned() else {
                    continue;
                };
                fields.remove("attributes");
                let id = fields
                    .get("Id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                rows.push(FoundRecord { id, fields });
            }
            match response.body.get("nextRecordsUrl").and_then(|v| v.as_str()) {
                Some(next) => {
                    path = next.to_owned();
                    query.clear();
                }
                None => return Ok(rows),
            }
        }
    }

    /// Active users by email.
    pub async fn find_owners(
        &self,
        emails: &[String],
    ) -> Result<BTreeMap<String, String>, CrmError> {
        let mut owners = BTreeMap::new();
        for list in in_lists(emails) {
            let soql = format!("SELECT Id, Email FROM User WHERE Email IN ({list})");
            for row in self.query(&soql).await? {
                if let Some(email) = row.fields.get("Email").and_then(|v| v.as_str()) {
                    owners.insert(email.to_lowercase(), row.id);
                }
            }
        }
        Ok(owners)
    }

    /// `POST /composite/sobjects`, 200 records a call, `allOrNone: false` so
    /// one bad record fails alone.
    pub async fn create_many(
        &self,
        object_name: &str,
        records: Vec<NewRecord>,
    ) -> Vec<Result<String, CrmError>> {
        let path = format!("/services/data/{API_VERSION}/composite/sobjects");
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_SIZE) {
            let body_records: Vec<serde_json::Value> = chunk
                .iter()
                .map(|r| collection_record(object_name, &r.fields, None))
                .collect();
            let answers = self.collection(Method::POST, &path, &body_records).await;
            results.extend(answers.into_iter().map(created_id));
        }
        results
    }

    /// `PATCH /composite/sobjects/{object}/{key_field}`, 200 records a call:
    /// each record is created holding its key in `key_field`, or, when a
    /// record already holds it (an earlier send whose answer was lost),
    /// that record is updated and its id answered.
    pub async fn upsert_many(
        &self,
        object_name: &str,
        key_field: &str,
        records: Vec<NewRecord>,
    ) -> Vec<Result<String, CrmError>> {
        let path =
            format!("/services/data/{API_VERSION}/composite/sobjects/{object_name}/{key_field}");
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_SIZE) {
            let body_records: Vec<serde_json::Value> = chunk
                .iter()
                .map(|r| {
                    let key = (key_field, r.key.clone().into());
                    collection_record(object_name, &r.fields, Some(key))
                })
                .collect();
            let answers = self.collection(Method::PATCH, &path, &body_records).await;
            for answer in &answers {
                if let Ok(answer) = answer
                    && answer.get("created").and_then(|c| c.as_bool()) == Some(false)
                {
                    debug!(
                        object = object_name,
                        "create found the record its key made before"
                    );
                }
            }
            results.extend(answers.into_iter().map(created_id));
        }
        results
    }

    /// `PATCH /composite/sobjects`, 200 records a call.
    pub async fn update_many(
        &self,
        object_name: &str,
        records: Vec<(String, Fields)>,
    ) -> Vec<Result<(), CrmError>> {
        let path = format!("/services/data/{API_VERSION}/composite/sobjects");
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_SIZE) {
            let body_records: Vec<serde_json::Value> = chunk
                .iter()
                .map(|(id, fields)| {
                    collection_record(object_name, fields, Some(("Id", id.clone().into())))
                })
                .collect();
            let answers = self.collection(Method::PATCH, &path, &body_records).await;
            results.extend(answers.into_iter().map(|a| a.map(|_| ())));
        }
        results
    }

    /// Sends one collection request (`allOrNone: false`) and splits its
    /// answer per record.
    ///
    /// Salesforce refuses a whole request when one record cannot even be
    /// read (`JSON_PARSER_ERROR` for a decimal in an integer field, say), so
    /// a request refused with 400 is split in halves until the refusal is
    /// pinned on the records that cause it: one bad record fails alone, at
    /// a cost of a few calls per bad record rather than one per record.
    fn collection<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        records: &'a [serde_json::Value],
    ) -> BoxFuture<'a, Vec<Result<serde_json::Value, CrmError>>> {
        Box::pin(async move {
            let body = json!({ "allOrNone": false, "records": records });
            let count = records.len();
            let response = match self
                .transport
                .send(method.clone(), path, &[], Some(&body))
                .await
            {
                Ok(response) => response,
                Err(e) => return vec![Err(e); count],
            };

            if response.status == StatusCode::BAD_REQUEST && count > 1 {
                let (left, right) = records.split_at(count / 2);
                debug!(count, "collection refused as a whole; sending it in halves");
                let mut answers = self.collection(method.clone(), path, left).await;
                answers.extend(self.collection(method, path, right).await);
                return answers;
            }
            if !response.status.is_success() {
                let error = CrmError::from_salesforce(response.status.as_u16(), &response.body);
                return vec![Err(error); count];
            }

            let Some(answers) = response.body.as_array().filter(|a| a.len() == count) else {
                let error = CrmError::protocol(format!(
                    "sObject Collections answered {} results for {count} records",
                    response.body.as_array().map_or(0, Vec::len)
                ));
                return vec![Err(error); count];
            };
            answers
                .iter()
                .map(|answer| {
                    if answer.get("success").and_then(|s| s.as_bool()) == Some(true) {
                        Ok(answer.clone())
                    } else {
                        let errors = answer.get("errors").cloned().unwrap_or_default();
                        Err(CrmError::from_salesforce(response.status.as_u16(), &errors))
                    }
                })
                .collect()
        })
    }
}

/// One record of a collection call: its fields, its type and, where given,
/// the field that names it (`Id`, or the key of an upsert).
fn collection_record(
    object_name: &str,
    fields: &Fields,
    named_by: Option<(&str, serde_json::Value)>,
) -> serde_json::Value {
    let mut record = object(fields, salesforce_value);
    record.insert("attributes".into(), json!({ "type": object_name }));
    if let Some((field, value)) = named_by {
        record.insert(field.to_owned(), value);
    }
    serde_json::Value::Object(record)
}

/// The id of a record a collection call created (or upserted).
fn created_id(answer: Result<serde_json::Value, CrmError>) -> Result<String, CrmError> {
    answer.and_then(|r| {
        r.get("id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| CrmError::protocol("created record came back without an id".into()))
    })
}

/// The values as SOQL `IN` lists of string literals, [`IN_LIST_SIZE`] a list.
fn in_lists(values: &[String]) -> impl Iterator<Item = String> + '_ {
    values.chunks(IN_LIST_SIZE).map(|chunk| {
        let quoted: Vec<String> = chunk.iter().map(|v| quote(v)).collect();
        quoted.join(", ")
    })
}

/// A SOQL string literal.
pub(super) fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}
