//! Two schedulers on one database file, as two replicas would be.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;

use super::*;
use crate::secrets::SecretKey;
use crate::store::RunRecord;

/// Two stores on one SQLite file: two replicas' connections.
async fn two_stores() -> (tempfile::TempDir, Store, Store) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("conduit.db");
    let key = SecretKey::from_hex(&"17".repeat(32)).expect("a key");
    let first = Store::open_sqlite(&path, key.clone())
        .await
        .expect("the first store");
    let second = Store::open_sqlite(&path, key)
        .await
        .expect("the second store");
    (dir, first, second)
}

/// How many runs are going at once, and the most ever seen.
#[derive(Default)]
struct Overlap {
    now: AtomicUsize,
    most: AtomicUsize,
    runs: AtomicUsize,
}

impl Overlap {
    async fn run(&self, work: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(work).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
    }
}

/// A scheduler whose `work` task takes `work` and is due again at once.
fn scheduler(store: Store, overlap: Arc<Overlap>, work: Duration) -> Scheduler {
    let mut scheduler = Scheduler::new(store)
        .with_lease(Duration::from_millis(90))
        .with_tick(Duration::from_millis(5));
    scheduler.register("work", Some(Duration::ZERO), move |_customer| {
        let overlap = overlap.clone();
        async move {
            overlap.run(work).await;
            Ok(())
        }
    });
    scheduler
}

#[tokio::test]
async fn two_schedulers_never_run_one_task_for_one_customer_at_once() {
    let (_dir, first, second) = two_stores().await;
    let overlap = Arc::new(Overlap::default());
    // Each run outlasts the lease, so only renewal keeps the other out.
    let work = Duration::from_millis(200);
    let customers = || vec![CustomerTasks::new("acme")];
    let stop = tokio::time::sleep(Duration::from_millis(1500));
    let a = scheduler(first, overlap.clone(), work).run(customers, stop);
    let stop = tokio::time::sleep(Duration::from_millis(1500));
    let b = scheduler(second, overlap.clone(), work).run(customers, stop);
    tokio::join!(a, b);

    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        1,
        "two runs overlapped"
    );
    assert!(
        overlap.runs.load(Ordering::SeqCst) >= 3,
        "the task kept running"
    );
}

#[tokio::test]
async fn each_customer_has_its_own_lease() {
    let (_dir, first, second) = two_stores().await;
    let overlap = Arc::new(Overlap::default());
    let work = Duration::from_millis(300);
    let a = scheduler(first, overlap.clone(), work);
    let b = scheduler(second, overlap.clone(), work);
    let mut runs = JoinSet::new();

    let started = a.start_due(&[CustomerTasks::new("acme")], &mut runs).await;
    assert_eq!(started, 1);
    assert_eq!(
        b.start_due(&[CustomerTasks::new("acme")], &mut runs).await,
        0
    );
    assert_eq!(
        b.start_due(&[CustomerTasks::new("globex")], &mut runs)
            .await,
        1
    );
    runs.join_all().await;
    assert_eq!(overlap.most.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_crashed_holders_lease_runs_out_and_another_takes_over() {
    let (_dir, first, second) = two_stores().await;

    // A holder that took the lease and died: it never renews or releases.
    let now = Utc::now();
    let crashed_until = now + chrono::Duration::milliseconds(300);
    let taken = first
        .claim_lease(
            "work",
            "acme",
            "crashed",
            now,
            crashed_until,
            Claim::WhenDue,
        )
        .await
        .expect("the store answers");
    assert!(taken);

    let overlap = Arc::new(Overlap::default());
    let other = scheduler(second.clone(), overlap.clone(), Duration::ZERO);
    let mut runs = JoinSet::new();
    let customers = [CustomerTasks::new("acme")];
    assert_eq!(
        other.start_due(&customers, &mut runs).await,
        0,
        "lease still live"
    );
    let state = &second
        .schedule("acme", Utc::now())
        .await
        .expect("the schedule")[0];
    assert_eq!(state.running_on.as_deref(), Some("crashed"));

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        other.start_due(&customers, &mut runs).await,
        1,
        "lease ran out"
    );
    runs.join_all().await;
    assert_eq!(overlap.runs.load(Ordering::SeqCst), 1);

    // The crashed holder cannot record over the run that took its place.
    let late = RunRecord {
        started_at: now,
        finished_at: Utc::now(),
        error: Some("late".into()),
        next_due: None,
        interval_ms: None,
    };
    assert!(
        !first
            .finish_run("work", "acme", "crashed", &late)
            .await
            .expect("the store answers")
    );
    let state = &second
        .schedule("acme", Utc::now())
        .await
        .expect("the schedule")[0];
    assert_eq!(state.running_on, None);
    assert_eq!(state.last_outcome.as_deref(), Some("ok"));
    assert_eq!((state.runs, state.failures), (1, 0));
}

#[tokio::test]
async fn a_run_is_recorded_with_its_outcome_and_next_due_time() {
    let (_dir, store, _) = two_stores().await;
    let mut scheduler = Scheduler::new(store.clone());
    scheduler.register(
        "fails",
        Some(Duration::from_secs(600)),
        |customer| async move { anyhow::bail!("`{customer}` is not reachable") },
    );
    let mut runs = JoinSet::new();
    let customers = [CustomerTasks::new("acme")];
    assert_eq!(scheduler.start_due(&customers, &mut runs).await, 1);
    while runs.join_next().await.is_some() {}

    // Not due again for ten minutes.
    assert_eq!(scheduler.start_due(&customers, &mut runs).await, 0);
    let state = &store
        .schedule("acme", Utc::now())
        .await
        .expect("the schedule")[0];
    assert_eq!(state.task, "fails");
    assert_eq!(state.last_outcome.as_deref(), Some("failed"));
    assert_eq!(state.last_error.as_deref(), Some("`acme` is not reachable"));
    assert_eq!(state.interval_seconds, Some(600));
    assert_eq!((state.runs, state.failures), (1, 1));
    let next_due: chrono::DateTime<Utc> = state
        .next_due
        .as_deref()
        .expect("a time")
        .parse()
        .expect("RFC 3339");
    let started: chrono::DateTime<Utc> = state
        .last_started_at
        .as_deref()
        .expect("a time")
        .parse()
        .expect("RFC 3339");
    // The due time is kept to the millisecond.
    let after = (next_due - started)
        .num_microseconds()
        .expect("ten minutes fit");
    assert!((599_999_000..=600_000_000).contains(&after), "{after}");
}

#[tokio::test]
async fn the_config_turns_a_task_off_or_on_for_one_customer() {
    let (_dir, store, _) = two_stores().await;
    let overlap = Arc::new(Overlap::default());
    let mut scheduler = scheduler(store, overlap.clone(), Duration::ZERO);
    let counted = overlap.clone();
    scheduler.register("opt_in", None, move |_| {
        let counted = counted.clone();
        async move {
            counted.run(Duration::ZERO).await;
            Ok(())
        }
    });

    let mut off = CustomerTasks::new("acme");
    off.intervals.insert("work".into(), None);
    let mut runs = JoinSet::new();
    assert_eq!(scheduler.start_due(&[off], &mut runs).await, 0);

    let mut opted = CustomerTasks::new("globex");
    opted
        .intervals
        .insert("opt_in".into(), Some(Duration::from_secs(60)));
    assert_eq!(scheduler.start_due(&[opted], &mut runs).await, 2);
    runs.join_all().await;
}

#[tokio::test]
async fn work_whose_lease_was_taken_over_is_cancelled() {
    let (_dir, store, _) = two_stores().await;
    let lease = Lease::claim(
        &store,
        "work",
        "acme",
        "me",
        Duration::from_millis(60),
        Claim::Now,
    )
    .await
    .expect("the store answers")
    .expect("the lease is free");

    // Another holder takes the row a second later, as if this one had
    // stalled past its lease: the next renewal finds it gone.
    let later = Utc::now() + chrono::Duration::seconds(1);
    let until = later + chrono::Duration::seconds(1);
    let taken = store
        .claim_lease("work", "acme", "other", later, until, Claim::Now)
        .await
        .expect("the store answers");
    assert!(taken);
    let outcome = lease
        .run(std::future::pending::<anyhow::Result<()>>(), None)
        .await;
    assert!(matches!(outcome, Err(RunError::LostLease)), "{outcome:?}");
}
