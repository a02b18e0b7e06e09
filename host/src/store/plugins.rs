//! Uploaded plugin versions with their fixture reports and approvals,
//! customers' activations, and pauses.

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoredPlugin};
use crate::access::Principal;

/// One uploaded version, without its bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginVersion {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The sha256 of the component.
    pub sha256: String,
    /// The component's size in bytes.
    pub size: i64,
    /// Who uploaded it; none for versions uploaded before keys had names.
    pub uploaded_by: Option<String>,
    /// The uploader's key id, which the approver's must differ from.
    #[serde(skip)]
    pub uploader_id: Option<String>,
    /// When (RFC 3339).
    pub uploaded_at: String,
    /// What its fixture cases found on upload; none when it carries none.
    pub fixtures: Option<serde_json::Value>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<String>,
}

/// One activation of a version for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activation {
    /// Row id, increasing.
    pub id: i64,
    /// The customer.
    pub customer: String,
    /// The plugin.
    pub name: String,
    /// The version activated.
    pub version: String,
    /// Who activated it.
    pub activated_by: String,
    /// When.
    pub activated_at: String,
    /// Who rolled it back, if anyone did.
    pub rolled_back_by: Option<String>,
    /// When.
    pub rolled_back_at: Option<String>,
}

/// A plugin paused for one customer after repeated traps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    /// The customer.
    pub customer: String,
    /// The plugin.
    pub name: String,
    /// The version that trapped.
    pub version: String,
    /// Why, with the last trap's message.
    pub reason: String,
    /// When.
    pub paused_at: String,
}

impl Store {
    /// Stores a new version; fails when the version exists already.
    pub async fn put_plugin_version(
        &self,
        plugin: &StoredPlugin,
        uploader: &Principal,
        fixtures: Option<&serde_json::Value>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO plugins (name, version, sha256, wasm, uploaded_at, uploaded_by, \
             uploader_id, fixtures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&plugin.name)
        .bind(&plugin.version)
        .bind(&plugin.sha256)
        .bind(&plugin.wasm)
        .bind(Utc::now().to_rfc3339())
        .bind(uploader.who())
        .bind(&uploader.id)
        .bind(fixtures.map(ToString::to_string))
        .execute(&self.pool)
        .await
        .with_context(|| format!("storing plugin `{}` {}", plugin.name, plugin.version))?;
        Ok(())
    }

    /// One version, without its bytes.
    pub async fn plugin_version(
        &self,
        name: &str,
        version: &str,
    ) -> anyhow::Result<Option<PluginVersion>> {
        let row = sqlx::query(
            "SELECT name, version, sha256, length(wasm) AS size, uploaded_by, \
             uploader_id, uploaded_at, fixtures, approved_by, approved_at \
             FROM plugins WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("reading plugin `{name}` {version}"))?;
        Ok(row.as_ref().map(version_from_row))
    }

    /// Every version of `name`, or of every plugin, oldest first.
    pub async fn plugin_versions(&self, name: Option<&str>) -> anyhow::Result<Vec<PluginVersion>> {
        let rows = sqlx::query(
            "SELECT name, version, sha256, length(wasm) AS size, uploaded_by, \
             uploader_id, uploaded_at, fixtures, approved_by, approved_at \
             FROM plugins WHERE $1 IS NULL OR name = $1 ORDER BY name, uploaded_at, version",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .context("listing plugin versions")?;
        Ok(rows.iter().map(version_from_row).collect())
    }

    /// The component of one version.
    pub async fn plugin_wasm(&self, name: &str, version: &str) -> anyhow::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wasm FROM plugins WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("reading the component of plugin `{name}` {version}"))
    }

    /// Records `approver`'s approval; false when it was approved already.
    pub async fn approve_plugin(
        &self,
        name: &str,
        version: &str,
        approver: &Principal,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE plugins SET approved_by = $1, approver_id = $2, approved_at = $3 \
             WHERE name = $4 AND version = $5 AND approved_at IS NULL",
        )
        .bind(approver.who())
        .bind(&approver.id)
        .bind(Utc::now().to_rfc3339())
        .bind(name)
        .bind(version)
        .execute(&self.pool)
        .await
        .with_context(|| format!("approving plugin `{name}` {version}"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Activates `version` of `name` for `customer`, on top of its stack.
    pub async fn put_activation(
        &self,
        customer: &str,
        name: &str,
        version: &str,
        actor: &Principal,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO plugin_activations (customer, name, version, activated_by, \
             activated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(customer)
        .bind(name)
        .bind(version)
        .bind(actor.who())
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .with_context(|| format!("activating plugin `{name}` {version} for `{customer}`"))?;
        Ok(())
    }

    /// A customer's activations, newest first.
    pub async fn activations(&self, customer: &str) -> anyhow::Result<Vec<Activation>> {
        let rows = sqlx::query(
            "SELECT id, customer, name, version, activated_by, activated_at, \
             rolled_back_by, rolled_back_at \
             FROM plugin_activations WHERE customer = $1 ORDER BY id DESC",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the activations of `{customer}`"))?;
        Ok(rows.iter().map(activation_from_row).collect())
    }

    /// The activation in force for every customer that has one.
    pub async fn live_activations(&self) -> anyhow::Result<Vec<Activation>> {
        let rows = sqlx::query(
            "SELECT id, customer, name, version, activated_by, activated_at, \
             rolled_back_by, rolled_back_at \
             FROM plugin_activations WHERE id IN (SELECT max(id) FROM plugin_activations \
             WHERE rolled_back_at IS NULL GROUP BY customer)",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the activations in force")?;
        Ok(rows.iter().map(activation_from_row).collect())
    }

    /// Marks activation `id` rolled back by `actor`.
    pub async fn roll_back_activation(&self, id: i64, actor: &Principal) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE plugin_activations SET rolled_back_by = $1, rolled_back_at = $2 WHERE id = $3",
        )
        .bind(actor.who())
        .bind(Utc::now().to_rfc3339())
        .bind(id)
        .execute(&self.pool)
        .await
        .with_context(|| format!("rolling back activation {id}"))?;
        Ok(())
    }

    /// Pauses a customer's plugin.
    pub async fn put_pause(&self, pause: &Pause) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO plugin_pauses (customer, name, version, reason, paused_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer) DO UPDATE SET name = excluded.name, \
             version = excluded.version, reason = excluded.reason, paused_at = excluded.paused_at",
        )
        .bind(&pause.customer)
        .bind(&pause.name)
        .bind(&pause.version)
        .bind(&pause.reason)
        .bind(&pause.paused_at)
        .execute(&self.pool)
        .await
        .with_context(|| format!("pausing the plugin of `{}`", pause.customer))?;
        Ok(())
    }

    /// Every pause.
    pub async fn pauses(&self) -> anyhow::Result<Vec<Pause>> {
        let rows =
            sqlx::query("SELECT customer, name, version, reason, paused_at FROM plugin_pauses")
                .fetch_all(&self.pool)
                .await
                .context("reading plugin pauses")?;
        Ok(rows
            .iter()
            .map(|r| Pause {
                customer: r.get("customer"),
                name: r.get("name"),
                version: r.get("version"),
                reason: r.get("reason"),
                paused_at: r.get("paused_at"),
            })
            .collect())
    }

    /// Lifts a customer's pause; false when there was none.
    pub async fn delete_pause(&self, customer: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM plugin_pauses WHERE customer = $1")
            .bind(customer)
            .execute(&self.pool)
            .await
            .with_context(|| format!("resuming the plugin of `{customer}`"))?;
        Ok(done.rows_affected() == 1)
    }
}

fn version_from_row(r: &AnyRow) -> PluginVersion {
    let fixtures: Option<String> = r.get("fixtures");
    PluginVersion {
        name: r.get("name"),
        version: r.get("version"),
        sha256: r.get("sha256"),
        size: r.get("size"),
        uploaded_by: r.get("uploaded_by"),
        uploader_id: r.get("uploader_id"),
        uploaded_at: r.get("uploaded_at"),
        fixtures: fixtures.and_then(|f| serde_json::from_str(&f).ok()),
        approved_by: r.get("approved_by"),
        approved_at: r.get("approved_at"),
    }
}

fn activation_from_row(r: &AnyRow) -> Activation {
    Activation {
        id: r.get("id"),
        customer: r.get("customer"),
        name: r.get("name"),
        version: r.get("version"),
        activated_by: r.get("activated_by"),
        activated_at: r.get("activated_at"),
        rolled_back_by: r.get("rolled_back_by"),
        rolled_back_at: r.get("rolled_back_at"),
    }
}
