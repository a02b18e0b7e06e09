//! Sending a planned batch, records that name a record the batch creates
//! after the record they name.
//!
//! Such records go in one of two ways, whichever spends fewer API calls:
//! as Composite Graphs ([`super::graphs`], Salesforce), each parent with what
//! depends on it in one graph; or in levels of batched calls, parents first,
//! each level once the one before it has its ids. Records the batch does
//! not depend on go in the first level. A graph undone because one of its
//! records failed is sent again in levels, without that record, so that a
//! bad record fails alone.

use std::collections::HashMap;

use tracing::debug;

use super::execute::Work;
use super::graphs;
use super::pending;
use super::sending::send;
use super::{CustomerRuntime, RecordError};
use crate::config::CustomerConfig;
use crate::schema::OrgSchema;

/// Sends every planned record of `work`.
pub(super) async fn send_all(
    config: &CustomerConfig,
    runtime: &CustomerRuntime,
    schema: &OrgSchema,
    work: &mut Vec<Work>,
) {
    fail_orphans(work);
    let depth = pending::depths(work);
    if depth.values().all(|d| *d == 0) {
        send(config, runtime, schema, work).await;
        return;
    }

    let mut rest = std::mem::take(work);
    let mut done = Done::default();
    let chosen = graphs::choose(config, runtime, schema, &mut rest, &depth);
    if !chosen.is_empty() {
        let sent = graphs::send(runtime, chosen).await;
        sent.settled.iter().for_each(|w| done.note(w));
        work.extend(sent.settled);
        rest.extend(sent.halted);
    }

    let deepest = depth.values().copied().max().unwrap_or(0);
    let mut levels: Vec<Vec<Work>> = (0..=deepest).map(|_| Vec::new()).collect();
    for w in rest {
        let at = depth.get(&w.prepared.index).copied().unwrap_or(0);
        levels[at].push(w);
    }
    for (at, mut level) in levels.into_iter().enumerate() {
        if level.is_empty() {
            continue;
        }
        debug!(
            level = at,
            records = level.len(),
            "sending a level of the batch"
        );
        for w in level.iter_mut().filter(|w| w.ok()) {
            for reference in std::mem::take(&mut w.pending) {
                match done.ids.get(&reference.parent) {
                    Some(Some(id)) => pending::fill(w, &reference, id),
                    _ => {
                        let error = done.errors.get(&reference.parent);
                        pending::parent_failed(w, &reference, error);
                        w.pending.push(reference);
                    }
                }
            }
        }
        send(config, runtime, schema, &mut level).await;
        level.iter().for_each(|w| done.note(w));
        work.extend(level);
    }
    pending::fill_sent(work, &done.ids);
}

/// What became of the records sent so far, by index, for the records that
/// name them.
#[derive(Default)]
struct Done {
    /// The record's id, none where it failed.
    ids: HashMap<usize, Option<String>>,
    /// Why it failed.
    errors: HashMap<usize, RecordError>,
}

impl Done {
    fn note(&mut self, w: &Work) {
        let index = w.prepared.index;
        self.ids
            .insert(index, w.ok().then(|| w.crm_id.clone()).flatten());
        if let Some(error) = &w.error {
            self.errors.insert(index, error.clone());
        }
    }
}

/// Fails each record that names a record of the batch that failed before
/// anything was sent (in matching or planning), and the records that name
/// it in turn. `work` holds parents first.
pub(super) fn fail_orphans(work: &mut [Work]) {
    let mut failed: HashMap<usize, RecordError> = HashMap::new();
    for w in work.iter_mut() {
        if w.ok() {
            let orphaned = w
                .pending
                .iter()
                .find(|p| failed.contains_key(&p.parent))
                .cloned();
            if let Some(reference) = orphaned {
                pending::parent_failed(w, &reference, failed.get(&reference.parent));
            }
        }
        if let Some(error) = &w.error {
            failed.insert(w.prepared.index, error.clone());
        }
    }
}
