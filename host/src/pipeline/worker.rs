//! The intake worker: claims due intents in batches, one customer per batch,
//! and runs them through the pipeline; renews this replica's claims while
//! they run.
//!
//! Fairness: a customer has at most one batch running per replica, and the
//! customer served least recently goes first, so one customer's backlog of
//! thousands never stalls another's handful. A deferred intent is not due
//! until its time, so a customer waiting for its CRM allocation holds no
//! batch at all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, warn};

use super::intake::{Owned, Row, parse_stored};
use super::{Pipeline, RecordResult, audit};

/// How the worker takes work.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// Intents per batch: the size of the CRM's batch calls.
    pub batch: usize,
    /// Batches running at once in this replica, each of another customer.
    pub concurrency: usize,
    /// How often to look for due intents when nothing woke the worker:
    /// jobs submitted to other replicas, deferred intents coming due.
    pub poll: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            batch: 200,
            concurrency: 4,
            poll: Duration::from_millis(500),
        }
    }
}

/// A running worker; [`stop`](Self::stop) it to let its batches finish.
/// Dropped, it claims nothing more.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker of `pipeline`.
    pub fn spawn(pipeline: Arc<Pipeline>, options: WorkerOptions) -> Self {
        let (stop, stopped) = watch::channel(false);
        let span = tracing::info_span!("intake", worker = %pipeline.intake.worker);
        let task = tokio::spawn(run(pipeline, options, stopped).instrument(span));
        Worker {
            stop,
            task: Some(task),
        }
    }

    /// Claims nothing more and waits for the batches running to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            warn!(error = %e, "the intake worker ended abnormally");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn run(pipeline: Arc<Pipeline>, options: WorkerOptions, mut stopped: watch::Receiver<bool>) {
    let mut running = JoinSet::new();
    let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut served: HashMap<String, u64> = HashMap::new();
    let mut round = 0_u64;
    let mut renew = tokio::time::interval(pipeline.intake.lease / 3);
    info!("intake worker started");

    loop {
        // 1. Start a batch for each due customer, least recently served
        //    first, while there is room.
        let room = options.concurrency.saturating_sub(running.len());
        if room > 0 {
            let now = pipeline.store.now();
            match pipeline.store.due_customers(&now, 1000).await {
                Ok(mut due) => {
                    // A customer this replica has no config for (yet) is
                    // left to a replica that has: its intents wait, never
                    // fail for where they were claimed.
                    let taken: HashSet<&String> = busy.values().collect();
                    due.retain(|c| !taken.contains(c) && pipeline.config(c).is_some());
                    // Stable: among customers never served, the longest
                    // waiting stays first.
                    due.sort_by_key(|c| served.get(c).copied().unwrap_or(0));
                    for customer in due.into_iter().take(room) {
                        round += 1;
                        served.insert(customer.clone(), round);
                        let batch = run_batch(pipeline.clone(), customer.clone(), options.batch);
                        let handle = running.spawn(batch.in_current_span());
                        busy.insert(handle.id(), customer);
                    }
                }
                Err(e) => warn!(error = %format!("{e:#}"), "could not look for due intents"),
            }
        }

        // 2. Wait for a batch to end, a job, a renewal, the next look or
        //    the stop.
        tokio::select! {
            _ = stopped.changed() => break,
            Some(ended) = running.join_next_with_id(), if !running.is_empty() => {
                let id = match &ended {
                    Ok((id, _)) => *id,
                    Err(e) => {
                        warn!(error = %e, "an intake batch ended abnormally");
                        e.id()
                    }
                };
                busy.remove(&id);
            }
            _ = pipeline.intake.wake.notified() => {}
            _ = renew.tick() => renew_leases(&pipeline).await,
            _ = tokio::time::sleep(options.poll) => {}
        }
    }

    // Running batches finish: their intents then have outcomes, and
    // nothing is left for another replica to run a second time.
    while running.join_next().await.is_some() {}
    info!("intake worker stopped");
}

async fn renew_leases(pipeline: &Pipeline) {
    let until = pipeline.lease_until();
    match pipeline
        .store
        .renew_leases(&pipeline.intake.worker, &until)
        .await
    {
        Ok(0) => {}
        Ok(held) => debug!(held, "intake leases renewed"),
        Err(e) => warn!(error = %format!("{e:#}"), "could not renew intake leases"),
    }
}

/// Claims and runs one batch of `customer`'s due intents.
async fn run_batch(pipeline: Arc<Pipeline>, customer: String, limit: usize) {
    let Some(config) = pipeline.config(&customer) else {
        return;
    };
    let now = pipeline.store.now();
    let until = pipeline.lease_until();
    let worker = &pipeline.intake.worker;
    let claimed = pipeline
        .store
        .claim_due(&customer, worker, &now, &until, limit as i64)
        .await;
    let queued = match claimed {
        Ok(queued) if queued.is_empty() => return,
        Ok(queued) => queued,
        Err(e) => {
            warn!(customer, error = %format!("{e:#}"), "could not claim due intents");
            return;
        }
    };
    info!(customer, records = queued.len(), "intents claimed");

    // An intent that cannot be read fails alone; the rest run.
    let mut owned = Vec::with_capacity(queued.len());
    let mut unreadable = Vec::new();
    let mut rows = HashMap::new();
    for (index, q) in queued.into_iter().enumerate() {
        match parse_stored(&q.intent) {
            Ok(intent) => owned.push(Owned {
                index,
                key: q.key,
                intent,
                attempts: q.attempts,
                ordinal: q.ordinal,
            }),
            Err(e) => {
                unreadable.push(RecordResult::failed(index, None, None, e));
                let row = Row {
                    key: q.key,
                    attempts: q.attempts,
                    ordinal: q.ordinal,
                };
                rows.insert(index, row);
            }
        }
    }
    if !unreadable.is_empty() {
        audit::finish(&pipeline, &config, &mut unreadable, &rows).await;
    }
    if !owned.is_empty() {
        pipeline.run_owned(config, owned).await;
    }
}
