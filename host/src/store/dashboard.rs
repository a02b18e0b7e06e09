//! What the per-customer dashboard shows, computed from the audit: outcome
//! counts, success over time, errors by code, counts per object, fields
//! skipped by reason, and the connection's state.
//!
//! Every figure is an aggregate in SQL over `write_audit`, so the page costs
//! a few queries however many writes a customer has made.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{Backend, Store};

/// Most error groups shown; the rest are rare by construction.
const MAX_ERROR_GROUPS: i64 = 20;
/// Latest messages kept per error group.
const MESSAGES_PER_ERROR: i64 = 3;
/// Most points on the success-over-time chart.
const MAX_BUCKETS: i64 = 90;

/// One customer's writes, as the audit holds them.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct WriteStats {
    /// Records by outcome, over the whole audit.
    pub totals: Totals,
    /// Share of records that did not fail, from 0 to 1; `None` before the
    /// first write.
    pub success_rate: Option<f64>,
    /// The width of each point of `series`: `minute`, `hour` or `day`,
    /// chosen so the audit's time span fits the chart.
    pub bucket: String,
    /// Succeeded and failed records per bucket, oldest first.
    pub series: Vec<SeriesPoint>,
    /// Failures grouped by the host's code and the CRM's own code, most
    /// frequent first.
    pub errors: Vec<ErrorGroup>,
    /// Records per CRM object, by outcome.
    pub objects: Vec<ObjectCounts>,
    /// Fields left unwritten, by the planner's reason, most frequent first.
    pub skipped: Vec<SkipCount>,
    /// The config version and plugin of the latest audited write.
    pub latest: Option<LatestWrite>,
}

/// Records by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Totals {
    /// Every audited record.
    pub records: i64,
    /// New CRM records.
    pub created: i64,
    /// Changed CRM records.
    pub updated: i64,
    /// Records that already held what the plan allowed.
    pub unchanged: i64,
    /// Records that failed.
    pub failed: i64,
    /// Dry-run plans.
    pub planned: i64,
}

/// One point of the success-over-time chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// The bucket's start, as a prefix of RFC 3339 (`2026-12-04T00:40`).
    pub start: String,
    /// Records created, updated or unchanged.
    pub succeeded: i64,
    /// Records that failed.
    pub failed: i64,
}

/// Failures sharing a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorGroup {
    /// The host's stable code (`crm_rejected`, `invalid_picklist_value`…).
    pub code: String,
    /// The CRM's own code, when the CRM refused.
    pub crm_code: Option<String>,
    /// Records that failed so.
    pub count: i64,
    /// The latest distinct messages, newest first: the CRM's own words when
    /// it refused, the host's otherwise.
    pub messages: Vec<String>,
    /// When the latest failed (RFC 3339).
    pub latest_at: String,
}

/// One CRM object's records by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ObjectCounts {
    /// The CRM object, or the agent entity for records that failed before
    /// one was chosen.
    pub object: String,
    /// Records by outcome.
    #[serde(flatten)]
    pub counts: Totals,
}

/// Fields skipped for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkipCount {
    /// The planner's reason (`has_value`, `policy_skip`, `read_only`…).
    pub reason: String,
    /// Field decisions with that reason.
    pub count: i64,
}

/// What decided the latest write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LatestWrite {
    /// The config version.
    pub config_version: String,
    /// The plugin as `name@version`, if one ran.
    pub plugin: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// A connection as the store holds it, credentials left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConnectionState {
    /// `salesforce` or `hubspot`.
    pub provider: String,
    /// `active`, or `needs_reauth` once the CRM refuses to refresh it.
    pub status: String,
    /// When it was last stored or changed state (RFC 3339).
    pub updated_at: String,
}

impl Store {
    /// Whether the database answers a query.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("pinging the database")?;
        Ok(())
    }

    /// A customer's connection state, without its credentials.
    pub async fn connection_state(
        &self,
        customer: &str,
    ) -> anyhow::Result<Option<ConnectionState>> {
        let row = sqlx::query(
            "SELECT provider, state, updated_at FROM grants WHERE customer = $1 AND subject = ''",
        )
        .bind(customer)
        .fetch_optional(&self.pool)
        .await
        .context("reading a connection's state")?;
        Ok(row.map(|r| ConnectionState {
            provider: r.get("provider"),
            status: r.get("state"),
            updated_at: r.get("updated_at"),
        }))
    }

    /// Everything the dashboard shows of `customer`'s writes.
    pub async fn write_stats(&self, customer: &str) -> anyhow::Result<WriteStats> {
        let objects = self.object_counts(customer).await?;
        let mut totals = Totals::default();
        for o in &objects {
            totals.add(&o.counts);
        }
        let judged = totals.records - totals.planned;
        let success_rate = (judged > 0).then(|| (judged - totals.failed) as f64 / judged as f64);

        let (bucket, series) = self.series(customer).await?;
        Ok(WriteStats {
            totals,
            success_rate,
            bucket: bucket.to_owned(),
            series,
            errors: self.error_groups(customer).await?,
            objects,
            skipped: self.skipped(customer).await?,
            latest: self.latest_write(customer).await?,
        })
    }

    async fn object_counts(&self, customer: &str) -> anyhow::Result<Vec<ObjectCounts>> {
        let rows = sqlx::query(
            "SELECT COALESCE(object, entity) AS object, status, COUNT(*) AS n FROM write_audit \
             WHERE customer = $1 GROUP BY 1, 2 ORDER BY 1",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .context("counting writes per object")?;

        let mut objects: Vec<ObjectCounts> = Vec::new();
        for row in rows {
            let object: String = row.get("object");
            if objects.last().is_none_or(|o| o.object != object) {
                objects.push(ObjectCounts {
                    object,
                    ..Default::default()
                });
            }
            if let Some(last) = objects.last_mut() {
                last.counts.count(row.get("status"), row.get("n"));
            }
        }
        Ok(objects)
    }

    /// Succeeded and failed per bucket, the bucket chosen from the span of
    /// the audit: RFC 3339 text in UTC, so a bucket is a prefix.
    async fn series(&self, customer: &str) -> anyhow::Result<(&'static str, Vec<SeriesPoint>)> {
        let span = sqlx::query(
            "SELECT MIN(created_at) AS first, MAX(created_at) AS last FROM write_audit \
             WHERE customer = $1",
        )
        .bind(customer)
        .fetch_one(&self.pool)
        .await
        .context("reading the audit's time span")?;
        let first: Option<String> = span.get("first");
        let last: Option<String> = span.get("last");
        let (bucket, prefix) = bucket_for(first.as_deref(), last.as_deref());

        let rows = sqlx::query(
            "SELECT substr(created_at, 1, CAST($1 AS INTEGER)) AS start, \
             COUNT(CASE WHEN status IN ('created', 'updated', 'unchanged') THEN 1 END) \
             AS succeeded, COUNT(CASE WHEN status = 'failed' THEN 1 END) AS failed \
             FROM write_audit WHERE customer = $2 GROUP BY 1 ORDER BY 1 DESC LIMIT $3",
        )
        .bind(prefix)
        .bind(customer)
        .bind(MAX_BUCKETS)
        .fetch_all(&self.pool)
        .await
        .context("counting writes over time")?;
        let mut series: Vec<SeriesPoint> = rows
            .into_iter()
            .map(|r| SeriesPoint {
                start: r.get("start"),
                succeeded: r.get("succeeded"),
                failed: r.get("failed"),
            })
            .collect();
        series.reverse();
        Ok((bucket, series))
    }

    async fn error_groups(&self, customer: &str) -> anyhow::Result<Vec<ErrorGroup>> {
        let rows = sqlx::query(match self.backend {
            Backend::Sqlite => {
                "SELECT COALESCE(error_code, 'unknown') AS code, \
                 json_extract(error, '$.crm.code') AS crm_code, COUNT(*) AS n, \
                 MAX(created_at) AS latest_at FROM write_audit \
                 WHERE customer = $1 AND status = 'failed' GROUP BY 1, 2 \
                 ORDER BY n DESC, code LIMIT $2"
            }
            Backend::Postgres => {
                "SELECT COALESCE(error_code, 'unknown') AS code, \
                 error::jsonb #>> '{crm,code}' AS crm_code, COUNT(*) AS n, \
                 MAX(created_at) AS latest_at FROM write_audit \
                 WHERE customer = $1 AND status = 'failed' GROUP BY 1, 2 \
                 ORDER BY n DESC, code LIMIT $2"
            }
        })
        .bind(customer)
        .bind(MAX_ERROR_GROUPS)
        .fetch_all(&self.pool)
        .await
        .context("grouping failed writes by code")?;

        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let code: String = row.get("code");
            let crm_code: Option<String> = row.get("crm_code");
            let messages = sqlx::query(match self.backend {
                Backend::Sqlite => {
                    "SELECT COALESCE(json_extract(error, '$.crm.message'), \
                     json_extract(error, '$.message')) AS message, MAX(id) AS latest \
                     FROM write_audit WHERE customer = $1 AND status = 'failed' \
                     AND COALESCE(error_code, 'unknown') = $2 \
                     AND json_extract(error, '$.crm.code') IS $3 \
                     GROUP BY 1 ORDER BY latest DESC LIMIT $4"
                }
                Backend::Postgres => {
                    "SELECT COALESCE(error::jsonb #>> '{crm,message}', \
                     error::jsonb ->> 'message') AS message, MAX(id) AS latest \
                     FROM write_audit WHERE customer = $1 AND status = 'failed' \
                     AND COALESCE(error_code, 'unknown') = $2 \
                     AND error::jsonb #>> '{crm,code}' IS NOT DISTINCT FROM $3 \
                     GROUP BY 1 ORDER BY latest DESC LIMIT $4"
                }
            })
            .bind(customer)
            .bind(&code)
            .bind(&crm_code)
            .bind(MESSAGES_PER_ERROR)
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("reading the latest messages of `{code}`"))?
            .into_iter()
            .filter_map(|r| r.get::<Option<String>, _>("message"))
            .collect();
            groups.push(ErrorGroup {
                code,
                crm_code,
                count: row.get("n"),
                messages,
                latest_at: row.get("latest_at"),
            });
        }
        Ok(groups)
    }

    async fn skipped(&self, customer: &str) -> anyhow::Result<Vec<SkipCount>> {
        let rows = sqlx::query(match self.backend {
            Backend::Sqlite => {
                "SELECT json_extract(d.value, '$.reason') AS reason, COUNT(*) AS n \
                 FROM write_audit AS w, json_each(w.decisions) AS d \
                 WHERE w.customer = $1 AND json_extract(d.value, '$.decision') = 'skip' \
                 GROUP BY 1 ORDER BY n DESC, reason"
            }
            // Decisions are an array; anything else holds no field, as
            // SQLite's json_each finds none in it.
            Backend::Postgres => {
                "SELECT d.value ->> 'reason' AS reason, COUNT(*) AS n \
                 FROM write_audit AS w, jsonb_array_elements(CASE \
                 WHEN jsonb_typeof(w.decisions::jsonb) = 'array' THEN w.decisions::jsonb \
                 ELSE '[]'::jsonb END) AS d (value) \
                 WHERE w.customer = $1 AND d.value ->> 'decision' = 'skip' \
                 GROUP BY 1 ORDER BY n DESC, reason"
            }
        })
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .context("counting skipped fields by reason")?;
        Ok(rows
            .into_iter()
            .map(|r| SkipCount {
                reason: r
                    .get::<Option<String>, _>("reason")
                    .unwrap_or_else(|| "unknown".to_owned()),
                count: r.get("n"),
            })
            .collect())
    }

    async fn latest_write(&self, customer: &str) -> anyhow::Result<Option<LatestWrite>> {
        let row = sqlx::query(
            "SELECT config_version, plugin, created_at FROM write_audit WHERE customer = $1 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(customer)
        .fetch_optional(&self.pool)
        .await
        .context("reading the latest write")?;
        Ok(row.map(|r| LatestWrite {
            config_version: r.get("config_version"),
            plugin: r.get("plugin"),
            at: r.get("created_at"),
        }))
    }
}

impl Totals {
    fn count(&mut self, status: &str, n: i64) {
        self.records += n;
        match status {
            "created" => self.created += n,
            "updated" => self.updated += n,
            "unchanged" => self.unchanged += n,
            "failed" => self.failed += n,
            "planned" => self.planned += n,
            // An outcome newer than this code still counts in `records`.
            _ => {}
        }
    }

    fn add(&mut self, other: &Totals) {
        self.records += other.records;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.planned += other.planned;
    }
}

/// The bucket width for an audit spanning `first` to `last`, and the length
/// of the RFC 3339 prefix that names a bucket of that width.
fn bucket_for(first: Option<&str>, last: Option<&str>) -> (&'static str, i64) {
    let parse = |t: Option<&str>| {
        t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let span = match (parse(first), parse(last)) {
        (Some(first), Some(last)) => last - first,
        _ => chrono::TimeDelta::zero(),
    };
    if span <= chrono::TimeDelta::hours(3) {
        ("minute", 16)
    } else if span <= chrono::TimeDelta::days(4) {
        ("hour", 13)
    } else {
        ("day", 10)
    }
}

#[cfg(test)]
mod tests {
    use super::bucket_for;

    #[test]
    fn the_bucket_widens_with_the_span_of_the_audit() {
        let at = |t: &str| Some(t.to_owned());
        let bucket = |a: Option<String>, b: Option<String>| bucket_for(a.as_deref(), b.as_deref());
        assert_eq!(bucket(None, None), ("minute", 16));
        assert_eq!(
            bucket(
                at("2026-12-04T00:00:00+00:00"),
                at("2026-12-04T02:00:00+00:00")
            ),
            ("minute", 16)
        );
        assert_eq!(
            bucket(
                at("2026-12-04T00:00:00+00:00"),
                at("2026-12-06T00:00:00+00:00")
            ),
            ("hour", 13)
        );
        assert_eq!(
            bucket(
                at("2026-11-04T00:00:00+00:00"),
                at("2026-12-04T00:00:00+00:00")
            ),
            ("day", 10)
        );
    }
}
