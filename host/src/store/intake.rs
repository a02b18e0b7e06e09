//! Durable intake: intents kept in their idempotency rows until they have an
//! outcome, claimed in batches under a lease, and jobs over them.
//!
//! A row is pending while its `result` is NULL. It is due once `not_before`
//! has passed and nobody holds it: `claimed_by` is empty or its lease ran
//! out (the replica holding it stopped). A replica renews the leases of the
//! rows it runs, so a long batch is never taken from a live replica.

use anyhow::Context;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, now};

/// How a submission's intents are stored.
#[derive(Debug, Clone, Default)]
pub struct Intake {
    /// The job they belong to; none for a synchronous write.
    pub job_id: Option<String>,
    /// The replica that runs them now (a synchronous write); none leaves
    /// them pending for whichever replica's worker claims them first.
    pub claimed_by: Option<String>,
    /// When that replica's hold runs out unless renewed.
    pub lease_until: Option<String>,
}

/// One intent to store with its key.
#[derive(Debug, Clone)]
pub struct NewIntent {
    /// Its idempotency key: the agent's, or one the host assigned.
    pub key: String,
    /// What the intent asks for, to tell a reused key from a retry.
    pub fingerprint: String,
    /// The intent as the pipeline runs it (JSON).
    pub intent: String,
    /// Its position in its submission.
    pub ordinal: i64,
    /// Its place in the order the intake runs its submission.
    pub run_order: i64,
}

/// A claimed intent, to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Its idempotency key.
    pub key: String,
    /// The intent (JSON).
    pub intent: String,
    /// Its position in its submission.
    pub ordinal: i64,
    /// How many times it was claimed, this time included.
    pub attempts: i64,
}

/// What became of one claimed intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The customer.
    pub customer: String,
    /// The intent's key.
    pub key: String,
    /// Its outcome.
    pub outcome: Settlement,
}

/// A claimed intent's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Final.
    Done {
        /// The per-record result.
        result: serde_json::Value,
        /// Its status, e.g. `created` or `failed`.
        status: String,
        /// Nothing was written: the agent may send the key again.
        released: bool,
    },
    /// Not final: pending again until `not_before`.
    Deferred {
        /// When it may run again (a stored timestamp).
        not_before: String,
        /// Why it waits.
        error: serde_json::Value,
    },
}

/// What the store knows of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOutcome {
    /// The per-record result, once there is one.
    pub result: Option<serde_json::Value>,
    /// Whether the intent can still run: stored with durable intake and
    /// without an outcome.
    pub resumable: bool,
    /// When it may run next, while pending.
    pub not_before: Option<String>,
    /// How many times it was claimed.
    pub attempts: i64,
    /// Why it waits, when it was deferred.
    pub last_error: Option<serde_json::Value>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Its id.
    pub id: String,
    /// The customer.
    pub customer: String,
    /// How many records and activities it holds.
    pub total: i64,
    /// Who submitted it, as the operator audit names callers.
    pub created_by: String,
    /// When (a stored timestamp).
    pub created_at: String,
}

/// A job's record answered without running.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAnswer {
    /// Its position in the job.
    pub ordinal: i64,
    /// Its idempotency key, when it has one.
    pub key: Option<String>,
    /// Its result and the result's status; none when the answer is the
    /// outcome of the earlier intent holding `key`.
    pub result: Option<(String, serde_json::Value)>,
}

/// A job's records by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Written, updated or found unchanged.
    pub done: i64,
    /// Failed for good.
    pub failed: i64,
    /// Not run yet, running, or deferred.
    pub pending: i64,
}

/// One record of a job's result listing.
#[derive(Debug, Clone, PartialEq)]
pub struct JobItem {
    /// Its position in the job.
    pub ordinal: i64,
    /// The per-record result; none while pending.
    pub result: Option<serde_json::Value>,
    /// The answer is an earlier intent's outcome with the same key.
    pub replayed: bool,
    /// The intent (JSON), while pending.
    pub intent: Option<String>,
}

/// The condition of a row any replica may claim at time `$1`.
macro_rules! due {
    () => {
        "result IS NULL AND intent IS NOT NULL AND not_before <= $1 \
         AND (claimed_by IS NULL OR lease_until < $1)"
    };
}

impl Store {
    /// Customers with intents due at `at`, those waiting longest first.
    pub async fn due_customers(&self, at: &str, limit: i64) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(concat!(
            "SELECT customer, MIN(not_before) AS since FROM idempotency WHERE ",
            due!(),
            " GROUP BY customer ORDER BY since LIMIT $2"
        ))
        .bind(at)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading customers with due intents")?;
        Ok(rows.iter().map(|r| r.get("customer")).collect())
    }

    /// Claims up to `limit` of `customer`'s due intents for `worker` until
    /// `lease_until`, oldest first, in the order they were submitted.
    ///
    /// One statement: rows another replica claims at the same moment are
    /// never claimed twice, as the condition is checked again on the rows
    /// the update takes; on PostgreSQL the rows another replica is claiming
    /// are skipped rather than waited for.
    pub async fn claim_due(
        &self,
        customer: &str,
        worker: &str,
        at: &str,
        lease_until: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<Queued>> {
        // The rows are picked once, in a materialized query: as a plain
        // subquery of the update, PostgreSQL may run it again for each row
        // and take more than `limit`. The statement is fixed but for the
        // backend's row locking.
        let statement = format!(
            concat!(
                "WITH picked AS MATERIALIZED (SELECT key FROM idempotency \
                 WHERE customer = $4 AND ",
                due!(),
                " ORDER BY not_before, created_at, run_order, ordinal LIMIT $5{}) \
                 UPDATE idempotency SET claimed_by = $2, lease_until = $3, \
                 attempts = attempts + 1 WHERE customer = $4 AND ",
                due!(),
                " AND key IN (SELECT key FROM picked) \
                 RETURNING key, intent, ordinal, run_order, attempts, created_at"
            ),
            self.backend().skip_locked()
        );
        let rows = sqlx::query(AssertSqlSafe(statement))
            .bind(at)
            .bind(worker)
            .bind(lease_until)
            .bind(customer)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("claiming due intents of `{customer}`"))?;
        let mut claimed: Vec<((String, i64), Queued)> = rows
            .iter()
            .map(|r| {
                let queued = Queued {
                    key: r.get("key"),
                    intent: r.get("intent"),
                    ordinal: r.get("ordinal"),
                    attempts: r.get("attempts"),
                };
                ((r.get("created_at"), r.get("run_order")), queued)
            })
            .collect();
        claimed.sort_by(|a, b| (&a.0, a.1.ordinal).cmp(&(&b.0, b.1.ordinal)));
        Ok(claimed.into_iter().map(|(_, q)| q).collect())
    }

    /// Extends the lease of every pending intent `worker` holds; answers
    /// how many it holds.
    pub async fn renew_leases(&self, worker: &str, lease_until: &str) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE idempotency SET lease_until = $1 WHERE claimed_by = $2 AND result IS NULL",
        )
        .bind(lease_until)
        .bind(worker)
        .execute(&self.pool)
        .await
        .context("renewing intake leases")?;
        Ok(done.rows_affected())
    }

    /// What the store knows of `customer`'s key, if anything.
    pub async fn outcome(
        &self,
        customer: &str,
        key: &str,
    ) -> anyhow::Result<Option<StoredOutcome>> {
        let row = sqlx::query(
            "SELECT result, intent, not_before, attempts, last_error FROM idempotency \
             WHERE customer = $1 AND key = $2",
        )
        .bind(customer)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .context("reading an idempotency key")?;
        Ok(row.map(|r| {
            let result: Option<String> = r.get("result");
            let intent: Option<String> = r.get("intent");
            StoredOutcome {
                resumable: result.is_none() && intent.is_some(),
                result: result.map(|text| json(&text)),
                not_before: r.get("not_before"),
                attempts: r.get("attempts"),
                last_error: r.get::<Option<String>, _>("last_error").map(|t| json(&t)),
            }
        }))
    }

    /// Records a job and the answers of its records that do not run, once
    /// its intents are stored: a job that exists is whole.
    pub async fn put_job(&self, job: &JobRecord, answers: &[JobAnswer]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("starting the job")?;
        for JobAnswer {
            ordinal,
            key,
            result,
        } in answers
        {
            let (status, result) = match result {
                Some((status, result)) => (Some(status.as_str()), Some(result.to_string())),
                None => (None, None),
            };
            sqlx::query(
                "INSERT INTO job_answers (job_id, ordinal, key, status, result) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&job.id)
            .bind(ordinal)
            .bind(key)
            .bind(status)
            .bind(result)
            .execute(&mut *tx)
            .await
            .context("storing a job's answers")?;
        }
        sqlx::query(
            "INSERT INTO jobs (id, customer, total, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&job.id)
        .bind(&job.customer)
        .bind(job.total)
        .bind(&job.created_by)
        .bind(&job.created_at)
        .execute(&mut *tx)
        .await
        .context("storing a job")?;
        tx.commit().await.context("committing a job")?;
        Ok(())
    }

    /// `customer`'s job `id` with its counts, if it has one.
    pub async fn job(
        &self,
        customer: &str,
        id: &str,
    ) -> anyhow::Result<Option<(JobRecord, JobCounts)>> {
        let row = sqlx::query(
            "SELECT id, customer, total, created_by, created_at FROM jobs \
             WHERE customer = $1 AND id = $2",
        )
        .bind(customer)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a job")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let job = JobRecord {
            id: row.get("id"),
            customer: row.get("customer"),
            total: row.get("total"),
            created_by: row.get("created_by"),
            created_at: row.get("created_at"),
        };

        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM (\
                 SELECT status FROM idempotency WHERE job_id = $1 \
                 UNION ALL \
                 SELECT COALESCE(a.status, i.status) AS status FROM job_answers a \
                 LEFT JOIN idempotency i ON a.result IS NULL AND i.customer = $2 \
                 AND i.key = a.key WHERE a.job_id = $1\
             ) AS items GROUP BY status",
        )
        .bind(id)
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .context("counting a job's outcomes")?;
        let mut counts = JobCounts::default();
        for row in rows {
            let n: i64 = row.get("n");
            match row.get::<Option<String>, _>("status").as_deref() {
                None => counts.pending += n,
                Some("failed") => counts.failed += n,
                Some(_) => counts.done += n,
            }
        }
        Ok(Some((job, counts)))
    }

    /// Up to `limit` of job `id`'s records after position `after`, in
    /// order.
    pub async fn job_results(
        &self,
        customer: &str,
        id: &str,
        after: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<JobItem>> {
        let rows = sqlx::query(
            "SELECT ordinal, result, CAST(0 AS BIGINT) AS replayed, intent FROM idempotency \
             WHERE job_id = $1 AND ordinal > $2 \
             UNION ALL \
             SELECT a.ordinal AS ordinal, COALESCE(a.result, i.result) AS result, \
             CAST(CASE WHEN a.result IS NULL THEN 1 ELSE 0 END AS BIGINT) AS replayed, \
             i.intent AS intent FROM job_answers a LEFT JOIN idempotency i ON a.result IS NULL \
             AND i.customer = $3 AND i.key = a.key WHERE a.job_id = $1 AND a.ordinal > $2 \
             ORDER BY ordinal LIMIT $4",
        )
        .bind(id)
        .bind(after)
        .bind(customer)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading a job's results")?;
        Ok(rows
            .iter()
            .map(|r| {
                let result: Option<String> = r.get("result");
                let pending = result.is_none();
                JobItem {
                    ordinal: r.get("ordinal"),
                    result: result.map(|t| json(&t)),
                    replayed: r.get::<i64, _>("replayed") == 1,
                    intent: r.get::<Option<String>, _>("intent").filter(|_| pending),
                }
            })
            .collect())
    }

    /// The time now, as the store writes times.
    pub fn now(&self) -> String {
        now()
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use serde_json::json;

    use super::*;
    use crate::secrets::SecretKey;
    use crate::store::scratch::ScratchDatabase;
    use crate::store::{KeyClaim, Location, timestamp};

    /// Where a test's store lives, removed with it.
    enum Scratch {
        Dir(#[allow(dead_code, reason = "held to be removed on drop")] tempfile::TempDir),
        Database(#[allow(dead_code, reason = "held to be dropped")] ScratchDatabase),
    }

    /// A fresh store: on the PostgreSQL server `CONDUIT_TEST_DATABASE_URL`
    /// names, if it names one, else on SQLite.
    async fn store() -> anyhow::Result<(Scratch, Store)> {
        let key = SecretKey::ephemeral();
        match std::env::var("CONDUIT_TEST_DATABASE_URL") {
            Ok(server) if server.starts_with("postgres") => {
                let database = ScratchDatabase::create(&server).await?;
                let location = Location::Postgres(database.url().to_owned());
                let store = Store::open(&location, key).await?;
                Ok((Scratch::Database(database), store))
            }
            _ => {
                let dir = tempfile::tempdir()?;
                let store = Store::open_sqlite(&dir.path().join("c.db"), key).await?;
                Ok((Scratch::Dir(dir), store))
            }
        }
    }

    fn intents(keys: &[&str]) -> Vec<NewIntent> {
        keys.iter()
            .enumerate()
            .map(|(i, key)| NewIntent {
                key: (*key).to_owned(),
                fingerprint: format!("fp-{key}"),
                intent: format!("{{\"n\": {i}}}"),
                ordinal: i as i64,
                run_order: i as i64,
            })
            .collect()
    }

    fn at(seconds: i64) -> String {
        timestamp(Utc::now() + Duration::seconds(seconds))
    }

    fn done(customer: &str, key: &str, status: &str, released: bool) -> Settled {
        Settled {
            customer: customer.into(),
            key: key.into(),
            outcome: Settlement::Done {
                result: json!({ "status": status, "key": key }),
                status: status.into(),
                released,
            },
        }
    }

    fn queued_keys(queued: &[Queued]) -> Vec<&str> {
        queued.iter().map(|q| q.key.as_str()).collect()
    }

    #[tokio::test]
    async fn pending_intents_are_claimed_once_in_order_and_held_ones_are_not() -> anyhow::Result<()>
    {
        let (_dir, store) = store().await?;
        let held = Intake {
            claimed_by: Some("a".into()),
            lease_until: Some(at(60)),
            ..Intake::default()
        };
        store.claim_keys("acme", &held, &intents(&["h1"])).await?;
        store
            .claim_keys("acme", &Intake::default(), &intents(&["p1", "p2", "p3"]))
            .await?;

        let now = at(0);
        let first = store.claim_due("acme", "b", &now, &at(60), 2).await?;
        assert_eq!(queued_keys(&first), ["p1", "p2"]);
        assert!(first.iter().all(|q| q.attempts == 1));
        let second = store.claim_due("acme", "b", &now, &at(60), 10).await?;
        assert_eq!(
            queued_keys(&second),
            ["p3"],
            "a claimed intent is not claimed again"
        );
        assert!(
            store
                .claim_due("acme", "c", &now, &at(60), 10)
                .await?
                .is_empty()
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_expired_lease_resumes_and_a_renewed_one_holds() -> anyhow::Result<()> {
        let (_dir, store) = store().await?;
        let stopped = Intake {
            claimed_by: Some("stopped".into()),
            lease_until: Some(at(-1)),
            ..Intake::default()
        };
        store
            .claim_keys("acme", &stopped, &intents(&["s1"]))
            .await?;
        let live = Intake {
            claimed_by: Some("live".into()),
            lease_until: Some(at(-1)),
            ..Intake::default()
        };
        store.claim_keys("acme", &live, &intents(&["l1"])).await?;
        assert_eq!(store.renew_leases("live", &at(60)).await?, 1);

        let resumed = store.claim_due("acme", "new", &at(0), &at(60), 10).await?;
        assert_eq!(queued_keys(&resumed), ["s1"]);
        assert_eq!(resumed[0].attempts, 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_deferred_intent_waits_and_holds_its_customer_but_no_other() -> anyhow::Result<()> {
        let (_dir, store) = store().await?;
        let pending = Intake::default();
        store
            .claim_keys("acme", &pending, &intents(&["a1", "a2"]))
            .await?;
        store
            .claim_keys("globex", &pending, &intents(&["g1"]))
            .await?;
        let claimed = store.claim_due("acme", "w", &at(0), &at(60), 1).await?;
        assert_eq!(queued_keys(&claimed), ["a1"]);

        let deferred = Settled {
            customer: "acme".into(),
            key: "a1".into(),
            outcome: Settlement::Deferred {
                not_before: at(120),
                error: json!({ "code": "crm_limit_reached" }),
            },
        };
        store.record_batch(&[], &[deferred]).await?;

        assert_eq!(store.due_customers(&at(0), 10).await?, ["globex"]);
        let waiting = store.outcome("acme", "a1").await?.expect("stored");
        assert!(waiting.result.is_none() && waiting.resumable);
        assert_eq!(
            waiting.last_error,
            Some(json!({ "code": "crm_limit_reached" }))
        );
        let later = store.claim_due("acme", "w", &at(121), &at(181), 10).await?;
        assert_eq!(
            queued_keys(&later),
            ["a1", "a2"],
            "both are due once the wait is over"
        );
        assert_eq!(later[0].attempts, 2);
        Ok(())
    }

    #[tokio::test]
    async fn a_released_key_is_claimed_afresh_and_its_job_keeps_its_answer() -> anyhow::Result<()> {
        let (_dir, store) = store().await?;
        let job = Intake {
            job_id: Some("j1".into()),
            ..Intake::default()
        };
        store
            .claim_keys("acme", &job, &intents(&["k1", "k2"]))
            .await?;
        store.claim_due("acme", "w", &at(0), &at(60), 10).await?;
        let settled = [
            done("acme", "k1", "failed", true),
            done("acme", "k2", "created", false),
        ];
        store.record_batch(&[], &settled).await?;
        let record = JobRecord {
            id: "j1".into(),
            customer: "acme".into(),
            total: 3,
            created_by: "agent".into(),
            created_at: at(0),
        };
        let refused = json!({ "index": 2, "status": "failed" });
        store
            .put_job(
                &record,
                &[JobAnswer {
                    ordinal: 2,
                    key: None,
                    result: Some(("failed".into(), refused)),
                }],
            )
            .await?;

        let again = store
            .claim_keys("acme", &Intake::default(), &intents(&["k1", "k2"]))
            .await?;
        assert_eq!(again[0], KeyClaim::Claimed, "released: free again");
        assert!(matches!(again[1], KeyClaim::Done { .. }), "{again:?}");

        let (_, counts) = store.job("acme", "j1").await?.expect("the job");
        let expected = JobCounts {
            done: 1,
            failed: 2,
            pending: 0,
        };
        assert_eq!(counts, expected);
        let page = store.job_results("acme", "j1", -1, 2).await?;
        let ordinals: Vec<i64> = page.iter().map(|i| i.ordinal).collect();
        assert_eq!(ordinals, [0, 1]);
        assert_eq!(
            page[0].result,
            Some(json!({ "status": "failed", "key": "k1" }))
        );
        let rest = store.job_results("acme", "j1", 1, 2).await?;
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].ordinal, 2);
        assert!(
            store.job("globex", "j1").await?.is_none(),
            "another customer's job"
        );
        Ok(())
    }
}
