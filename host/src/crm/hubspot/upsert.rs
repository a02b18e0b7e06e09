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
use super::{BATCH_SIZE, HubspotClient, is_refusal, records};
use crate::crm::{Created, CrmError, NewRecord};

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

    /// Makes the associations of every record created; a refused link is
    /// listed on its record, which exists without it.
    async fn link_all(
        &self,
        object_name: &str,
        records: &[NewRecord],
        answers: &mut [Result<Created, CrmError>],
    ) {
        let linked: Vec<(String, &[(String, String)])> = records
            .iter()
            .zip(answers.iter())
            .map(|(record, answer)| match answer {
                Ok(created) => (created.id.clone(), record.associations.as_slice()),
                Err(_) => (String::new(), &[][..]),
            })
            .collect();
        let unlinked = self.link(object_name, &linked).await;
        for (answer, unlinked) in answers.iter_mut().zip(unlinked) {
            if let Ok(created) = answer {
                created.unlinked.extend(unlinked);
            }
        }
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
