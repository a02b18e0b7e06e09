//! The I/O part of a batch: find what exists, attribute owners, plan each
//! record, send the plan in as few calls as the CRM allows, and audit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::Utc;
use tracing::{Instrument, info, warn};

use super::prepare::{Prepared, prepare_all};
use super::{CustomerRuntime, Pipeline, RecordError, RecordResult, Status, WriteIntent};
use crate::config::{CustomerConfig, UnknownRep};
use crate::crm::{FoundRecord, NewRecord};
use crate::export::{self, DesiredField, Plan, PlanInput, Policy, PolicyRule, Source};
use crate::mapping;
use crate::record::{Fields, Operation, Target, Value};
use crate::schema::{ObjectSchema, OrgSchema, read_value};
use crate::store::AuditEntry;

/// A record on its way through the I/O stages.
struct Work {
    prepared: Prepared,
    existing: Option<(String, Fields)>,
    plan: Option<Plan>,
    associations: Vec<(String, String)>,
    crm_id: Option<String>,
    status: Status,
    error: Option<RecordError>,
}

impl Work {
    fn fail(&mut self, error: RecordError) {
        if self.error.is_none() {
            self.error = Some(error);
            self.status = Status::Failed;
        }
    }

    fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Runs the claimed records of a batch to their outcomes.
pub(super) async fn run(
    pipeline: &Pipeline,
    config: Arc<CustomerConfig>,
    intents: Vec<(usize, WriteIntent)>,
    dry_run: bool,
) -> Vec<RecordResult> {
    let span =
        tracing::info_span!("write_batch", customer = %config.customer, records = intents.len());
    async move {
        let started = std::time::Instant::now();
        let keys: Vec<(usize, Option<String>, String)> = intents
            .iter()
            .map(|(i, intent)| (*i, intent.idempotency_key.clone(), intent.entity.clone()))
            .collect();

        let results = match stages(pipeline, &config, intents, dry_run).await {
            Ok(results) => results,
            Err(error) => keys
                .iter()
                .map(|(i, key, entity)| {
                    RecordResult::failed(*i, key.clone(), Some(entity.clone()), error.clone())
                })
                .collect(),
        };

        if !dry_run {
            finish(pipeline, &config, &results).await;
        }
        let failed = results
            .iter()
            .filter(|r| r.status == Status::Failed)
            .count();
        info!(
            failed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch written"
        );
        results
    }
    .instrument(span)
    .await
}

/// Every stage after idempotency. An error here concerns the whole batch
/// (no connection, no schema): each record then fails with it.
async fn stages(
    pipeline: &Pipeline,
    config: &Arc<CustomerConfig>,
    intents: Vec<(usize, WriteIntent)>,
    dry_run: bool,
) -> Result<Vec<RecordResult>, RecordError> {
    let runtime = pipeline.customer(config).await?;
    let mut objects: Vec<&str> = config.objects().collect();
    objects.sort();
    objects.dedup();
    let schema = runtime.schema(&objects).await?;

    let plugin = match &config.plugin {
        None => None,
        Some(p) => Some(pipeline.plugin(&p.name, &p.version).ok_or_else(|| {
            RecordError::input(
                "plugin_missing",
                format!(
                    "customer `{}` runs plugin `{}` {}, which has not been uploaded",
                    config.customer, p.name, p.version
                ),
                None,
            )
        })?),
    };

    // Mapping, plugin and schema check are CPU work: off the async threads.
    let prepared = {
        let config = config.clone();
        let schema = schema.clone();
        tokio::task::spawn_blocking(move || prepare_all(&config, schema, plugin, intents))
            .await
            .map_err(|e| RecordError::input("internal", format!("preparing failed: {e}"), None))?
    };

    let mut work = Vec::with_capacity(prepared.len());
    let mut results = Vec::new();
    for item in prepared {
        match item {
            Ok(prepared) => work.push(Work {
                prepared,
                existing: None,
                plan: None,
                associations: Vec::new(),
                crm_id: None,
                status: Status::Failed,
                error: None,
            }),
            Err(failed) => {
                let (index, intent, error) = *failed;
                results.push(RecordResult::failed(
                    index,
                    intent.idempotency_key,
                    Some(intent.entity),
                    error,
                ));
            }
        }
    }

    find_existing(&runtime, &schema, &mut work).await;
    resolve_references(&runtime, &schema, &mut work).await;
    plan_all(config, &runtime, &schema, &mut work).await;
    if !dry_run {
        send(&runtime, &schema, &mut work).await;
    }

    results.extend(work.into_iter().map(|w| into_result(w, dry_run)));
    Ok(results)
}

/// Finds each record's current version by its match key, one batched read
/// per object and chunk.
async fn find_existing(runtime: &CustomerRuntime, schema: &OrgSchema, work: &mut [Work]) {
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
async fn resolve_references(runtime: &CustomerRuntime, schema: &OrgSchema, work: &mut [Work]) {
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

/// Decides create or update, adds defaults and the owner, and plans.
async fn plan_all(
    config: &CustomerConfig,
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut [Work],
) {
    let mut creating_keys: BTreeSet<(String, String)> = BTreeSet::new();
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
        if w.existing.is_none()
            && let Some(k) = key
            && !creating_keys.insert((w.prepared.write.object.clone(), k.clone()))
        {
            w.fail(RecordError::input(
                "duplicate_in_batch",
                format!("key `{k}` is created twice in one batch"),
                Some("key".into()),
            ));
            continue;
        }
        if w.existing.is_none()
            && let Some(email) = &intent.acting_for
        {
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
            .map(|(field, value)| DesiredField {
                field: field.clone(),
                value: value.clone(),
                policy: mapping::policy_for(entity, field),
                source: w
                    .prepared
                    .sources
                    .get(field)
                    .copied()
                    .unwrap_or(Source::Plugin),
            })
            .collect();

        if creating {
            for (field, value) in &w.prepared.defaults {
                if !w.prepared.write.fields.contains_key(field) {
                    desired.push(DesiredField {
                        field: field.clone(),
                        value: value.clone(),
                        policy: mapping::policy_for(entity, field),
                        source: Source::Default,
                    });
                }
            }
            if let Some(owner) = &entity.owner {
                match owner_id(
                    &owners,
                    w.prepared.intent.acting_for.as_deref(),
                    owner.unknown_rep,
                ) {
                    Ok(Some(id)) => desired.push(DesiredField {
                        field: owner.field.clone(),
                        value: Value::Text(id),
                        // The owner is set on create; changing it later is a
                        // decision for the customer's config, not the agent.
                        policy: PolicyRule {
                            create: Policy::Overwrite,
                            update: Policy::Skip,
                        },
                        source: Source::Owner,
                    }),
                    Ok(None) => {}
                    Err(error) => {
                        w.fail(error);
                        continue;
                    }
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

/// Sends creates and changing updates, batched per object.
async fn send(runtime: &CustomerRuntime, schema: &OrgSchema, work: &mut [Work]) {
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

fn into_result(w: Work, dry_run: bool) -> RecordResult {
    let status = if dry_run && w.error.is_none() {
        Status::Planned
    } else {
        w.status
    };
    if let Some(error) = &w.error
        && error.crm.is_some()
    {
        warn!(
            entity = %w.prepared.intent.entity,
            object = %w.prepared.write.object,
            error.type = %error.code,
            "crm refused a record"
        );
    }
    RecordResult {
        index: w.prepared.index,
        idempotency_key: w.prepared.intent.idempotency_key,
        status,
        replayed: false,
        entity: Some(w.prepared.intent.entity),
        object: Some(w.prepared.write.object),
        crm_id: w.crm_id,
        fields: w.plan.map(|p| p.fields).unwrap_or_default(),
        unmapped: w.prepared.unmapped,
        error: w.error,
    }
}

/// Audits every record and stores the outcomes of their keys; gives back
/// the keys of failures a retry can fix.
async fn finish(pipeline: &Pipeline, config: &CustomerConfig, results: &[RecordResult]) {
    let now = Utc::now().to_rfc3339();
    let plugin = config
        .plugin
        .as_ref()
        .map(|p| format!("{}@{}", p.name, p.version));
    let mut entries = Vec::with_capacity(results.len());
    let mut outcomes = Vec::new();
    let mut released = Vec::new();
    for r in results {
        entries.push(AuditEntry {
            id: 0,
            customer: config.customer.clone(),
            idempotency_key: r.idempotency_key.clone(),
            entity: r.entity.clone().unwrap_or_default(),
            object: r.object.clone(),
            crm_id: r.crm_id.clone(),
            status: serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            error_code: r.error.as_ref().map(|e| e.code.clone()),
            config_version: config.version.clone(),
            plugin: plugin.clone(),
            decisions: serde_json::to_value(&r.fields).unwrap_or_default(),
            error: r.error.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            created_at: now.clone(),
        });
        let Some(key) = &r.idempotency_key else {
            continue;
        };
        if r.error.as_ref().is_some_and(|e| e.retryable) {
            released.push((config.customer.clone(), key.clone()));
        } else if let Ok(value) = serde_json::to_value(r) {
            outcomes.push((config.customer.clone(), key.clone(), value));
        }
    }
    if let Err(e) = pipeline
        .store()
        .record_batch(&entries, &outcomes, &released)
        .await
    {
        // The CRM has the writes but the audit does not: an invariant of ours.
        tracing::error!(error = %format!("{e:#}"), "could not store the audit of a batch");
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
