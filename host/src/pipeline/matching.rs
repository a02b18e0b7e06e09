//! Matching: each record's current version in the CRM, found by its match
//! key, and the CRM ids of the records its associations point to, in
//! batched reads per object.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::execute::{Batch, Work};
use super::order;
use super::pending::{self, InBatch, PendingRef};
use super::{CustomerRuntime, Link, RecordError};
use crate::crm::FoundRecord;
use crate::export::Source;
use crate::record::{Association, Fields, MatchKey, Target, Value};
use crate::schema::{ObjectSchema, OrgSchema, read_value};

/// Finds each record's current version by its match key, one batched read
/// per object and chunk. Keys compare ignoring case, as the CRMs' own
/// queries do: a key sent as `cancity` finds `Cancity` instead of creating
/// a second one.
pub(super) async fn find_existing(
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut [Work],
) {
    let mut by_object: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for w in work.iter().filter(|w| w.ok()) {
        if let Some(key) = &w.prepared.write.match_key {
            by_object
                .entry((w.prepared.write.object.clone(), key.field.clone()))
                .or_default()
                .insert(key.value.to_string());
        }
    }

    for ((object, field), values) in by_object {
        let Some(object_schema) = schema.objects.get(&object) else {
            continue;
        };
        let unique = object_schema.field(&field).is_some_and(|f| f.unique);
        let read: Vec<String> = read_fields(work, &object);
        let values: Vec<String> = values.into_iter().collect();
        let found = runtime
            .crm
            .find(&object, &field, unique, &values, &read)
            .await;

        let mut matches: HashMap<String, Vec<FoundRecord>> = HashMap::new();
        match found {
            Ok(found) => {
                for record in found {
                    let value = record.fields.get(&field).map(json_text).unwrap_or_default();
                    matches
                        .entry(value.to_lowercase())
                        .or_default()
                        .push(record);
                }
            }
            Err(e) => {
                for w in work
                    .iter_mut()
                    .filter(|w| w.prepared.write.object == object)
                {
                    w.fail(RecordError::crm(e.clone()));
                }
                continue;
            }
        }

        for w in work
            .iter_mut()
            .filter(|w| w.ok() && w.prepared.write.object == object)
        {
            let Some(key) = &w.prepared.write.match_key else {
                continue;
            };
            let value = key.value.to_string();
            match matches.get(&value.to_lowercase()).map(Vec::as_slice) {
                None | Some([]) => {}
                Some([one]) => w.existing = Some((one.id.clone(), current(object_schema, one))),
                Some(many) => w.fail(RecordError::input(
                    "ambiguous_match",
                    format!(
                        "{} `{object}` records have {field} `{value}`; the key must match one",
                        many.len()
                    ),
                    Some("key".into()),
                )),
            }
        }
    }
}

/// Finds the records that associations point to by their match keys.
///
/// Keys compare ignoring case, as both CRMs compare them. A reference to a
/// record of this batch is answered by the batch, after matching: the
/// record's id when the CRM holds it, or a placeholder for the record the
/// batch creates (see [`super::pending`]).
pub(super) async fn resolve_references(
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    batch: Batch<'_>,
    work: &mut [Work],
) {
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for w in work.iter().filter(|w| w.ok()) {
        for association in &w.prepared.write.associations {
            if let Target::Lookup(key) = &association.target
                && in_batch(batch, w, association, key).is_none()
            {
                wanted
                    .entry((association.object.clone(), key.field.clone()))
                    .or_default()
                    .insert(key.value.to_string());
            }
        }
    }

    let mut ids: HashMap<(String, String, String), Vec<String>> = HashMap::new();
    for ((object, field), values) in wanted {
        let unique = schema
            .objects
            .get(&object)
            .and_then(|o| o.field(&field))
            .is_some_and(|f| f.unique);
        let values: Vec<String> = values.into_iter().collect();
        match runtime
            .crm
            .find(&object, &field, unique, &values, &[])
            .await
        {
            Ok(found) => {
                for record in found {
                    let value = record.fields.get(&field).map(json_text).unwrap_or_default();
                    let key = (object.clone(), field.clone(), value.to_lowercase());
                    ids.entry(key).or_default().push(record.id);
                }
            }
            // Only the records that needed this read fail with it: a
            // reference the batch answered needs none.
            Err(e) => {
                let refers = |w: &Work| {
                    w.prepared
                        .write
                        .associations
                        .iter()
                        .any(|a| match &a.target {
                            Target::Lookup(key) => {
                                a.object == object
                                    && key.field == field
                                    && in_batch(batch, w, a, key).is_none()
                            }
                            _ => false,
                        })
                };
                for w in work.iter_mut().filter(|w| refers(w)) {
                    w.fail(RecordError::crm(e.clone()));
                }
            }
        }
    }

    for w in work.iter_mut().filter(|w| w.ok()) {
        let mut pending = Vec::new();
        let resolved: Result<Vec<(&Association, String)>, RecordError> = w
            .prepared
            .write
            .associations
            .iter()
            .map(|association| {
                if names_itself(w, association) {
                    return Err(self_reference(association));
                }
                let from_batch = match &association.target {
                    Target::Lookup(key) => in_batch(batch, w, association, key),
                    _ => None,
                };
                let id = match from_batch {
                    Some(InBatch::Found(id)) => id.clone(),
                    Some(InBatch::Pending(parent)) => {
                        pending.push(PendingRef {
                            parent: *parent,
                            object: association.object.clone(),
                            via: association.via.clone(),
                        });
                        pending::placeholder(*parent)
                    }
                    None => target_id(association, &ids, batch.keys)?,
                };
                Ok((association, id))
            })
            .collect();
        let resolved = match resolved {
            Ok(resolved) => resolved,
            Err(error) => {
                w.fail(error);
                continue;
            }
        };
        let mut links = Vec::new();
        let mut lookups = Vec::new();
        for (association, id) in resolved {
            match &association.via {
                Some(via) => lookups.push((association.object.clone(), via.clone(), id)),
                None => links.push((association.object.clone(), id)),
            }
        }
        w.pending = pending;
        // An activity's answer lists each of its links, lookups included.
        if w.prepared.intent.activity.is_some() {
            w.lookups
                .extend(lookups.iter().map(|(object, via, id)| Link {
                    object: object.clone(),
                    id: id.clone(),
                    via: Some(via.clone()),
                    error: None,
                }));
        }
        for (_, via, id) in lookups {
            w.prepared.write.fields.insert(via.clone(), Value::Text(id));
            w.prepared.sources.insert(via, Source::Reference);
        }
        w.associations.extend(links);
    }
}

/// Whether `w`'s association names `w` itself, by its own key.
fn names_itself(w: &Work, association: &Association) -> bool {
    let write = &w.prepared.write;
    match (&association.target, &write.match_key) {
        (Target::Lookup(key), Some(own)) => {
            order::key_ref(&association.object, key) == order::key_ref(&write.object, own)
        }
        _ => false,
    }
}

/// A record may not name itself: a record does not exist before it is
/// written, and the CRM refuses a record that is its own parent.
fn self_reference(association: &Association) -> RecordError {
    let field = association
        .via
        .clone()
        .or_else(|| Some(association.object.clone()));
    RecordError::input(
        "self_reference",
        format!(
            "the `{}` record this one names is this record itself",
            association.object
        ),
        field,
    )
}

/// The record of the batch `w`'s association points to, when the batch
/// holds it; never `w` itself, whose key is not yet anywhere when it names
/// itself.
fn in_batch<'a>(
    batch: Batch<'a>,
    w: &Work,
    association: &Association,
    key: &MatchKey,
) -> Option<&'a InBatch> {
    let target = batch
        .in_batch
        .get(&order::key_ref(&association.object, key))?;
    match target {
        InBatch::Pending(index) if *index == w.prepared.index => None,
        target => Some(target),
    }
}

/// The CRM id an association points to, from what the CRM answered.
fn target_id(
    association: &Association,
    found: &HashMap<(String, String, String), Vec<String>>,
    batch_keys: &HashSet<order::KeyRef>,
) -> Result<String, RecordError> {
    // HubSpot associations have no lookup field: the object names the fault.
    let field = association
        .via
        .clone()
        .or_else(|| Some(association.object.clone()));
    let key = match &association.target {
        Target::CrmId(id) => return Ok(id.clone()),
        Target::Reference(name) => {
            return Err(RecordError::input(
                "unsupported_reference",
                format!("reference `{name}` to another write is not supported for records"),
                field,
            ));
        }
        Target::Lookup(key) => key,
    };

    let value = key.value.to_string();
    let lookup = (
        association.object.clone(),
        key.field.clone(),
        value.to_lowercase(),
    );
    match found.get(&lookup).map(Vec::as_slice) {
        Some([one]) => Ok(one.clone()),
        Some([]) | None => {
            let mut message = format!(
                "no `{}` record has {} `{value}`",
                association.object, key.field
            );
            if order::in_batch(batch_keys, &association.object, key) {
                message.push_str("; the record of this batch that was to create it failed");
            }
            Err(RecordError::input("reference_not_found", message, field))
        }
        Some(many) => Err(RecordError::input(
            "ambiguous_reference",
            format!(
                "{} `{}` records have {} `{value}`",
                many.len(),
                association.object,
                key.field
            ),
            field,
        )),
    }
}

fn read_fields(work: &[Work], object: &str) -> Vec<String> {
    let mut fields = BTreeSet::new();
    for w in work.iter().filter(|w| w.prepared.write.object == object) {
        fields.extend(w.prepared.write.fields.keys().cloned());
        fields.extend(w.prepared.defaults.keys().cloned());
        fields.extend(
            w.prepared
                .write
                .associations
                .iter()
                .filter_map(|a| a.via.clone()),
        );
    }
    fields.into_iter().collect()
}

fn current(schema: &ObjectSchema, found: &FoundRecord) -> Fields {
    found
        .fields
        .iter()
        .filter_map(|(name, raw)| Some((name.clone(), read_value(schema.field(name)?, raw))))
        .collect()
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
