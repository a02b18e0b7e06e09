//! API keys, kept as the sha256 of the key, and the operator audit: who
//! created or revoked a key, uploaded, approved, activated or rolled back a
//! plugin.

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::access::{Principal, Role};

/// A key as the store keeps it: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// The key's id, shown in the audit.
    pub id: String,
    /// What the key is for, e.g. `globex agent`.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// The customers it is scoped to; empty means every customer.
    pub customers: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

impl ApiKey {
    /// The caller presenting this key.
    pub fn principal(&self) -> Principal {
        Principal {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            customers: self.customers.clone(),
        }
    }
}

/// One step of the operator audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorEvent {
    /// Row id, increasing.
    pub id: i64,
    /// Who did it, as `name (key id)`.
    pub actor: String,
    /// What was done, e.g. `plugin.approve`.
    pub action: String,
    /// The customer concerned, if any.
    pub customer: Option<String>,
    /// The plugin concerned, if any.
    pub plugin: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// What else there is to know: a hash, a fixture report, a reason.
    pub detail: serde_json::Value,
    /// When (RFC 3339).
    pub at: String,
}

/// What an operator did, to be audited.
#[derive(Debug, Clone, Default)]
pub struct Action<'a> {
    /// What was done, e.g. `plugin.approve`.
    pub action: &'a str,
    /// The customer concerned.
    pub customer: Option<&'a str>,
    /// The plugin concerned.
    pub plugin: Option<&'a str>,
    /// Its version.
    pub version: Option<&'a str>,
    /// Anything else.
    pub detail: serde_json::Value,
}

impl Store {
    /// Stores a new key under the hash of its secret.
    pub async fn put_api_key(&self, key: &ApiKey, key_hash: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, role, customers, key_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(serde_json::to_string(&key.customers)?)
        .bind(key_hash)
        .bind(&key.created_by)
        .bind(&key.created_at)
        .execute(&self.pool)
        .await
        .with_context(|| format!("storing API key `{}`", key.name))?;
        Ok(())
    }

    /// The unrevoked key whose secret hashes to `key_hash`.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> anyhow::Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, name, role, customers, created_by, created_at, revoked_at \
             FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .context("looking up an API key")?;
        row.map(|row| key_from_row(&row)).transpose()
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn api_keys(&self) -> anyhow::Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, name, role, customers, created_by, created_at, revoked_at \
             FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing API keys")?;
        rows.iter().map(key_from_row).collect()
    }

    /// Whether any unrevoked key exists: a host with none and no
    /// `CONDUIT_API_KEY` is open.
    pub async fn has_api_keys(&self) -> anyhow::Result<bool> {
        let any: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .context("counting API keys")?;
        Ok(any.is_some())
    }

    /// Revokes key `id`; false when there is no such unrevoked key.
    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(Utc::now().to_rfc3339())
                .bind(id)
                .execute(&self.pool)
                .await
                .with_context(|| format!("revoking API key `{id}`"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends one step to the operator audit.
    pub async fn audit_operator(
        &self,
        actor: &Principal,
        action: Action<'_>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO operator_audit (actor, action, customer, plugin, version, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(actor.who())
        .bind(action.action)
        .bind(action.customer)
        .bind(action.plugin)
        .bind(action.version)
        .bind(action.detail.to_string())
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .with_context(|| format!("auditing `{}`", action.action))?;
        Ok(())
    }

    /// The operator audit, newest first: of one customer's (and the
    /// customer-less steps) when `customer` is given, of one plugin when
    /// `plugin` is.
    pub async fn operator_audit(
        &self,
        customer: Option<&str>,
        plugin: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<OperatorEvent>> {
        let rows = sqlx::query(
            "SELECT id, actor, action, customer, plugin, version, detail, at FROM operator_audit \
             WHERE ($1 IS NULL OR customer IS NULL OR customer = $1) \
             AND ($2 IS NULL OR plugin = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(customer)
        .bind(plugin)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading the operator audit")?;
        Ok(rows
            .iter()
            .map(|r| OperatorEvent {
                id: r.get("id"),
                actor: r.get("actor"),
                action: r.get("action"),
                customer: r.get("customer"),
                plugin: r.get("plugin"),
                version: r.get("version"),
                detail: serde_json::from_str(&r.get::<String, _>("detail")).unwrap_or_default(),
                at: r.get("at"),
            })
            .collect())
    }
}

fn key_from_row(row: &AnyRow) -> anyhow::Result<ApiKey> {
    let id: String = row.get("id");
    let role: String = row.get("role");
    let role = role
        .parse()
        .map_err(|e: String| anyhow::anyhow!("API key `{id}`: {e}"))?;
    let customers: String = row.get("customers");
    let customers = serde_json::from_str(&customers)
        .with_context(|| format!("API key `{id}` has unreadable customers"))?;
    Ok(ApiKey {
        id,
        name: row.get("name"),
        role,
        customers,
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    })
}
