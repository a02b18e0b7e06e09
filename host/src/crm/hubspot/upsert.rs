//! Creates keyed in the portal: `batch/upsert` on the object's `crm_key`
//! property, then the records' associations in v4 batch calls (an upsert
//! takes no associations inline).
//!
//! A record whose create answer was lost is found by its key when it is
//! sent again, and updated with the same values instead of made twice.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::super::wire::{hubspot_value, object};
use super::{
    BATCH_SIZE, HubspotClient, association_type, is_refusal, records, unsupported_association,
};
use crate::crm::{Created, CrmError, NewRecord, Unlinked};

impl HubspotClient {
    /// Upserts records on `key_property`, 100 a call, and links each to its
    /// associations; one result per input, in order.
    pub async fn upsert_many(
        &self,
        object_name: &str,
        key_property: &str,
        records: Vec<NewRecord>,
    ) -> Vec<Result<Created, CrmError>> {
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(BATCH_SIZE) {
            let mut answers = match self.upsert_batch(object_name, key_property, chunk).await {
                Ok(ids) => ids,
                // HubSpot refuses a whole batch for one invalid input: each
                // record alone, so that only the invalid one fails.
                Err(e) if is_refusal(&e) && chunk.len() > 1 => {
                    let mut ids = Vec::with_capacity(chunk.len());
                    for record in chunk {
                        let one = std::slice::from_ref(record);
                        match self.upsert_batch(object_name, key_property, one).await {
                            Ok(mut id) => ids.push(id.pop().unwrap_or_else(|| {
                                Err(CrmError::protocol("upsert answered no result".into()))
                            })),
                            Err(e) => ids.push(Err(e)),
                        }
                    }
                    ids
                }
                Err(e) => vec![Err(e); chunk.len()],
            }
            .into_iter()
            .map(|id| id.map(Created::new))
            .collect::<Vec<_>>();
            self.link_all(object_name, chunk, &mut answers).await;
            results.extend(answers);
        }
        results
    }

    /// One `batch/upsert` call; the id of each input, matched by its key.
    async fn upsert_batch(
        &self,
        object_name: &str,
        key_property: &str,
        records: &[NewRecord],
    ) -> Result<Vec<Result<String, CrmError>>, CrmError> {
        let mut inputs = Vec::with_capacity(records.len());
        for record in records {
            let Some(key) = &record.key else {
                return Err(CrmError::protocol(format!(
                    "a create of `{object_name}` has no key for `{key_property}`"
                )));
            };
            inputs.push(json!({
                "idProperty": key_property,
                "id": key,
                "properties": object(&record.fields, hubspot_value),
            }));
        }
        let path = format!("/crm/v3/objects/{object_name}/batch/upsert");
        let body = json!({ "inputs": inputs });
        let answer = self.call(Method::POST, &path, &[], Some(&body)).await?;

        // HubSpot does not promise results in input order: the key decides.
        let by_key: BTreeMap<String, String> = records_of(&answer)
            .into_iter()
            .filter_map(|(properties, id)| Some((properties.get(key_property)?.clone(), id)))
            .collect();
        Ok(records
            .iter()
            .map(|r| {
                let key = r.key.clone().unwrap_or_default();
                by_key.get(&key).cloned().ok_or_else(|| {
                    CrmError::protocol(format!(
                        "batch upsert answered no record with {key_property} `{key}`"
                    ))
                })
            })
            .collect())
    }

    /// Makes the associations of every record created, in one v4 batch call
    /// per target object and 100 links; a refused link is listed on its
    /// record, which exists without it.
    async fn link_all(
        &self,
        object_name: &str,
        records: &[NewRecord],
        answers: &mut [Result<Created, CrmError>],
    ) {
        let mut by_target: BTreeMap<String, Vec<(usize, String, u32)>> = BTreeMap::new();
        for (i, (record, answer)) in records.iter().zip(answers.iter_mut()).enumerate() {
            let Ok(created) = answer else { continue };
            for (to, to_id) in &record.associations {
                match association_type(object_name, to) {
                    Some(type_id) => {
                        by_target
                            .entry(to.clone())
                            .or_default()
                            .push((i, to_id.clone(), type_id))
                    }
                    None => created.unlinked.push(Unlinked {
                        object: to.clone(),
                        id: to_id.clone(),
                        error: unsupported_association(object_name, to),
                    }),
                }
            }
        }

        for (to, links) in by_target {
            for chunk in links.chunks(BATCH_SIZE) {
                let refused = self.link_batch(object_name, &to, answers, chunk).await;
                for (i, to_id, error) in refused {
                    if let Some(Ok(created)) = answers.get_mut(i) {
                        created.unlinked.push(Unlinked {
                            object: to.clone(),
                            id: to_id,
                            error,
                        });
                    }
                }
            }
        }
    }

    /// One v4 association batch; the links HubSpot refused, with why.
    async fn link_batch(
        &self,
        from: &str,
        to: &str,
        answers: &[Result<Created, CrmError>],
        links: &[(usize, String, u32)],
    ) -> Vec<(usize, String, CrmError)> {
        let from_id = |i: usize| match answers.get(i) {
            Some(Ok(created)) => created.id.clone(),
            _ => String::new(),
        };
        let inputs: Vec<_> = links
            .iter()
            .map(|(i, to_id, type_id)| {
                json!({
                    "from": { "id": from_id(*i) },
                    "to": { "id": to_id },
                    "types": [{
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": type_id,
                    }],
                })
            })
            .collect();
        let path = format!("/crm/v4/associations/{from}/{to}/batch/create");
        let body = json!({ "inputs": inputs });
        let answer = match self.call(Method::POST, &path, &[], Some(&body)).await {
            Ok(answer) => answer,
            Err(e) => {
                return links
                    .iter()
                    .map(|(i, to_id, _)| (*i, to_id.clone(), e.clone()))
                    .collect();
            }
        };

        // A 207 names each refused link by its two ids.
        let errors = answer.get("errors").and_then(|e| e.as_array());
        let mut refused = Vec::new();
        for error in errors.into_iter().flatten() {
            let first = |key: &str| {
                error.pointer(&format!("/context/{key}/0")).map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
            };
            let (Some(from_ref), Some(to_ref)) = (first("fromObjectId"), first("toObjectId"))
            else {
                continue;
            };
            let status = error.get("status").and_then(|s| s.as_str());
            let crm_error =
                CrmError::from_hubspot(if status == Some("error") { 400 } else { 207 }, error);
            refused.extend(
                links
                    .iter()
                    .filter(|(i, to_id, _)| from_id(*i) == from_ref && *to_id == to_ref)
                    .map(|(i, to_id, _)| (*i, to_id.clone(), crm_error.clone())),
            );
        }
        refused
    }
}

/// Each result's properties as text, with its id.
fn records_of(answer: &serde_json::Value) -> Vec<(BTreeMap<String, String>, String)> {
    records(answer)
        .into_iter()
        .map(|r| {
            let properties = r
                .fields
                .iter()
                .map(|(k, v)| {
                    let text = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), text)
                })
                .collect();
            (properties, r.id)
        })
        .collect()
}
