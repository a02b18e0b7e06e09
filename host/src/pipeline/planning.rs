//! Planning: create or update, the create-only defaults, the owner, and the
//! export planner's decision for every field.

use std::collections::{BTreeSet, HashMap};

use super::execute::Work;
use super::{CustomerRuntime, RecordError};
use crate::config::{CustomerConfig, OwnerUpdate, UnknownRep};
use crate::export::{self, DesiredField, Plan, PlanInput, Policy, PolicyRule, Source};
use crate::mapping;
use crate::record::{Operation, Value};
use crate::schema::{ObjectSchema, OrgSchema};

/// Fails a create whose idempotency key, kept in its object's `crm_key`,
/// differs only in case from one an earlier create of the batch keeps
/// there: the CRM compares external ids and unique values ignoring case,
/// so the second upsert would update the first record, not make its own.
fn crm_key_collision(
    config: &CustomerConfig,
    w: &Work,
    seen: &mut BTreeSet<(String, String)>,
) -> Option<RecordError> {
    let entity = config.entities.get(&w.prepared.intent.entity)?;
    let field = entity.crm_key.as_ref()?;
    let key = w.prepared.intent.idempotency_key.as_ref()?;
    let object = w.prepared.write.object.clone();
    if seen.insert((object.clone(), key.to_lowercase())) {
        return None;
    }
    Some(RecordError::input(
        "crm_key_collision",
        format!(
            "idempotency key `{key}` differs only in case from another of this batch, and \
             `{object}.{field}`, which keeps it, compares keys ignoring case: the two \
             records would be one"
        ),
        Some("idempotency_key".into()),
    ))
}

/// Decides create or update, adds defaults and the owner, and plans.
pub(super) async fn plan_all(
    config: &CustomerConfig,
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut [Work],
) {
    let mut creating_keys: BTreeSet<(String, String)> = BTreeSet::new();
    let mut crm_keys: BTreeSet<(String, String)> = BTreeSet::new();
    let mut emails = BTreeSet::new();

    for w in work.iter_mut().filter(|w| w.ok()) {
        let intent = &w.prepared.intent;
        let key = w
            .prepared
            .write
            .match_key
            .as_ref()
            .map(|k| k.value.to_string());
        let error = match (intent.operation, &w.existing, &key) {
            (Operation::Create, Some((id, _)), _) => Some(RecordError::input(
                "already_exists",
                format!(
                    "a `{}` record with this key exists already ({id})",
                    w.prepared.write.object
                ),
                Some("key".into()),
            )),
            (Operation::Update, None, None) | (Operation::Upsert, None, None) => {
                Some(RecordError::input(
                    "missing_key",
                    "update and upsert need the record's `key`".into(),
                    Some("key".into()),
                ))
            }
            (Operation::Update, None, Some(k)) => Some(RecordError::input(
                "not_found",
                format!("no `{}` record has key `{k}`", w.prepared.write.object),
                Some("key".into()),
            )),
            _ => None,
        };
        if let Some(error) = error {
            w.fail(error);
            continue;
        }
        // Keys compare ignoring case, as both CRMs compare them: two keys
        // that differ only in case would make two records one key finds.
        if w.existing.is_none()
            && let Some(k) = key
            && !creating_keys.insert((w.prepared.write.object.clone(), k.to_lowercase()))
        {
            w.fail(RecordError::input(
                "duplicate_in_batch",
                format!("key `{k}` is created twice in one batch"),
                Some("key".into()),
            ));
            continue;
        }
        if w.existing.is_none()
            && let Some(error) = crm_key_collision(config, w, &mut crm_keys)
        {
            w.fail(error);
            continue;
        }
        let owner_written = w.existing.is_none() || owner_overwritten(config, &intent.entity);
        if owner_written && let Some(email) = &intent.acting_for {
            emails.insert(email.trim().to_lowercase());
        }
    }

    let emails: Vec<String> = emails.into_iter().collect();
    let owners = if emails.is_empty() {
        Ok(HashMap::new())
    } else {
        runtime.owners.resolve(&runtime.crm, &emails).await
    };

    for w in work.iter_mut().filter(|w| w.ok()) {
        let Some(entity) = config.entities.get(&w.prepared.intent.entity) else {
            continue;
        };
        let Some(object) = schema.objects.get(&w.prepared.write.object) else {
            continue;
        };
        let creating = w.existing.is_none();
        let mut desired: Vec<DesiredField> = w
            .prepared
            .write
            .fields
            .iter()
            .map(|(field, value)| {
                let rules = mapping::rules_for(entity, field);
                let source = w.prepared.sources.get(field).copied();
                DesiredField {
                    clear: rules.clear,
                    allow_regression: rules.allow_regression,
                    note: w.prepared.notes.get(field).cloned(),
                    ..DesiredField::new(
                        field,
                        value.clone(),
                        rules.policy,
                        source.unwrap_or(Source::Plugin),
                    )
                }
            })
            .collect();

        if creating {
            for (field, value) in &w.prepared.defaults {
                let sent = w.prepared.write.fields.get(field);
                if sent.is_none_or(Value::is_empty) {
                    desired.retain(|d| &d.field != field);
                    desired.push(DesiredField {
                        note: w.prepared.notes.get(field).cloned(),
                        ..DesiredField::new(
                            field,
                            value.clone(),
                            mapping::rules_for(entity, field).policy,
                            Source::Default,
                        )
                    });
                }
            }
        }
        if let Some(owner) = &entity.owner
            && (creating || owner.update == OwnerUpdate::Overwrite)
        {
            match owner_id(
                &owners,
                w.prepared.intent.acting_for.as_deref(),
                owner.unknown_rep,
            ) {
                // The owner is set on create; changing it later is a
                // decision for the customer's config, not the agent.
                Ok(Some(id)) => desired.push(DesiredField::new(
                    &owner.field,
                    Value::Text(id),
                    PolicyRule {
                        create: Policy::Overwrite,
                        update: match owner.update {
                            OwnerUpdate::Skip => Policy::Skip,
                            OwnerUpdate::Overwrite => Policy::Overwrite,
                        },
                    },
                    Source::Owner,
                )),
                Ok(None) => {}
                Err(error) => {
                    w.fail(error);
                    continue;
                }
            }
        }

        let current = w.existing.as_ref().map(|(_, fields)| fields);
        let plan = export::plan(PlanInput {
            schema: object,
            current,
            desired: &desired,
        });
        if creating && let Some(error) = missing_required(object, &plan) {
            w.plan = Some(plan);
            w.fail(error);
            continue;
        }
        w.crm_id = w.existing.as_ref().map(|(id, _)| id.clone());
        w.plan = Some(plan);
    }
}

/// Whether the config lets an update change the entity's owner.
fn owner_overwritten(config: &CustomerConfig, entity: &str) -> bool {
    config
        .entities
        .get(entity)
        .and_then(|e| e.owner.as_ref())
        .is_some_and(|o| o.update == OwnerUpdate::Overwrite)
}

fn owner_id(
    owners: &Result<HashMap<String, Option<String>>, crate::crm::CrmError>,
    acting_for: Option<&str>,
    unknown: UnknownRep,
) -> Result<Option<String>, RecordError> {
    let owners = owners.as_ref().map_err(|e| RecordError::crm(e.clone()))?;
    let found =
        acting_for.and_then(|email| owners.get(&email.trim().to_lowercase()).cloned().flatten());
    match (found, unknown) {
        (Some(id), _) => Ok(Some(id)),
        (None, UnknownRep::IntegrationUser) => Ok(None),
        (None, UnknownRep::Fail) => Err(RecordError::input(
            "owner_not_found",
            match acting_for {
                Some(email) => format!("rep `{email}` is not a user of the customer's CRM"),
                None => {
                    "`acting_for` is required: records of this entity get the rep as owner".into()
                }
            },
            Some("acting_for".into()),
        )),
    }
}

/// Required fields the plan does not fill, caught before the CRM refuses.
fn missing_required(object: &ObjectSchema, plan: &Plan) -> Option<RecordError> {
    let payload = plan.payload();
    let missing: Vec<&str> = object
        .fields
        .values()
        .filter(|f| f.required && f.createable && !payload.contains_key(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(RecordError::input(
        "required_field_missing",
        format!(
            "`{}` needs a value for: {}",
            object.name,
            missing.join(", ")
        ),
        missing.first().map(|f| (*f).to_owned()),
    ))
}
