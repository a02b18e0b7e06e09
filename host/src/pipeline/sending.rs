//! Sending: creates and changing updates, batched per object and per
//! connection that writes them, each answer matched back to its record.
//!
//! A create of an object with a `crm_key` carries conduit's key for the
//! record there (its idempotency key, or a fresh one) and is sent as an
//! upsert on it, so that a create whose answer was lost is found when it is
//! sent again, by the transport or by the agent, not made twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::execute::Work;
use super::{CustomerRuntime, RecordError, Status};
use crate::config::CustomerConfig;
use crate::crm::{Crm, CrmError, NewRecord};
use crate::export::Plan;
use crate::record::{Fields, Value};
use crate::schema::{ObjectSchema, OrgSchema, read_value};

/// The code of a create that may exist in the CRM though its answer was
/// lost, and that a retry would not find (see [`found_on_retry`]): it is
/// not sent again.
pub(super) const OUTCOME_UNKNOWN: &str = "crm_outcome_unknown";

/// Records sent together: one object, one writer.
type Group = (String, Option<String>);

/// A record's associations: each target's object and CRM id.
type Links = Vec<(String, String)>;

/// Sends creates and changing updates, batched per object and per
/// connection that writes them.
pub(super) async fn send(
    config: &CustomerConfig,
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut [Work],
) {
    let mut creates: BTreeMap<(Group, Option<String>), Vec<usize>> = BTreeMap::new();
    let mut updates: BTreeMap<Group, Vec<usize>> = BTreeMap::new();
    for (i, w) in work.iter_mut().enumerate().filter(|(_, w)| w.ok()) {
        let Some(plan) = &w.plan else { continue };
        let group = (w.prepared.write.object.clone(), w.writer.clone());
        if plan.creating {
            let crm_key = config
                .entities
                .get(&w.prepared.intent.entity)
                .and_then(|e| e.crm_key.clone());
            creates.entry((group, crm_key)).or_default().push(i);
        } else if plan.is_noop() {
            w.status = Status::Unchanged;
        } else {
            updates.entry(group).or_default().push(i);
        }
    }

    for (((object, writer), crm_key), indices) in creates {
        let Some(object_schema) = schema.objects.get(&object) else {
            continue;
        };
        let Some(crm) = writer_or_fail(runtime, writer.as_ref(), work, &indices).await else {
            continue;
        };
        create(&crm, object_schema, crm_key.as_deref(), work, &indices).await;
    }

    for ((object, writer), indices) in updates {
        let Some(object_schema) = schema.objects.get(&object) else {
            continue;
        };
        let Some(crm) = writer_or_fail(runtime, writer.as_ref(), work, &indices).await else {
            continue;
        };
        update(&crm, object_schema, work, &indices).await;
    }

    if matches!(*runtime.crm, Crm::Hubspot(_)) {
        link_existing(runtime, work).await;
    }
}

/// Makes the HubSpot associations of records that existed already, which
/// HubSpot links apart from their properties: all of an updated record's,
/// and those of an unchanged record to records this batch created, which
/// cannot exist yet. An unchanged record that gains a link is updated; a
/// link HubSpot refuses is listed on its record.
async fn link_existing(runtime: &CustomerRuntime, work: &mut [Work]) {
    let mut groups: BTreeMap<Group, Vec<(usize, Links)>> = BTreeMap::new();
    for (i, w) in work.iter().enumerate().filter(|(_, w)| w.ok()) {
        let links = match w.status {
            Status::Updated => &w.associations,
            Status::Unchanged => &w.linked_new,
            _ => continue,
        };
        if links.is_empty() || w.crm_id.is_none() {
            continue;
        }
        let group = (w.prepared.write.object.clone(), w.writer.clone());
        groups.entry(group).or_default().push((i, links.clone()));
    }

    for ((object, writer), records) in groups {
        let indices: Vec<usize> = records.iter().map(|(i, _)| *i).collect();
        let Some(crm) = writer_or_fail(runtime, writer.as_ref(), work, &indices).await else {
            continue;
        };
        let inputs: Vec<(String, &[(String, String)])> = records
            .iter()
            .map(|(i, links)| {
                (
                    work[*i].crm_id.clone().unwrap_or_default(),
                    links.as_slice(),
                )
            })
            .collect();
        let refused = crm.link(&object, &inputs).await;
        for ((i, links), unlinked) in records.iter().zip(refused) {
            let w = &mut work[*i];
            if w.status == Status::Unchanged && unlinked.len() < links.len() {
                w.status = Status::Updated;
            }
            w.unlinked.extend(unlinked);
        }
    }
}

/// Sends one group's creates, each answer to its record.
async fn create(
    crm: &Crm,
    object_schema: &ObjectSchema,
    crm_key: Option<&str>,
    work: &mut [Work],
    indices: &[usize],
) {
    let records: Vec<NewRecord> = indices
        .iter()
        .map(|&i| NewRecord {
            fields: work[i].plan.as_ref().map(Plan::payload).unwrap_or_default(),
            associations: work[i].associations.clone(),
            key: crm_key.map(|_| upsert_key(&work[i])),
        })
        .collect();
    let object = object_schema.name.as_str();
    let answers = crm
        .create_many(object, object_schema, records, crm_key)
        .await;
    for (&i, answer) in indices.iter().zip(answers) {
        match answer {
            Ok(created) => {
                work[i].crm_id = Some(created.id);
                work[i].status = Status::Created;
                work[i].unlinked = created.unlinked;
            }
            Err(e) if answer_lost(&e) && !found_on_retry(&work[i], crm_key.is_some()) => {
                work[i].fail(outcome_unknown(object, e));
            }
            Err(e) => work[i].fail(RecordError::crm(e)),
        }
    }
}

/// The key a create of `w` carries in its object's `crm_key`: its
/// idempotency key, so that the agent sending it again finds the record, or
/// a fresh one, which the transport's own resends still find.
pub(super) fn upsert_key(w: &Work) -> String {
    let key = w.prepared.intent.idempotency_key.clone();
    key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Whether the CRM may have written what it was sent, its answer lost on
/// the way: the connection failed once the call was sent, or a gateway in
/// front of the CRM answered for it that the CRM's answer never came (502,
/// 504). A 500 or 503 is the CRM's own refusal: nothing was written.
pub(super) fn answer_lost(error: &CrmError) -> bool {
    error.code == "connection_failed" || matches!(error.status, Some(502 | 504))
}

/// Whether the agent's retry of `w`'s create would find the record it may
/// have made, rather than make it again: by its match key, or by its
/// idempotency key, which a `keyed` create holds in its object's `crm_key`.
/// A create keyed with a fresh key is found only by the transport's own
/// resends: once its answer is lost for good, nobody knows that key.
pub(super) fn found_on_retry(w: &Work, keyed: bool) -> bool {
    w.prepared.write.match_key.is_some() || (keyed && w.prepared.intent.idempotency_key.is_some())
}

/// A create whose answer was lost, of a record a retry would not find.
pub(super) fn outcome_unknown(object: &str, error: CrmError) -> RecordError {
    let mut error = RecordError::crm(error);
    error.code = OUTCOME_UNKNOWN.into();
    error.retryable = false;
    error.message = format!(
        "the answer to creating this `{object}` record was lost, so the CRM may hold it; it \
         was not sent again, since it has no match key, and no idempotency key kept in a \
         `crm_key` of `{object}`, to find it by. Look for it in the CRM before writing it \
         under a new idempotency key ({})",
        error.message
    );
    error
}

/// The client of `writer`, or every record of the group failed when it is
/// gone: a rep's connection replaced mid-batch is not swapped for another
/// identity.
pub(super) async fn writer_or_fail(
    runtime: &CustomerRuntime,
    writer: Option<&String>,
    work: &mut [Work],
    indices: &[usize],
) -> Option<Arc<Crm>> {
    let crm = runtime.writer(writer).await;
    if crm.is_none() {
        for &i in indices {
            work[i].fail(
                RecordError::input(
                    "connection_changed",
                    "the rep's connection changed while the batch ran; send it again".into(),
                    Some("acting_for".into()),
                )
                .retryable(),
            );
        }
    }
    crm
}

/// Sends one group's updates; fields moved back go in requests of their
/// own, after the rest.
async fn update(crm: &Crm, object_schema: &ObjectSchema, work: &mut [Work], indices: &[usize]) {
    let object = object_schema.name.as_str();
    let mut plain = Vec::new();
    let mut records: Vec<(String, Fields)> = Vec::new();
    for &i in indices {
        let Some(plan) = &work[i].plan else { continue };
        let mut payload = plan.payload();
        payload.retain(|field, _| !plan.regressions().contains_key(field));
        if payload.is_empty() {
            work[i].status = Status::Updated;
            continue;
        }
        plain.push(i);
        records.push((work[i].crm_id.clone().unwrap_or_default(), payload));
    }
    let answers = crm.update_many(object, object_schema, records).await;
    for (&i, answer) in plain.iter().zip(answers) {
        match answer {
            Ok(()) => work[i].status = Status::Updated,
            Err(e) => work[i].fail(RecordError::crm(e)),
        }
    }

    for &i in indices {
        let regressions = match &work[i].plan {
            Some(plan) if work[i].ok() => plan.regressions(),
            _ => continue,
        };
        let id = work[i].crm_id.clone().unwrap_or_default();
        for (field, value) in regressions {
            if let Err(error) = move_back(crm, object_schema, &id, &field, value).await {
                work[i].fail(error);
                break;
            }
        }
    }
}

/// Moves a forward-only field back: the CRM ignores a plain move back, so
/// the field is cleared, then set, in two ordered requests, and read back to
/// confirm it holds the value.
async fn move_back(
    crm: &Crm,
    schema: &ObjectSchema,
    id: &str,
    field: &str,
    value: Value,
) -> Result<(), RecordError> {
    let object = schema.name.as_str();
    for step in [Value::Null, value.clone()] {
        let fields = Fields::from([(field.to_owned(), step)]);
        let answer = crm
            .update_many(object, schema, vec![(id.to_owned(), fields)])
            .await;
        if let Some(Err(e)) = answer.into_iter().next() {
            return Err(RecordError::crm(e));
        }
    }

    let read = crm
        .read(object, id, &[field.to_owned()])
        .await
        .map_err(RecordError::crm)?;
    let stored = read
        .as_ref()
        .and_then(|r| r.fields.get(field))
        .zip(schema.field(field))
        .map(|(raw, f)| read_value(f, raw));
    if stored.as_ref() == Some(&value) {
        return Ok(());
    }
    let shown = stored.map_or_else(|| "nothing".to_owned(), |v| format!("`{v}`"));
    Err(RecordError::input(
        "regression_not_confirmed",
        format!(
            "`{field}` was cleared and set to `{value}`, but the CRM holds {shown}; \
             the other fields of the record were written"
        ),
        Some(field.to_owned()),
    ))
}
