//! One run of a task under its lease: taken in the store, renewed while the
//! work goes on, released with the outcome.
//!
//! Work whose lease is lost (renewal found another holder, or the store
//! could not be reached until the lease ran out) is cancelled: by then
//! another replica may have started the same task, and two runs at once is
//! what the lease exists to prevent.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::store::{Claim, RunRecord, Store};
use crate::telemetry::metrics;

/// Why a leased run produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The work failed.
    #[error(transparent)]
    Failed(anyhow::Error),
    /// The lease was lost and the work cancelled.
    #[error("the lease was lost and the run cancelled")]
    LostLease,
}

/// A lease held on one task of one customer.
pub struct Lease {
    store: Store,
    task: String,
    customer: String,
    holder: String,
    ttl: Duration,
}

impl Lease {
    /// Takes the lease on `task` for `customer` as `holder` for `ttl`;
    /// none when another holds it or, for [`Claim::WhenDue`], the task is
    /// not due.
    pub async fn claim(
        store: &Store,
        task: &str,
        customer: &str,
        holder: &str,
        ttl: Duration,
        claim: Claim,
    ) -> anyhow::Result<Option<Lease>> {
        let now = Utc::now();
        let taken = store
            .claim_lease(task, customer, holder, now, until(now, ttl), claim)
            .await?;
        Ok(taken.then(|| Lease {
            store: store.clone(),
            task: task.to_owned(),
            customer: customer.to_owned(),
            holder: holder.to_owned(),
            ttl,
        }))
    }

    /// Runs `work` while renewing the lease, then releases it with the
    /// outcome and, when `interval` is set, the next due time.
    pub async fn run<T, F>(self, work: F, interval: Option<Duration>) -> Result<T, RunError>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let started_at = Utc::now();
        let started = std::time::Instant::now();
        let outcome = self.renewing(work).await;
        let finished_at = Utc::now();

        let (task, customer) = (self.task.as_str(), self.customer.as_str());
        metrics::scheduled_run(task, customer, outcome_label(&outcome), started.elapsed());
        let error = match &outcome {
            Ok(_) => {
                info!(
                    task,
                    customer,
                    took_ms = ms(started.elapsed()),
                    "scheduled task done"
                );
                None
            }
            Err(RunError::Failed(e)) => {
                let error = format!("{e:#}");
                warn!(task, customer, error.type = "task_failed", error, "scheduled task failed");
                Some(error)
            }
            Err(RunError::LostLease) => {
                warn!(
                    task,
                    customer,
                    error.type = "lease_lost",
                    "scheduled task cancelled: its lease was lost"
                );
                return outcome;
            }
        };

        let record = RunRecord {
            started_at,
            finished_at,
            error,
            next_due: interval.map(|every| until(started_at, every)),
            interval_ms: interval.map(|every| i64::try_from(every.as_millis()).unwrap_or(i64::MAX)),
        };
        match self
            .store
            .finish_run(task, customer, &self.holder, &record)
            .await
        {
            Ok(true) => {}
            Ok(false) => warn!(
                task,
                customer, "the lease ran out before the run was recorded"
            ),
            Err(e) => warn!(task, customer, error = %format!("{e:#}"), "run not recorded"),
        }
        outcome
    }

    /// `work`, with the lease renewed every third of its time to live;
    /// cancelled when the lease is lost.
    async fn renewing<T, F>(&self, work: F) -> Result<T, RunError>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let mut held_until = until(Utc::now(), self.ttl);
        let mut renew = tokio::time::interval(self.ttl / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the lease was just taken.
        renew.tick().await;
        tokio::pin!(work);
        loop {
            tokio::select! {
                result = &mut work => return result.map_err(RunError::Failed),
                _ = renew.tick() => {
                    let next = until(Utc::now(), self.ttl);
                    let renewed = self
                        .store
                        .renew_lease(&self.task, &self.customer, &self.holder, next)
                        .await;
                    match renewed {
                        Ok(true) => held_until = next,
                        Ok(false) => return Err(RunError::LostLease),
                        // Unknown whether the lease still holds: go on
                        // until it would have run out.
                        Err(e) if Utc::now() < held_until => warn!(
                            task = self.task,
                            customer = self.customer,
                            error = %format!("{e:#}"),
                            "lease not renewed; trying again"
                        ),
                        Err(_) => return Err(RunError::LostLease),
                    }
                }
            }
        }
    }
}

fn outcome_label<T>(outcome: &Result<T, RunError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(RunError::Failed(_)) => "failed",
        Err(RunError::LostLease) => "lease_lost",
    }
}

/// `from` plus `span`, saturating far in the future.
pub(super) fn until(from: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(span)
        .ok()
        .and_then(|span| from.checked_add_signed(span))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn ms(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}
