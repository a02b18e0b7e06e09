//! The read side: incremental reads of each mapped object, mapped back to
//! the agent's entities, with the host's own writes recognised and left
//! out; the change feed they fill; and webhook delivery of that feed.
//!
//! [`run_reads`] is the one entry point for a customer's reads: the
//! on-demand API calls it, and [`register`] makes it the scheduler's
//! `reads` task. A customer's runs never overlap within one process (a
//! second caller waits for the first); across replicas, the scheduler's
//! lease on (`reads`, customer) keeps them to one replica at a time.

pub mod echo;
pub mod inbound;
mod reader;
pub mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{Instrument, debug, info, warn};

use crate::config::{CustomerConfig, EntityMapping};
use crate::pipeline::Pipeline;
use crate::record::ACTIVITY_PREFIX;
use crate::schedule::Scheduler;
use crate::store::ORG;
use crate::store::timestamp;

pub use reader::ObjectReport;

/// The scheduler's name for a customer's reads, as `schedule:` keys it.
pub const TASK: &str = "reads";

/// How often each customer's reads run when its config does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Makes each customer's reads a scheduled task. A customer that is not
/// connected yet has nothing to read: its run is a quiet success, not a
/// failure recorded every interval until someone connects it.
pub fn register(scheduler: &mut Scheduler, pipeline: Arc<Pipeline>, every: Duration) {
    scheduler.register(TASK, Some(every), move |customer| {
        let pipeline = pipeline.clone();
        async move {
            if pipeline.store().grant(&customer, ORG).await?.is_none() {
                debug!(%customer, "not connected yet; no reads to run");
                return Ok(());
            }
            let report = run_reads(&pipeline, &customer).await?;
            info!(%customer, changes = report.changes(), "scheduled reads ran");
            Ok(())
        }
    });
}

/// What one run of a customer's reads did.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    /// The customer.
    pub customer: String,
    /// One entry per object read.
    pub objects: Vec<ObjectReport>,
}

impl ReadReport {
    /// Changes stored in the feed by this run.
    pub fn changes(&self) -> u64 {
        self.objects.iter().map(|o| o.changes).sum()
    }
}

/// Runs the reads of every mapped object of `customer` once: each object
/// from its cursor until it is caught up or a run's page budget is spent.
/// An object whose read fails reports its error; the others go on.
///
/// Fails only when the customer is unknown or not connected.
pub async fn run_reads(pipeline: &Pipeline, customer: &str) -> anyhow::Result<ReadReport> {
    let config = pipeline
        .config(customer)
        .with_context(|| format!("no customer `{customer}`"))?;
    let lock = customer_lock(customer);
    let _running = lock.lock().await;

    let runtime = pipeline
        .customer(&config)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    let plugin = pipeline
        .customer_plugin(&config)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;

    let span = tracing::info_span!("reads", customer);
    async {
        let mut objects = Vec::new();
        for mapping in read_entities(&config) {
            let read = reader::Reader {
                config: &config,
                mapping,
                runtime: &runtime,
                store: pipeline.store(),
                plugin: plugin.clone(),
            };
            let report = read.run().await;
            if let Some(error) = &report.error {
                warn!(object = %mapping.object, error, "read failed");
            }
            objects.push(report);
        }
        let report = ReadReport {
            customer: customer.to_owned(),
            objects,
        };
        info!(changes = report.changes(), "reads done");
        Ok(report)
    }
    .instrument(span)
    .await
}

/// Starts the backfill of every mapped object of `customer` again, from
/// `since` or from the beginning; the next run reads from there.
pub async fn start_backfill(
    pipeline: &Pipeline,
    customer: &str,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<()> {
    let config = pipeline
        .config(customer)
        .with_context(|| format!("no customer `{customer}`"))?;
    let lock = customer_lock(customer);
    let _running = lock.lock().await;
    let since = since.map(|at| at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    let now = timestamp(Utc::now());
    for mapping in read_entities(&config) {
        pipeline
            .store()
            .reset_read_cursor(
                customer,
                &mapping.object,
                &mapping.entity,
                since.as_deref(),
                &now,
            )
            .await?;
    }
    info!(customer, since, "backfill started");
    Ok(())
}

/// The entities whose objects are read: one per CRM object (the first by
/// name when several share one), activities left out.
pub fn read_entities(config: &CustomerConfig) -> Vec<&EntityMapping> {
    let mut by_object: BTreeMap<&str, &EntityMapping> = BTreeMap::new();
    for (name, mapping) in &config.entities {
        if name.starts_with(ACTIVITY_PREFIX) {
            continue;
        }
        by_object.entry(mapping.object.as_str()).or_insert(mapping);
    }
    by_object.into_values().collect()
}

/// The lock that keeps one customer's runs from overlapping here.
fn customer_lock(customer: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Mutex::default);
    let mut locks = LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(customer.to_owned()).or_default().clone()
}
