//! Webhook deliveries: one row per change and webhook URL, enqueued with
//! the change, claimed by one sender at a time with a lease, retried with
//! backoff and dead-lettered after the webhook's limit.
//!
//! A claim sets `lease_until` only where it is still free, in the same
//! statement that checks it, so two replicas never send one delivery at
//! once; a sender that dies leaves its lease to expire.

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::Store;
use super::changes::encode_cursor;

/// Adds one pending delivery: customer, URL, change id, now.
pub(super) const ENQUEUE: &str = "INSERT INTO webhook_deliveries (customer, url, change_id, \
     state, attempts, next_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4)";

/// A delivery as CS sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The delivery's id, for replay.
    pub id: i64,
    /// The customer.
    pub customer: String,
    /// The receiver.
    pub url: String,
    /// The feed cursor of the change delivered.
    pub change: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, while pending.
    pub next_at: String,
    /// The receiver's last HTTP status, when it answered.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the delivery was enqueued.
    pub created_at: String,
    /// When the receiver took it.
    pub delivered_at: Option<String>,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The delivery's id.
    pub id: i64,
    /// The customer.
    pub customer: String,
    /// The receiver.
    pub url: String,
    /// The change's id.
    pub change_id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed; try again at `retry_at`, or never (dead) when none.
    Failed {
        /// The receiver's status, when it answered.
        status: Option<i64>,
        /// What went wrong.
        error: String,
        /// When to try again; none makes the delivery dead.
        retry_at: Option<String>,
    },
}

impl Store {
    /// Claims up to `limit` due deliveries until `lease_until`.
    pub async fn claim_deliveries(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<Claimed>> {
        // Rows another replica holds are skipped (PostgreSQL); the outer
        // conditions repeat the inner ones, so a row claimed meanwhile is
        // re-checked and left alone.
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $2 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' \
             AND next_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
             ORDER BY id LIMIT $3{}) \
             AND state = 'pending' AND (lease_until IS NULL OR lease_until < $1) \
             RETURNING id, customer, url, change_id, attempts",
            self.backend().skip_locked()
        );
        // The only text spliced in is the backend's fixed locking clause.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(lease_until)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("claiming webhook deliveries")?;
        let mut claimed: Vec<Claimed> = rows
            .iter()
            .map(|row| Claimed {
                id: row.get("id"),
                customer: row.get("customer"),
                url: row.get("url"),
                change_id: row.get("change_id"),
                attempts: row.get("attempts"),
            })
            .collect();
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// Records how an attempt at delivery `id` ended and frees its lease.
    pub async fn finish_delivery(
        &self,
        id: i64,
        attempt: &Attempt,
        now: &str,
    ) -> anyhow::Result<()> {
        let query = match attempt {
            Attempt::Delivered => sqlx::query(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, \
                 delivered_at = $2, lease_until = NULL, last_status = NULL, \
                 last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now),
            Attempt::Failed {
                status,
                error,
                retry_at,
            } => sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = NULL, \
                 last_status = $2, last_error = $3, \
                 state = CASE WHEN $4 IS NULL THEN 'dead' ELSE 'pending' END, \
                 next_at = COALESCE($4, next_at) WHERE id = $1",
            )
            .bind(id)
            .bind(*status)
            .bind(error)
            .bind(retry_at.as_deref()),
        };
        query
            .execute(&self.pool)
            .await
            .context("recording a delivery attempt")?;
        Ok(())
    }

    /// The customer's deliveries, newest first, in `state` when given.
    pub async fn deliveries(
        &self,
        customer: &str,
        state: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT id, customer, url, change_id, state, attempts, next_at, last_status, \
             last_error, created_at, delivered_at FROM webhook_deliveries \
             WHERE customer = $1 AND ($2 IS NULL OR state = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(customer)
        .bind(state)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading webhook deliveries")?;
        Ok(rows
            .iter()
            .map(|row| Delivery {
                id: row.get("id"),
                customer: row.get("customer"),
                url: row.get("url"),
                change: encode_cursor(row.get("change_id")),
                state: row.get("state"),
                attempts: row.get("attempts"),
                next_at: row.get("next_at"),
                last_status: row.get("last_status"),
                last_error: row.get("last_error"),
                created_at: row.get("created_at"),
                delivered_at: row.get("delivered_at"),
            })
            .collect())
    }

    /// Sends delivery `id` of `customer` again from its first attempt,
    /// whatever its state. False when the customer has no such delivery.
    pub async fn replay_delivery(
        &self,
        customer: &str,
        id: i64,
        now: &str,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = $3, \
             lease_until = NULL, delivered_at = NULL WHERE customer = $1 AND id = $2",
        )
        .bind(customer)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("replaying a delivery")?;
        Ok(done.rows_affected() > 0)
    }

    /// Enqueues every change of `customer` after change id `after` again,
    /// for each of `webhooks` (URL and the entities it takes, none for
    /// all). Returns how many deliveries were enqueued.
    pub async fn replay_changes(
        &self,
        customer: &str,
        after: i64,
        webhooks: &[(String, Option<Vec<String>>)],
        now: &str,
    ) -> anyhow::Result<u64> {
        let mut tx = self.pool.begin().await.context("starting a replay")?;
        let mut enqueued = 0;
        for (url, entities) in webhooks {
            let rows = sqlx::query(
                "SELECT id, entity FROM changes WHERE customer = $1 AND id > $2 ORDER BY id",
            )
            .bind(customer)
            .bind(after)
            .fetch_all(&mut *tx)
            .await
            .context("reading changes to replay")?;
            for row in rows {
                let entity: String = row.get("entity");
                if entities
                    .as_ref()
                    .is_some_and(|list| !list.contains(&entity))
                {
                    continue;
                }
                sqlx::query(ENQUEUE)
                    .bind(customer)
                    .bind(url)
                    .bind(row.get::<i64, _>("id"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .context("enqueueing a replay")?;
                enqueued += 1;
            }
        }
        tx.commit().await.context("committing a replay")?;
        Ok(enqueued)
    }
}
