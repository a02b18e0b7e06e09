//! Schema drift: what each customer's last schema check found in its config
//! that the CRM no longer allows, and since when.

use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Store, timestamp};

/// One thing the customer's config maps that its CRM no longer allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DriftFinding {
    /// The agent entity whose mapping is at fault.
    pub entity: String,
    /// The CRM object.
    pub object: String,
    /// The CRM field, when the finding is about one.
    pub field: Option<String>,
    /// The agent field mapped to it, when there is one.
    pub agent_field: Option<String>,
    /// The option of the mapping at fault (`field`, `values.Won`, `match`).
    pub option: Option<String>,
    /// What changed: `object_missing`, `field_missing`, `field_read_only`,
    /// `picklist_value_missing` or `mismatch`.
    pub kind: String,
    /// What is wrong, and the fix when one is known.
    pub message: String,
}

impl DriftFinding {
    /// What identifies the finding from one check to the next.
    fn key(&self) -> String {
        let part = |p: &Option<String>| p.clone().unwrap_or_default();
        format!(
            "{}|{}|{}|{}",
            self.entity,
            part(&self.agent_field),
            part(&self.option),
            self.kind
        )
    }
}

/// A finding as stored, with when it was first and last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: DriftFinding,
    /// When a check first found it (RFC 3339).
    pub since: String,
    /// When a check last found it.
    pub checked_at: String,
}

/// A customer's drift report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DriftReport {
    /// When the schema was last checked; none before the first check.
    pub checked_at: Option<String>,
    /// What that check found, oldest first; empty when the config fits.
    pub findings: Vec<StoredFinding>,
}

impl Store {
    /// Records what a check of `customer`'s schema at `at` found: a finding
    /// seen before keeps its `since`, and one not found again is deleted.
    /// Returns the report and the findings seen for the first time.
    pub async fn record_drift(
        &self,
        customer: &str,
        found: &[DriftFinding],
        at: DateTime<Utc>,
    ) -> anyhow::Result<(DriftReport, Vec<DriftFinding>)> {
        let at = timestamp(at);
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the drift update")?;

        let known: HashSet<String> =
            sqlx::query_scalar("SELECT finding FROM schema_drift WHERE customer = $1")
                .bind(customer)
                .fetch_all(&mut *tx)
                .await
                .context("reading earlier drift findings")?
                .into_iter()
                .collect();

        let mut new = Vec::new();
        for finding in found {
            let key = finding.key();
            if !known.contains(&key) {
                new.push(finding.clone());
            }
            sqlx::query(
                "INSERT INTO schema_drift (customer, finding, entity, object, field, \
                   agent_field, option, kind, message, since, checked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                 ON CONFLICT (customer, finding) DO UPDATE SET object = excluded.object, \
                   field = excluded.field, message = excluded.message, \
                   checked_at = excluded.checked_at",
            )
            .bind(customer)
            .bind(&key)
            .bind(&finding.entity)
            .bind(&finding.object)
            .bind(finding.field.as_deref())
            .bind(finding.agent_field.as_deref())
            .bind(finding.option.as_deref())
            .bind(&finding.kind)
            .bind(&finding.message)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing drift finding `{key}` of `{customer}`"))?;
        }

        // What this check did not find again is fixed.
        sqlx::query("DELETE FROM schema_drift WHERE customer = $1 AND checked_at <> $2")
            .bind(customer)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .context("clearing fixed drift findings")?;
        sqlx::query(
            "INSERT INTO schema_checks (customer, checked_at, findings) VALUES ($1, $2, $3) \
             ON CONFLICT (customer) DO UPDATE SET checked_at = excluded.checked_at, \
               findings = excluded.findings",
        )
        .bind(customer)
        .bind(&at)
        .bind(i64::try_from(found.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .context("recording the schema check")?;
        tx.commit().await.context("committing the drift update")?;

        Ok((self.drift(customer).await?, new))
    }

    /// `customer`'s drift report as its last check left it.
    pub async fn drift(&self, customer: &str) -> anyhow::Result<DriftReport> {
        let checked_at: Option<String> =
            sqlx::query_scalar("SELECT checked_at FROM schema_checks WHERE customer = $1")
                .bind(customer)
                .fetch_optional(&self.pool)
                .await
                .with_context(|| format!("reading when `{customer}` was last checked"))?;
        let rows = sqlx::query(
            "SELECT entity, object, field, agent_field, option, kind, message, since, \
               checked_at FROM schema_drift WHERE customer = $1 ORDER BY since, finding",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the drift findings of `{customer}`"))?;

        let findings = rows
            .iter()
            .map(|row| StoredFinding {
                finding: DriftFinding {
                    entity: row.get("entity"),
                    object: row.get("object"),
                    field: row.get("field"),
                    agent_field: row.get("agent_field"),
                    option: row.get("option"),
                    kind: row.get("kind"),
                    message: row.get("message"),
                },
                since: row.get("since"),
                checked_at: row.get("checked_at"),
            })
            .collect();
        Ok(DriftReport {
            checked_at,
            findings,
        })
    }
}
