//! Named periodic tasks run per customer on an interval: reads, schema
//! checks, whatever a module registers.
//!
//! Each task runs for one customer at a time across every replica sharing
//! the store: a run starts only once its lease row is taken (see
//! [`Lease`]), and the due time lives in that row too, so a replica that
//! starts late does not run a task another has just run. A run's next due
//! time is its start plus its interval, so an interval changed in the
//! config applies from the run after the next.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use conduit_host::schedule::{CustomerTasks, Scheduler};
//! # async fn example(store: conduit_host::store::Store) {
//! let mut scheduler = Scheduler::new(store);
//! scheduler.register("schema_check", Some(Duration::from_secs(3600)), |customer| async move {
//!     tracing::info!(customer, "checking");
//!     Ok(())
//! });
//! let customers = || vec![CustomerTasks::new("acme")];
//! scheduler.run(customers, std::future::pending()).await;
//! # }
//! ```

mod lease;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

pub use lease::{Lease, RunError};

use crate::config::{CustomerConfig, Intervals};
use crate::store::{Claim, Store};

/// How long a lease lasts unless renewed: long enough that a busy store
/// does not make a healthy holder lose it, short enough that a crashed
/// holder's task is taken over within a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How often the scheduler looks for due tasks.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// The work of one task for one customer, given the customer's name.
type TaskFn = Arc<dyn Fn(String) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

struct Task {
    every: Option<Duration>,
    run: TaskFn,
}

/// The intervals one customer's config sets, by task name: a duration, or
/// none to turn the task off. A task it does not name runs at the interval
/// it was registered with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerTasks {
    /// The customer.
    pub customer: String,
    /// Intervals by task name.
    pub intervals: Intervals,
}

impl CustomerTasks {
    /// A customer whose config sets no interval.
    pub fn new(customer: &str) -> Self {
        Self {
            customer: customer.to_owned(),
            intervals: BTreeMap::new(),
        }
    }
}

impl From<&CustomerConfig> for CustomerTasks {
    fn from(config: &CustomerConfig) -> Self {
        Self {
            customer: config.customer.clone(),
            intervals: config.schedule.clone(),
        }
    }
}

/// Runs registered tasks for every customer when they are due.
pub struct Scheduler {
    store: Store,
    holder: String,
    lease: Duration,
    tick: Duration,
    tasks: BTreeMap<String, Task>,
    /// Runs this scheduler has going, so its own ticks never claim them
    /// again.
    running: Arc<Mutex<HashSet<(String, String)>>>,
}

/// The periodic tasks a host runs for every customer: its reads (the
/// change feed) and its schema drift check, at their default intervals
/// unless a config's `schedule:` says otherwise.
pub fn host_tasks(pipeline: &Arc<crate::pipeline::Pipeline>) -> Scheduler {
    let mut scheduler = Scheduler::new(pipeline.store().clone());
    crate::drift::register(
        &mut scheduler,
        pipeline.clone(),
        crate::drift::DEFAULT_INTERVAL,
    );
    crate::sync::register(
        &mut scheduler,
        pipeline.clone(),
        crate::sync::DEFAULT_INTERVAL,
    );
    scheduler
}

impl Scheduler {
    /// A scheduler on `store` with no task, holding leases under a name of
    /// its own: the host, the process and a random part, so that two
    /// schedulers in one process are two holders.
    pub fn new(store: Store) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let random = hex::encode(rand::random::<[u8; 4]>());
        Self {
            store,
            holder: format!("{host}:{}:{random}", std::process::id()),
            lease: DEFAULT_LEASE,
            tick: DEFAULT_TICK,
            tasks: BTreeMap::new(),
            running: Arc::default(),
        }
    }

    /// Leases last `lease` unless renewed (default [`DEFAULT_LEASE`]).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// Due tasks are looked for every `tick` (default [`DEFAULT_TICK`]).
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = tick.max(Duration::from_millis(1));
        self
    }

    /// The name this scheduler holds leases under.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Registers `run` as task `name`, run for each customer every `every`
    /// unless the customer's config says otherwise; `None` runs it only
    /// for customers whose config sets an interval. Registering a name
    /// again replaces the task.
    pub fn register<F, Fut>(&mut self, name: &str, every: Option<Duration>, run: F)
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let run: TaskFn = Arc::new(move |customer| Box::pin(run(customer)));
        self.tasks.insert(name.to_owned(), Task { every, run });
    }

    /// The names of the registered tasks.
    pub fn task_names(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }

    /// Runs until `shutdown` resolves, starting the due tasks of the
    /// customers `customers` lists at each tick. Runs still going at
    /// shutdown are cancelled; their leases run out.
    pub async fn run(
        self,
        customers: impl Fn() -> Vec<CustomerTasks>,
        shutdown: impl Future<Output = ()>,
    ) {
        self.warn_unknown(&customers());
        info!(
            holder = self.holder,
            tasks = self.tasks.len(),
            "scheduler started"
        );

        let mut runs = JoinSet::new();
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => {
                    self.start_due(&customers(), &mut runs).await;
                }
                Some(_) = runs.join_next(), if !runs.is_empty() => {}
            }
        }
        info!(abandoned = runs.len(), "scheduler stopped");
    }

    /// Claims and starts every due task of `customers` not running here.
    /// Returns how many started.
    pub async fn start_due(&self, customers: &[CustomerTasks], runs: &mut JoinSet<()>) -> usize {
        let mut started = 0;
        for customer in customers {
            for (name, task) in &self.tasks {
                let every = match customer.intervals.get(name) {
                    Some(configured) => *configured,
                    None => task.every,
                };
                let Some(every) = every else { continue };
                if self
                    .start(name, task, &customer.customer, every, runs)
                    .await
                {
                    started += 1;
                }
            }
        }
        started
    }

    /// Starts `task` for `customer` when it is due and its lease is free.
    async fn start(
        &self,
        name: &str,
        task: &Task,
        customer: &str,
        every: Duration,
        runs: &mut JoinSet<()>,
    ) -> bool {
        let key = (name.to_owned(), customer.to_owned());
        if self.is_running(&key) {
            return false;
        }
        let claimed = Lease::claim(
            &self.store,
            name,
            customer,
            &self.holder,
            self.lease,
            Claim::WhenDue,
        )
        .await;
        let lease = match claimed {
            Ok(Some(lease)) => lease,
            Ok(None) => return false,
            Err(e) => {
                warn!(task = name, customer, error = %format!("{e:#}"), "task not claimed");
                return false;
            }
        };

        debug!(task = name, customer, "scheduled task starting");
        let running = RunningGuard::enter(self.running.clone(), key);
        let work = (task.run)(customer.to_owned());
        runs.spawn(async move {
            // The lease's run logs and records the outcome.
            let _ = lease.run(work, Some(every)).await;
            drop(running);
        });
        true
    }

    fn is_running(&self, key: &(String, String)) -> bool {
        self.running
            .lock()
            .map(|running| running.contains(key))
            .unwrap_or(true)
    }

    /// Warns of intervals configured for tasks nobody registered: most
    /// likely a misspelt name, which would otherwise do nothing silently.
    fn warn_unknown(&self, customers: &[CustomerTasks]) {
        for customer in customers {
            for name in customer.intervals.keys() {
                if !self.tasks.contains_key(name) {
                    let known: Vec<&str> = self.task_names().collect();
                    warn!(
                        customer = customer.customer,
                        task = name,
                        known = known.join(", "),
                        "the config schedules a task this host does not have"
                    );
                }
            }
        }
    }
}

/// A run counted as running here until it ends, however it ends.
struct RunningGuard {
    running: Arc<Mutex<HashSet<(String, String)>>>,
    key: (String, String),
}

impl RunningGuard {
    fn enter(running: Arc<Mutex<HashSet<(String, String)>>>, key: (String, String)) -> Self {
        if let Ok(mut set) = running.lock() {
            set.insert(key.clone());
        }
        Self { running, key }
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.running.lock() {
            set.remove(&self.key);
        }
    }
}
