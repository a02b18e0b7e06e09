//! Associations made after the records exist, in v4 batch calls: those of
//! records created by upsert (which takes none inline), and those of
//! records that existed already.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::{BATCH_SIZE, HubspotClient, association_type, unsupported_association};
use crate::crm::{CrmError, Unlinked};

/// One link to make: the position of its record, and the target's id and
/// association type.
type Link = (usize, String, u32);

impl HubspotClient {
    /// Links each `(id, associations)` of `object_name`, in one v4 batch
    /// call per target object and 100 links. Answers, per input, the links
    /// HubSpot refused, with why; a record with an empty id is skipped.
    /// HubSpot makes an association that exists already without complaint.
    pub async fn link(
        &self,
        object_name: &str,
        records: &[(String, &[(String, String)])],
    ) -> Vec<Vec<Unlinked>> {
        let mut unlinked: Vec<Vec<Unlinked>> = records.iter().map(|_| Vec::new()).collect();
        let mut by_target: BTreeMap<&str, Vec<Link>> = BTreeMap::new();
        for (i, (id, associations)) in records.iter().enumerate() {
            if id.is_empty() {
                continue;
            }
            for (to, to_id) in associations.iter() {
                match association_type(object_name, to) {
                    Some(type_id) => {
                        by_target
                            .entry(to)
                            .or_default()
                            .push((i, to_id.clone(), type_id))
                    }
                    None => unlinked[i].push(Unlinked {
                        object: to.clone(),
                        id: to_id.clone(),
                        error: unsupported_association(object_name, to),
                    }),
                }
            }
        }

        for (to, links) in by_target {
            for chunk in links.chunks(BATCH_SIZE) {
                let refused = self.link_batch(object_name, to, records, chunk).await;
                for (i, to_id, error) in refused {
                    unlinked[i].push(Unlinked {
                        object: to.to_owned(),
                        id: to_id,
                        error,
                    });
                }
            }
        }
        unlinked
    }

    /// One v4 association batch; the links HubSpot refused, with why.
    async fn link_batch(
        &self,
        from: &str,
        to: &str,
        records: &[(String, &[(String, String)])],
        links: &[Link],
    ) -> Vec<(usize, String, CrmError)> {
        let from_id = |i: usize| records.get(i).map(|r| r.0.as_str()).unwrap_or_default();
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
