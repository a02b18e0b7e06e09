//! Leases on periodic tasks, one row per task and customer, and what each
//! task's last run did.
//!
//! A lease is taken by a conditional `UPDATE`: it succeeds only while nobody
//! holds the row or the holder's lease has run out, so two replicas on one
//! database never both hold it. A holder renews its lease while it runs and
//! releases it with the run's outcome; one that crashes stops renewing, and
//! its lease runs out.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Store, timestamp};

/// How a lease is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Only when the task is due: what a scheduler's tick asks.
    WhenDue,
    /// Whenever nobody holds it: a run an operator asked for.
    Now,
}

/// How one run ended, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// When it is next due; none keeps the due time the row has.
    pub next_due: Option<DateTime<Utc>>,
    /// The interval it runs at, for operators; none keeps the stored one.
    pub interval_ms: Option<i64>,
}

/// A task's state for one customer, as operators read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaskState {
    /// The task's name, e.g. `schema_check`.
    pub task: String,
    /// Who holds its lease now, while a run is going on.
    pub running_on: Option<String>,
    /// When that lease runs out unless renewed (RFC 3339).
    pub lease_until: Option<String>,
    /// When it is next due (RFC 3339); none before its first run.
    pub next_due: Option<String>,
    /// Its interval in seconds, as last configured.
    pub interval_seconds: Option<i64>,
    /// When its last run started.
    pub last_started_at: Option<String>,
    /// When its last run ended.
    pub last_finished_at: Option<String>,
    /// How long the last run took, in milliseconds.
    pub last_duration_ms: Option<i64>,
    /// `ok` or `failed`.
    pub last_outcome: Option<String>,
    /// The last run's error, when it failed.
    pub last_error: Option<String>,
    /// Runs so far.
    pub runs: i64,
    /// Of those, how many failed.
    pub failures: i64,
}

impl Store {
    /// Takes the lease on `task` for `customer` as `holder` until
    /// `until`, when nobody holds it (or the holder's lease ran out) and,
    /// for [`Claim::WhenDue`], the task is due at `now`. True when taken.
    pub async fn claim_lease(
        &self,
        task: &str,
        customer: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        claim: Claim,
    ) -> anyhow::Result<bool> {
        sqlx::query(
            "INSERT INTO schedule_tasks (task, customer) VALUES ($1, $2) \
             ON CONFLICT (task, customer) DO NOTHING",
        )
        .bind(task)
        .bind(customer)
        .execute(&self.pool)
        .await
        .with_context(|| format!("adding task `{task}` of `{customer}` to the schedule"))?;

        // A due task ignores the due time when asked to run now.
        let due_by = match claim {
            Claim::WhenDue => now.timestamp_millis(),
            Claim::Now => i64::MAX,
        };
        let taken = sqlx::query(
            "UPDATE schedule_tasks SET holder = $3, lease_until = $4 \
             WHERE task = $1 AND customer = $2 \
               AND (holder IS NULL OR lease_until < $5) AND next_due <= $6 \
             RETURNING task",
        )
        .bind(task)
        .bind(customer)
        .bind(holder)
        .bind(until.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(due_by)
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("claiming task `{task}` of `{customer}`"))?;
        Ok(taken.is_some())
    }

    /// Extends `holder`'s lease on `task` to `until`. False when `holder`
    /// no longer holds it: its lease ran out and another took it.
    pub async fn renew_lease(
        &self,
        task: &str,
        customer: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let renewed = sqlx::query(
            "UPDATE schedule_tasks SET lease_until = $4 \
             WHERE task = $1 AND customer = $2 AND holder = $3 RETURNING task",
        )
        .bind(task)
        .bind(customer)
        .bind(holder)
        .bind(until.timestamp_millis())
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("renewing the lease on task `{task}` of `{customer}`"))?;
        Ok(renewed.is_some())
    }

    /// Releases `holder`'s lease on `task` and records the run. False (and
    /// nothing recorded) when `holder` had lost the lease: the run that
    /// holds it now will record its own.
    pub async fn finish_run(
        &self,
        task: &str,
        customer: &str,
        holder: &str,
        run: &RunRecord,
    ) -> anyhow::Result<bool> {
        let duration = (run.finished_at - run.started_at).num_milliseconds();
        let failed = i64::from(run.error.is_some());
        let outcome = if run.error.is_some() { "failed" } else { "ok" };
        let released = sqlx::query(
            "UPDATE schedule_tasks SET holder = NULL, lease_until = 0, \
               next_due = COALESCE($4, next_due), interval_ms = COALESCE($5, interval_ms), \
               started_at = $6, finished_at = $7, duration_ms = $8, outcome = $9, \
               error = $10, runs = runs + 1, failures = failures + $11 \
             WHERE task = $1 AND customer = $2 AND holder = $3 RETURNING task",
        )
        .bind(task)
        .bind(customer)
        .bind(holder)
        .bind(run.next_due.map(|at| at.timestamp_millis()))
        .bind(run.interval_ms)
        .bind(timestamp(run.started_at))
        .bind(timestamp(run.finished_at))
        .bind(duration)
        .bind(outcome)
        .bind(run.error.as_deref())
        .bind(failed)
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("recording the run of task `{task}` of `{customer}`"))?;
        Ok(released.is_some())
    }

    /// Every task of `customer` that has been scheduled, by name, as of
    /// `now` (a lease that ran out is not shown as running).
    pub async fn schedule(
        &self,
        customer: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<TaskState>> {
        let rows = sqlx::query(
            "SELECT task, holder, lease_until, next_due, interval_ms, started_at, \
               finished_at, duration_ms, outcome, error, runs, failures \
             FROM schedule_tasks WHERE customer = $1 ORDER BY task",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the schedule of `{customer}`"))?;

        let now = now.timestamp_millis();
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).map(timestamp);
        let states = rows
            .iter()
            .map(|row| {
                let lease_until: i64 = row.get("lease_until");
                let holder: Option<String> = row.get("holder");
                let running = holder.is_some() && lease_until >= now;
                let next_due: i64 = row.get("next_due");
                TaskState {
                    task: row.get("task"),
                    running_on: holder.filter(|_| running),
                    lease_until: at(lease_until).filter(|_| running),
                    next_due: at(next_due).filter(|_| next_due > 0),
                    interval_seconds: row.get::<Option<i64>, _>("interval_ms").map(|ms| ms / 1000),
                    last_started_at: row.get("started_at"),
                    last_finished_at: row.get("finished_at"),
                    last_duration_ms: row.get("duration_ms"),
                    last_outcome: row.get("outcome"),
                    last_error: row.get("error"),
                    runs: row.get("runs"),
                    failures: row.get("failures"),
                }
            })
            .collect();
        Ok(states)
    }
}
