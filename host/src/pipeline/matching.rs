//! Matching: each record's current version in the CRM, found by its match
//! key, and the CRM ids of the records its associations point to, in
//! batched reads per object.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::execute::Work;
use super::{CustomerRuntime, RecordError};
use crate::crm::FoundRecord;
use crate::export::Source;
use crate::record::{Fields, Target, Value};
use crate::schema::{ObjectSchema, OrgSchema, read_value};

/// Finds each record's current version by its match key, one batched read
/// per object and chunk.
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
                    matches.entry(value).or_default().push(record);
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
            match matches.get(&value).map(Vec::as_slice) {
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
pub(super) async fn resolve_references(
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut [Work],
) {
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for w in work.iter().filter(|w| w.ok()) {
        for association in &w.prepared.write.associations {
            if let Target::Lookup(key) = &association.target {
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
                    ids.entry((object.clone(), field.clone(), value))
                        .or_default()
                        .push(record.id);
                }
            }
            Err(e) => {
                for w in work.iter_mut() {
                    if w.prepared
                        .write
                        .associations
                        .iter()
                        .any(|a| a.object == object)
                    {
                        w.fail(RecordError::crm(e.clone()));
                    }
                }
            }
        }
    }

    for w in work.iter_mut().filter(|w| w.ok()) {
        let mut failure = None;
        for association in &w.prepared.write.associations {
            let id = match &association.target {
                Target::CrmId(id) => id.clone(),
                Target::Reference(name) => {
                    failure = Some(RecordError::input(
                        "unsupported_reference",
                        format!("reference `{name}` to another write is not supported for records"),
                        None,
                    ));
                    break;
                }
                Target::Lookup(key) => {
                    let value = key.value.to_string();
                    let found =
                        ids.get(&(association.object.clone(), key.field.clone(), value.clone()));
                    match found.map(Vec::as_slice) {
                        Some([one]) => one.clone(),
                        Some([]) | None => {
                            failure = Some(RecordError::input(
                                "reference_not_found",
                                format!(
                                    "no `{}` record has {} `{value}`",
                                    association.object, key.field
                                ),
                                association.via.clone(),
                            ));
                            break;
                        }
                        Some(many) => {
                            failure = Some(RecordError::input(
                                "ambiguous_reference",
                                format!(
                                    "{} `{}` records have {} `{value}`",
                                    many.len(),
                                    association.object,
                                    key.field
                                ),
                                association.via.clone(),
                            ));
                            break;
                        }
                    }
                }
            };
            match &association.via {
                Some(via) => {
                    w.prepared.write.fields.insert(via.clone(), Value::Text(id));
                    w.prepared.sources.insert(via.clone(), Source::Reference);
                }
                None => w.associations.push((association.object.clone(), id)),
            }
        }
        if let Some(error) = failure {
            w.fail(error);
        }
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
