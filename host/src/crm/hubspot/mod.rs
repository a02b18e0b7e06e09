//! HubSpot's CRM v3 API: properties, batch read, search, batch writes with
//! associations, owners.

mod links;
mod upsert;

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::wire::{hubspot_value, object};
use super::{Created, CrmError, FoundRecord, NewRecord, Unlinked};
use crate::record::Fields;
use crate::schema::{ObjectInfo, ObjectSchema, hubspot_object, hubspot_pipelines_options};
use crate::transport::Transport;

/// Batch endpoints take at most this many inputs per call.
const BATCH_SIZE: usize = 100;
/// The most results one search page returns.
const SEARCH_PAGE: usize = 200;

/// A client for one HubSpot portal.
pub struct HubspotClient {
    transport: Transport,
}

impl HubspotClient {
    /// A client sending through `transport`.
    pub fn new(transport: Transport) -> Self {
        Self { transport }
    }

    /// The transport, for call counts.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, CrmError> {
        let response = self.transport.send(method, path, query, body).await?;
        if response.status.is_success() {
            Ok(response.body)
        } else {
            Err(CrmError::from_hubspot(
                response.status.as_u16(),
                &response.body,
            ))
        }
    }

    /// HubSpot's standard CRM objects. Custom objects are addressed by their
    /// own names in the config and described like the rest.
    pub fn catalog(&self) -> Vec<ObjectInfo> {
        let standard = [
            ("contacts", "Contact", "Contacts"),
            ("companies", "Company", "Companies"),
            ("deals", "Deal", "Deals"),
            ("tickets", "Ticket", "Tickets"),
            ("line_items", "Line item", "Line items"),
            ("products", "Product", "Products"),
            ("calls", "Call", "Calls"),
            ("emails", "Email", "Emails"),
            ("meetings", "Meeting", "Meetings"),
            ("notes", "Note", "Notes"),
            ("tasks", "Task", "Tasks"),
        ];
        standard
            .into_iter()
            .map(|(name, label, plural)| ObjectInfo {
                name: name.into(),
                label: label.into(),
                label_plural: plural.into(),
                custom: false,
            })
            .collect()
    }

    /// Properties of `object`; for deals, stage and pipeline options come
    /// from the pipelines API, since stages are internal ids.
    pub async fn describe(&self, object: &str) -> Result<ObjectSchema, CrmError> {
        let path = format!("/crm/v3/properties/{object}");
        let body = self.call(Method::GET, &path, &[], None).await?;
        let mut schema =
            hubspot_object(object, &body).map_err(|e| CrmError::protocol(format!("{e:#}")))?;
        if object == "deals" {
            let pipelines = self
                .call(Method::GET, "/crm/v3/pipelines/deals", &[], None)
                .await?;
            hubspot_pipelines_options(&mut schema, &pipelines)
                .map_err(|e| CrmError::protocol(format!("{e:#}")))?;
        }
        Ok(schema)
    }

    /// Finds records by a property: batch read for unique properties,
    /// search with `IN` otherwise.
    pub async fn find(
        &self,
        object: &str,
        field: &str,
        unique: bool,
        values: &[String],
        read: &[String],
    ) -> Result<Vec<FoundRecord>, CrmError> {
        let mut properties: Vec<&str> = vec![field];
        properties.extend(read.iter().map(String::as_str).filter(|p| *p != field));
        let mut found = Vec::new();
        for chunk in values.chunks(BATCH_SIZE) {
            if unique {
                found.extend(self.batch_read(object, field, chunk, &properties).await?);
            } else {
                found.extend(self.search_in(object, field, chunk, &properties).await?);
            }
        }
        Ok(found)
    }

    async fn batch_read(
        &self,
        object: &str,
        field: &str,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<FoundRecord>, CrmError> {
        let path = format!("/crm/v3/objects/{object}/batch/read");
        let inputs: Vec<_> = ids.iter().map(|id| json!({ "id": id })).collect();
        let mut body = json!({ "properties": properties, "inputs": inputs });
        if field != "hs_object_id" {
            body["idProperty"] = field.into();
        }
        // A 207 lists the ids that matched nothing as errors: not a failure.
        let answer = self.call(Method::POST, &path, &[], Some(&body)).await?;
        Ok(records(&answer))
    }

    async fn search_in(
        &self,
        object: &str,
        field: &str,
        values: &[String],
        properties: &[&str],
    ) -> Result<Vec<FoundRecord>, CrmError> {
        let path = format!("/crm/v3/objects/{object}/search");
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut body = json!({
                "filterGroups": [{ "filters": [
                    { "propertyName": field, "operator": "IN", "values": values }
                ]}],
                "properties": properties,
                "limit": SEARCH_PAGE,
            });
            if let Some(after) = &after {
                body["after"] = after.clone().into();
            }
            let answer = self.call(Method::POST, &path, &[], Some(&body)).await?;
            found.extend(records(&answer));
            after = answer.pointer("/paging/next/after").and_then(|a| {
                a.as_str()
                    .map(str::to_owned)
                    .or_else(|| Some(a.to_string()))
            });
            if after.is_none() {
                return Ok(found);
            }
        }
    }

    /// Owners by email, one lookup per rep (the owners API has no batch).
    pub async fn find_owners(
        &self,
        emails: &[String],
    ) -> Result<BTreeMap<String, String>, CrmError> {
        let mut owners = BTreeMap::new();
        for email in emails {
            let query = [("email", email.clone()), ("limit", "1".to_owned())];
            let answer = self
                .call(Method::GET, "/crm/v3/owners", &query, None)
                .await?;
            let first = answer.pointer("/results/0");
            if let Some(id) = first.and_then(|o| o.get("id")) {
                let id = id
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| id.to_string());
                owners.insert(email.to_lowercase(), id);
            }
        }
        Ok(owners)
    }

    /// `batch/create` with associations inline. HubSpot fails a whole batch
    /// for one invalid input, so a refused batch is retried record by record
    /// and only the bad record fails.
    pub async fn create_many(
        &self,
        object_name: &str,
        schema: &ObjectSchema,
        records: Vec<NewRecord>,
    ) -> Vec<Result<Created, CrmError>> {
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(BATCH_SIZE) {
            let inputs: Result<Vec<_>, CrmError> =
                chunk.iter().map(|r| create_input(object_name, r)).collect();
            let inputs = match inputs {
                Ok(inputs) => inputs,
                Err(_) => {
                    // An unsupported association: report each record alone.
                    for record in chunk {
                        results.push(self.create_one(object_name, record).await);
                    }
                    continue;
                }
            };
            let path = format!("/crm/v3/objects/{object_name}/batch/create");
            let body = json!({ "inputs": inputs });
            match self.call(Method::POST, &path, &[], Some(&body)).await {
                Ok(answer) => results.extend(
                    ids_for_inputs(&answer, schema, chunk)
                        .into_iter()
                        .map(|r| r.map(Created::new)),
                ),
                Err(e) if e.status == Some(400) || e.status == Some(409) => {
                    for record in chunk {
                        results.push(self.create_one(object_name, record).await);
                    }
                }
                Err(e) => results.extend(vec![Err(e); chunk.len()]),
            }
        }
        results
    }

    /// Creates one record with its associations inline. When HubSpot
    /// refuses the create and the record has associations, it is created
    /// once without them and each is then made on its own, so one bad
    /// association is reported alone instead of costing the record.
    async fn create_one(&self, object_name: &str, record: &NewRecord) -> Result<Created, CrmError> {
        let refused = match self.post_one(object_name, record, true).await {
            Ok(id) => return Ok(Created::new(id)),
            Err(e) if record.associations.is_empty() || !is_refusal(&e) => return Err(e),
            Err(e) => e,
        };
        tracing::debug!(
            object = object_name,
            error = %refused,
            "create with associations refused; creating without them"
        );
        let id = self.post_one(object_name, record, false).await?;

        let mut created = Created::new(id);
        for (to, to_id) in &record.associations {
            if let Err(error) = self.associate(object_name, &created.id, to, to_id).await {
                created.unlinked.push(Unlinked {
                    object: to.clone(),
                    id: to_id.clone(),
                    error,
                });
            }
        }
        Ok(created)
    }

    async fn post_one(
        &self,
        object_name: &str,
        record: &NewRecord,
        with_associations: bool,
    ) -> Result<String, CrmError> {
        let mut input = create_input(object_name, record)?;
        if !with_associations && let Some(map) = input.as_object_mut() {
            map.remove("associations");
        }
        let path = format!("/crm/v3/objects/{object_name}");
        let answer = self.call(Method::POST, &path, &[], Some(&input)).await?;
        id_of(&answer).ok_or_else(|| CrmError::protocol("created record has no id".into()))
    }

    /// `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}`:
    /// HubSpot's default association between the two records.
    async fn associate(&self, from: &str, id: &str, to: &str, to_id: &str) -> Result<(), CrmError> {
        let path = format!("/crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}");
        self.call(Method::PUT, &path, &[], None).await.map(|_| ())
    }

    /// `batch/update`, falling back to one call per record when HubSpot
    /// refuses the batch.
    pub async fn update_many(
        &self,
        object_name: &str,
        _schema: &ObjectSchema,
        records: Vec<(String, Fields)>,
    ) -> Vec<Result<(), CrmError>> {
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(BATCH_SIZE) {
            let inputs: Vec<_> = chunk
                .iter()
                .map(
                    |(id, fields)| json!({ "id": id, "properties": object(fields, hubspot_value) }),
                )
                .collect();
            let path = format!("/crm/v3/objects/{object_name}/batch/update");
            let body = json!({ "inputs": inputs });
            match self.call(Method::POST, &path, &[], Some(&body)).await {
                Ok(_) => results.extend(chunk.iter().map(|_| Ok(()))),
                Err(e) if e.status == Some(400) || e.status == Some(409) => {
                    for (id, fields) in chunk {
                        let path = format!("/crm/v3/objects/{object_name}/{id}");
                        let body = json!({ "properties": object(fields, hubspot_value) });
                        let result = self.call(Method::PATCH, &path, &[], Some(&body)).await;
                        results.push(result.map(|_| ()));
                    }
                }
                Err(e) => results.extend(vec![Err(e); chunk.len()]),
            }
        }
        results
    }
}

/// HubSpot's default association type ids between standard objects.
fn association_type(from: &str, to: &str) -> Option<u32> {
    match (from, to) {
        ("deals", "companies") => Some(5),
        ("deals", "contacts") => Some(3),
        ("contacts", "companies") => Some(279),
        ("companies", "contacts") => Some(280),
        ("companies", "deals") => Some(6),
        ("contacts", "deals") => Some(4),
        (engagement, to) => engagement_association_type(engagement, to),
    }
}

/// HubSpot-defined association type ids from an engagement (call, email,
/// meeting, note, task) to a contact, company or deal.
fn engagement_association_type(from: &str, to: &str) -> Option<u32> {
    let (contact, company, deal) = match from {
        "calls" => (194, 182, 206),
        "emails" => (198, 186, 210),
        "meetings" => (200, 188, 212),
        "notes" => (202, 190, 214),
        "tasks" => (204, 192, 216),
        _ => return None,
    };
    match to {
        "contacts" => Some(contact),
        "companies" => Some(company),
        "deals" => Some(deal),
        _ => None,
    }
}

/// Whether HubSpot refused the request for what it holds (400, 404, 409),
/// so that nothing was created and sending it otherwise is safe.
fn is_refusal(error: &CrmError) -> bool {
    matches!(error.status, Some(400) | Some(404) | Some(409))
}

/// An association between objects HubSpot has no default type for.
fn unsupported_association(from: &str, to: &str) -> CrmError {
    CrmError {
        status: None,
        code: "unsupported_association".into(),
        message: format!("no default association from `{from}` to `{to}`"),
        fields: vec![],
        retryable: false,
        retry_at: None,
    }
}

fn create_input(object_name: &str, record: &NewRecord) -> Result<serde_json::Value, CrmError> {
    let associations = record
        .associations
        .iter()
        .map(|(to, id)| {
            let type_id = association_type(object_name, to)
                .ok_or_else(|| unsupported_association(object_name, to))?;
            Ok(json!({
                "to": { "id": id },
                "types": [{
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": type_id,
                }]
            }))
        })
        .collect::<Result<Vec<_>, CrmError>>()?;
    Ok(json!({ "properties": object(&record.fields, hubspot_value), "associations": associations }))
}

fn id_of(record: &serde_json::Value) -> Option<String> {
    record.get("id").map(|id| {
        id.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| id.to_string())
    })
}

pub(super) fn records(answer: &serde_json::Value) -> Vec<FoundRecord> {
    let results = answer.get("results").and_then(|r| r.as_array());
    results
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let id = id_of(r)?;
            let fields = r
                .get("properties")
                .and_then(|p| p.as_object())
                .cloned()
                .unwrap_or_default();
            Some(FoundRecord { id, fields })
        })
        .collect()
}

/// Matches batch create results back to their inputs. HubSpot does not
/// promise results in input order, so a unique property the inputs carry
/// (their match key) decides; input order is the fallback.
fn ids_for_inputs(
    answer: &serde_json::Value,
    schema: &ObjectSchema,
    inputs: &[NewRecord],
) -> Vec<Result<String, CrmError>> {
    let found = records(answer);
    if found.len() != inputs.len() {
        let error = CrmError::protocol(format!(
            "batch create answered {} results for {} inputs",
            found.len(),
            inputs.len()
        ));
        return vec![Err(error); inputs.len()];
    }
    let key = inputs.first().and_then(|first| {
        first
            .fields
            .keys()
            .find(|f| schema.field(f).is_some_and(|s| s.unique))
            .cloned()
    });
    let Some(key) = key else {
        return found.into_iter().map(|r| Ok(r.id)).collect();
    };

    let by_key: BTreeMap<String, String> = found
        .iter()
        .filter_map(|r| Some((r.fields.get(&key)?.as_str()?.to_owned(), r.id.clone())))
        .collect();
    inputs
        .iter()
        .map(|input| {
            let value = input
                .fields
                .get(&key)
                .map(|v| v.to_string())
                .unwrap_or_default();
            by_key.get(&value).cloned().ok_or_else(|| {
                CrmError::protocol(format!(
                    "batch create returned no record with {key} {value}"
                ))
            })
        })
        .collect()
}
