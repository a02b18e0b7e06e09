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

use std::collections::{HashMap, HashSet};

use tracing::debug;

use super::CustomerRuntime;
use super::execute::Work;
use super::graphs;
use super::pending;
use super::sending::send;
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
    let mut ids: HashMap<usize, Option<String>> = HashMap::new();
    let chosen = graphs::choose(config, runtime, schema, &mut rest, &depth);
    if !chosen.is_empty() {
        let sent = graphs::send(runtime, chosen).await;
        for w in &sent.settled {
            ids.insert(w.prepared.index, w.ok().then(|| w.crm_id.clone()).flatten());
        }
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
                match ids.get(&reference.parent) {
                    Some(Some(id)) => pending::fill(w, &reference, id),
                    _ => {
                        pending::parent_failed(w, &reference);
                        w.pending.push(reference);
                    }
                }
            }
        }
        send(config, runtime, schema, &mut level).await;
        for w in &level {
            ids.insert(w.prepared.index, w.ok().then(|| w.crm_id.clone()).flatten());
        }
        work.extend(level);
    }
    pending::fill_sent(work, &ids);
}

/// Fails each record that names a record of the batch that failed before
/// anything was sent (in matching or planning), and the records that name
/// it in turn. `work` holds parents first.
pub(super) fn fail_orphans(work: &mut [Work]) {
    let mut failed: HashSet<usize> = HashSet::new();
    for w in work.iter_mut() {
        if w.ok() {
            let orphaned = w
                .pending
                .iter()
                .find(|p| failed.contains(&p.parent))
                .cloned();
            if let Some(reference) = orphaned {
                pending::parent_failed(w, &reference);
            }
        }
        if !w.ok() {
            failed.insert(w.prepared.index);
        }
    }
}
