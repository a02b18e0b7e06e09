//! Sending: creates and changing updates, batched per object, each answer
//! matched back to its record.

use std::collections::BTreeMap;

use super::execute::Work;
use super::{CustomerRuntime, RecordError, Status};
use crate::crm::NewRecord;
use crate::export::Plan;
use crate::record::Fields;
use crate::schema::OrgSchema;

/// Sends creates and changing updates, batched per object.
pub(super) async fn send(runtime: &CustomerRuntime, schema: &OrgSchema, work: &mut [Work]) {
    let mut creates: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut updates: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, w) in work.iter_mut().enumerate().filter(|(_, w)| w.ok()) {
        let Some(plan) = &w.plan else { continue };
        let object = w.prepared.write.object.clone();
        if plan.creating {
            creates.entry(object).or_default().push(i);
        } else if plan.is_noop() {
            w.status = Status::Unchanged;
        } else {
            updates.entry(object).or_default().push(i);
        }
    }

    for (object, indices) in creates {
        let Some(object_schema) = schema.objects.get(&object) else {
            continue;
        };
        let records: Vec<NewRecord> = indices
            .iter()
            .map(|&i| NewRecord {
                fields: work[i].plan.as_ref().map(Plan::payload).unwrap_or_default(),
                associations: work[i].associations.clone(),
            })
            .collect();
        let answers = runtime
            .crm
            .create_many(&object, object_schema, records)
            .await;
        for (&i, answer) in indices.iter().zip(answers) {
            match answer {
                Ok(id) => {
                    work[i].crm_id = Some(id);
                    work[i].status = Status::Created;
                }
                Err(e) => work[i].fail(RecordError::crm(e)),
            }
        }
    }

    for (object, indices) in updates {
        let Some(object_schema) = schema.objects.get(&object) else {
            continue;
        };
        let records: Vec<(String, Fields)> = indices
            .iter()
            .map(|&i| {
                let id = work[i].crm_id.clone().unwrap_or_default();
                (
                    id,
                    work[i].plan.as_ref().map(Plan::payload).unwrap_or_default(),
                )
            })
            .collect();
        let answers = runtime
            .crm
            .update_many(&object, object_schema, records)
            .await;
        for (&i, answer) in indices.iter().zip(answers) {
            match answer {
                Ok(()) => work[i].status = Status::Updated,
                Err(e) => work[i].fail(RecordError::crm(e)),
            }
        }
    }
}
