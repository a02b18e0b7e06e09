//! References to records the batch itself creates.
//!
//! A record may name another record of its batch (a deal, the company the
//! batch also writes). Matching finds every record of the batch at once, so
//! such a reference needs no read of its own: a company found in the CRM is
//! its id, and a company the batch creates is a placeholder until it
//! exists. The placeholder is `@{r7.id}` for the record at index 7, which is
//! also how a Composite Graph node names an earlier node's id; sent any
//! other way, it is replaced by the id once the record it names has one.

use std::collections::HashMap;

use super::execute::Work;
use super::order::{self, KeyRef};
use super::{RecordError, deferral};
use crate::record::{Operation, Value};

/// A record of the batch that references to its key resolve to.
#[derive(Debug, Clone)]
pub(super) enum InBatch {
    /// In the CRM already, with this id.
    Found(String),
    /// To be created by the batch: the record at this index.
    Pending(usize),
}

/// A reference of a record to one the batch creates.
#[derive(Debug, Clone)]
pub(super) struct PendingRef {
    /// The index of the record referred to.
    pub parent: usize,
    /// Its CRM object.
    pub object: String,
    /// The lookup field that holds it (Salesforce), or none for an
    /// association (HubSpot).
    pub via: Option<String>,
}

/// What a dry run shows where a reference names a record the batch would
/// create: it has no id until it exists.
pub(super) const PLANNED_ID: &str = "(the record this batch creates)";

/// What a failed record's answer shows where it named a record the batch
/// was to create and did not.
pub(super) const FAILED_ID: &str = "(the record of this batch that failed)";

/// The name of the record at `index` in a Composite Graph.
pub(super) fn reference(index: usize) -> String {
    format!("r{index}")
}

/// The placeholder a reference to the record at `index` holds.
pub(super) fn placeholder(index: usize) -> String {
    format!("@{{{}.id}}", reference(index))
}

/// The records of the batch by their keys, after matching. Of two records
/// that would create one key, the first creates it, as planning decides
/// (the second fails as a duplicate); an update of a record the CRM lacks
/// creates nothing.
pub(super) fn in_batch(work: &[Work]) -> HashMap<KeyRef, InBatch> {
    let mut found = HashMap::new();
    for w in work.iter().filter(|w| w.ok()) {
        let write = &w.prepared.write;
        let Some(key) = &write.match_key else {
            continue;
        };
        let target = match &w.existing {
            Some((id, _)) => InBatch::Found(id.clone()),
            None if w.prepared.intent.operation == Operation::Update => continue,
            None => InBatch::Pending(w.prepared.index),
        };
        found
            .entry(order::key_ref(&write.object, key))
            .or_insert(target);
    }
    found
}

/// Puts `id` wherever `w` holds the placeholder of `pending`: the lookup
/// field (as written and as planned), the link its answer lists, or the
/// association.
pub(super) fn fill(w: &mut Work, pending: &PendingRef, id: &str) {
    let held = Value::Text(placeholder(pending.parent));
    let id_value = Value::Text(id.to_owned());
    let Some(via) = &pending.via else {
        for (object, target) in &mut w.associations {
            if *object == pending.object && Value::Text(target.clone()) == held {
                *target = id.to_owned();
                w.linked_new.push((object.clone(), id.to_owned()));
            }
        }
        return;
    };

    if let Some(value) = w.prepared.write.fields.get_mut(via)
        && *value == held
    {
        *value = id_value.clone();
    }
    if let Some(plan) = &mut w.plan {
        for decision in plan.fields.iter_mut().filter(|d| &d.field == via) {
            if decision.value == held {
                decision.value = id_value.clone();
            }
        }
    }
    for link in &mut w.lookups {
        if link.via.as_ref() == Some(via) && Value::Text(link.id.clone()) == held {
            link.id = id.to_owned();
        }
    }
}

/// Fails `w` because the record it names, which the batch was to create,
/// failed with `error`. A record deferred for the CRM's API limit is sent
/// again later, so `w` is deferred with it rather than failed for good.
pub(super) fn parent_failed(w: &mut Work, pending: &PendingRef, error: Option<&RecordError>) {
    let field = pending.via.clone().or_else(|| Some(pending.object.clone()));
    if let Some(deferred) = error.filter(|e| deferral::is_deferred(e)) {
        let mut error = deferred.clone();
        error.message = format!(
            "the `{}` record this one names, which this batch creates, waits: {}",
            pending.object, deferred.message
        );
        error.field = field;
        w.fail(error);
        return;
    }
    w.fail(RecordError::input(
        "reference_not_found",
        format!(
            "the `{}` record this one names was to be created by this batch, and failed",
            pending.object
        ),
        field,
    ));
}

/// Shows each reference to a record the batch would create as
/// [`PLANNED_ID`], for a dry run.
pub(super) fn show_planned(work: &mut [Work]) {
    for w in work {
        for pending in std::mem::take(&mut w.pending) {
            fill(w, &pending, PLANNED_ID);
        }
    }
}

/// Each record's depth, by index: the length of its longest chain of
/// references to records the batch creates, 0 for a record that names none
/// (a reference to a batch record the CRM holds already counts for
/// nothing). `work` holds parents before the records that name them, as
/// [`order::levels`] puts them.
pub(super) fn depths(work: &[Work]) -> HashMap<usize, usize> {
    let mut depth: HashMap<usize, usize> = HashMap::new();
    for w in work {
        let below = w
            .pending
            .iter()
            .map(|p| depth.get(&p.parent).map_or(1, |d| d + 1))
            .max()
            .unwrap_or(0);
        depth.insert(w.prepared.index, below);
    }
    depth
}

/// Fills, once the batch is sent, each placeholder its records still hold:
/// records written in a graph, and failed records. A placeholder takes the
/// id of the record it names where that was written, [`FAILED_ID`] where it
/// was not, so that no answer or audit shows a placeholder.
pub(super) fn fill_sent(work: &mut [Work], ids: &HashMap<usize, Option<String>>) {
    for w in work {
        for pending in std::mem::take(&mut w.pending) {
            let id = ids.get(&pending.parent).cloned().flatten();
            fill(w, &pending, id.as_deref().unwrap_or(FAILED_ID));
        }
    }
}
