//! The I/O part of a batch, in the order a record goes through it: find
//! what exists ([`super::matching`]), attribute owners and plan each record
//! ([`super::planning`]), send the plans in as few calls as the CRM allows
//! ([`super::dispatch`]). The caller audits ([`super::audit`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::{Instrument, info, warn};

use super::dispatch;
use super::matching::{find_existing, resolve_references};
use super::order;
use super::pending::{self, InBatch, PendingRef};
use super::planning::plan_all;
use super::prepare::{Prepared, prepare_all};
use super::result::Link;
use super::writers;
use super::{Pipeline, RecordError, RecordResult, Status, WriteIntent};
use crate::config::CustomerConfig;
use crate::crm::Unlinked;
use crate::export::Plan;
use crate::record::Fields;

/// A record on its way through the I/O stages.
pub(super) struct Work {
    pub prepared: Prepared,
    pub existing: Option<(String, Fields)>,
    pub plan: Option<Plan>,
    pub associations: Vec<(String, String)>,
    /// Associations the CRM refused; the record was created without them.
    pub unlinked: Vec<Unlinked>,
    /// An activity's Salesforce links, set as lookup fields, for its answer.
    pub lookups: Vec<Link>,
    /// References to records the batch creates, held as placeholders until
    /// those exist.
    pub pending: Vec<PendingRef>,
    /// Associations to records the batch created: none can exist yet, so
    /// they are made even where the record is otherwise unchanged.
    pub linked_new: Vec<(String, String)>,
    pub crm_id: Option<String>,
    /// The rep whose connection writes the record; none for the org-wide one.
    pub writer: Option<String>,
    pub status: Status,
    pub error: Option<RecordError>,
}

impl Work {
    /// A prepared record, before anything is known of the CRM's copy.
    pub fn new(prepared: Prepared) -> Self {
        Work {
            prepared,
            existing: None,
            plan: None,
            associations: Vec::new(),
            unlinked: Vec::new(),
            lookups: Vec::new(),
            pending: Vec::new(),
            linked_new: Vec::new(),
            crm_id: None,
            writer: None,
            status: Status::Failed,
            error: None,
        }
    }

    pub fn fail(&mut self, error: RecordError) {
        if self.error.is_none() {
            self.error = Some(error);
            self.status = Status::Failed;
        }
    }

    pub fn ok(&self) -> bool {
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
        // What a record's answer names, kept aside in case the whole batch
        // fails: the intents themselves move into the stages.
        let named: Vec<(usize, Option<String>, String, Option<String>)> = intents
            .iter()
            .map(|(i, intent)| {
                let keys = (intent.idempotency_key.clone(), intent.key.clone());
                (*i, keys.0, intent.entity.clone(), keys.1)
            })
            .collect();

        let results = match stages(pipeline, &config, intents, dry_run).await {
            Ok(results) => results,
            Err(error) => named
                .into_iter()
                .map(|(i, idempotency_key, entity, key)| RecordResult {
                    key,
                    ..RecordResult::failed(i, idempotency_key, Some(entity), error.clone())
                })
                .collect(),
        };

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
    mut intents: Vec<(usize, WriteIntent)>,
    dry_run: bool,
) -> Result<Vec<RecordResult>, RecordError> {
    let runtime = pipeline.customer(config).await?;
    let objects = batch_objects(config, &intents);
    let objects: Vec<&str> = objects.iter().map(String::as_str).collect();
    let (schema, unavailable) = runtime.schema_of_each(&objects).await;

    // A record whose objects cannot be discovered fails with why; the rest
    // go on. When none can be, the CRM is the problem: the batch fails.
    let mut results = Vec::new();
    if !unavailable.is_empty() {
        if unavailable.len() == objects.len()
            && let Some(error) = unavailable.values().next().cloned()
        {
            return Err(error);
        }
        let mut runnable = Vec::with_capacity(intents.len());
        for item in intents {
            let missing = batch_objects(config, std::slice::from_ref(&item))
                .into_iter()
                .find_map(|object| unavailable.get(&object).cloned());
            match missing {
                Some(error) => results.push(super::idempotency::fail(item.0, &item.1, error)),
                None => runnable.push(item),
            }
        }
        intents = runnable;
    }

    let plugin = pipeline.customer_plugin(config)?;

    // Mapping, plugin and schema check are CPU work: off the async threads.
    let prepared = {
        let config = config.clone();
        let schema = schema.clone();
        tokio::task::spawn_blocking(move || prepare_all(&config, schema, plugin, intents))
            .await
            .map_err(|e| RecordError::input("internal", format!("preparing failed: {e}"), None))?
    };
    pipeline.observe_plugin(config, &prepared).await;

    let mut work = Vec::with_capacity(prepared.len());
    for item in prepared {
        match item {
            Ok(prepared) => work.push(Work::new(prepared)),
            Err(failed) => {
                let (index, intent, error) = *failed;
                let object = config
                    .entities
                    .get(&intent.entity)
                    .map(|e| e.object.clone());
                results.push(RecordResult {
                    object,
                    ..super::idempotency::fail(index, &intent, error)
                });
            }
        }
    }

    // Two batches upserting one key would both find nothing and create it
    // twice: a batch holds its keys from matching until its writes are done.
    let _held = pipeline
        .key_locks
        .acquire(lock_keys(&config.customer, &work))
        .await;

    // Records that refer to records of this batch go after them; a record
    // on a cycle of references fails.
    let batch_keys = order::batch_keys(&work);
    let mut work: Vec<Work> = order::levels(work).into_iter().flatten().collect();

    find_existing(&runtime, &schema, &mut work).await;
    let in_batch = pending::in_batch(&work);
    let batch = Batch {
        keys: &batch_keys,
        in_batch: &in_batch,
    };
    resolve_references(&runtime, &schema, batch, &mut work).await;
    plan_all(config, &runtime, &schema, &mut work).await;
    writers::assign(config, &runtime, &mut work).await;
    if dry_run {
        dispatch::fail_orphans(&mut work);
        pending::show_planned(&mut work);
    } else {
        dispatch::send_all(config, &runtime, &schema, &mut work).await;
    }
    results.extend(work.into_iter().map(|w| into_result(w, dry_run)));
    Ok(results)
}

/// The CRM objects a batch needs described: its entities' objects, those
/// their references and an activity's related records point to (whose
/// lookups tell which link implies another, see `links`). An object
/// the batch does not touch (a customer's meetings, for a batch of deals)
/// cannot fail it.
fn batch_objects(config: &CustomerConfig, intents: &[(usize, WriteIntent)]) -> Vec<String> {
    let mut entities: Vec<&str> = Vec::new();
    for (_, intent) in intents {
        entities.push(&intent.entity);
        if let Some(activity) = &intent.activity {
            entities.extend(activity.related.iter().map(|r| r.entity.as_str()));
        }
    }
    let mut objects = Vec::new();
    let mut seen = HashSet::new();
    while let Some(name) = entities.pop() {
        let Some(mapping) = config.entities.get(name) else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        objects.push(mapping.object.clone());
        let references = mapping
            .fields
            .values()
            .filter_map(|f| f.reference.as_deref());
        entities.extend(references);
    }
    objects.sort();
    objects.dedup();
    objects
}

/// What reference resolution needs to know about the batch as a whole.
#[derive(Clone, Copy)]
pub(super) struct Batch<'a> {
    /// The keys of the batch's own records.
    pub keys: &'a HashSet<order::KeyRef>,
    /// What a reference to each record of the batch resolves to.
    pub in_batch: &'a HashMap<order::KeyRef, InBatch>,
}

/// The lock names of the records' match keys, per customer and object.
fn lock_keys(customer: &str, work: &[Work]) -> Vec<String> {
    work.iter()
        .filter_map(|w| {
            let write = &w.prepared.write;
            let key = write.match_key.as_ref()?;
            let value = key.value.to_string().to_lowercase();
            Some(format!(
                "{customer}\u{0}{}\u{0}{}\u{0}{value}",
                write.object, key.field
            ))
        })
        .collect()
}
/// The record's links as made, each refused one with the CRM's reason.
fn links(made: Vec<(String, String)>, refused: Vec<Unlinked>) -> Vec<Link> {
    made.into_iter()
        .map(|(object, id)| {
            let error = refused
                .iter()
                .find(|u| u.object == object && u.id == id)
                .map(|u| RecordError::crm(u.error.clone()));
            Link {
                object,
                id,
                via: None,
                error,
            }
        })
        .collect()
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
        key: w.prepared.intent.key,
        object: Some(w.prepared.write.object),
        crm_id: w.crm_id,
        fields: w.plan.map(|p| p.fields).unwrap_or_default(),
        unmapped: w.prepared.unmapped,
        associations: w
            .lookups
            .into_iter()
            .chain(links(w.associations, w.unlinked))
            .collect(),
        error: w.error,
    }
}
