//! The host's durable state in SQLite: the audit of every write, idempotency
//! keys with their outcomes, connections, uploaded plugins and the schema
//! cache.
//!
//! Every write's audit entry and outcome are stored before its answer goes
//! back to the agent.

mod dashboard;
mod drift;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::secrets::SecretKey;

mod grants;
mod keys;
mod plugins;
mod schedule;

pub use dashboard::{
    ConnectionState, ErrorGroup, LatestWrite, ObjectCounts, SeriesPoint, SkipCount, Totals,
    WriteStats,
};
pub use drift::{DriftFinding, DriftReport, StoredFinding};
pub use grants::{Grant, GrantSecrets, GrantState, GrantSummary, OAuthFlow, ORG, StoredAccess};
pub use keys::{Action, ApiKey, OperatorEvent};
pub use plugins::{Activation, Pause, PluginVersion};
pub use schedule::{Claim, RunRecord, TaskState};

/// Rows per multi-row statement: 12 columns each stays far below SQLite's
/// limit on bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyClaim {
    /// The key is new; the caller now owns it.
    Claimed,
    /// The key's write finished earlier with this result, for the intent
    /// with this fingerprint.
    Done {
        /// The stored per-record result.
        result: serde_json::Value,
        /// The fingerprint the key was claimed with, when recorded.
        fingerprint: Option<String>,
    },
    /// Another request with this key is still being processed.
    InFlight {
        /// The fingerprint the key was claimed with, when recorded.
        fingerprint: Option<String>,
    },
}

/// One audited write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Row id, increasing.
    pub id: i64,
    /// The customer.
    pub customer: String,
    /// The agent's idempotency key.
    pub idempotency_key: Option<String>,
    /// The agent entity.
    pub entity: String,
    /// The agent's key for the record.
    #[serde(default)]
    pub record_key: Option<String>,
    /// The CRM object written.
    pub object: Option<String>,
    /// The CRM id of the record.
    pub crm_id: Option<String>,
    /// `created`, `updated`, `unchanged` or `failed`.
    pub status: String,
    /// The error code, when failed.
    pub error_code: Option<String>,
    /// The config version that decided.
    pub config_version: String,
    /// The plugin and version that ran, if any.
    pub plugin: Option<String>,
    /// Per-field decisions, as the plan recorded them.
    pub decisions: serde_json::Value,
    /// The error, when failed.
    pub error: Option<serde_json::Value>,
    /// When it was written (RFC 3339).
    pub created_at: String,
}

/// Which audit entries to read.
#[derive(Debug, Clone)]
pub struct AuditFilter {
    /// The agent's record key or the CRM id.
    pub record: Option<String>,
    /// The CRM object or the agent entity.
    pub object: Option<String>,
    /// Entries written at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries written before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            record: None,
            object: None,
            since: None,
            until: None,
            limit: 100,
        }
    }
}

/// An uploaded plugin.
#[derive(Debug, Clone)]
pub struct StoredPlugin {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Content hash.
    pub sha256: String,
    /// The component.
    pub wasm: Vec<u8>,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    key: SecretKey,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, brings its
    /// schema up to date, and seals any connection an older version kept in
    /// the clear with `key`.
    pub async fn open_sqlite(path: &std::path::Path, key: SecretKey) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .with_context(|| format!("bad database path {}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        // SQLite has one writer at a time; one connection makes writers queue
        // in the pool instead of failing with `database is locked`.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("opening database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("migrating the database")?;
        let store = Self { pool, key };
        store.check_key().await?;
        store.seal_legacy_connections().await?;
        Ok(store)
    }

    /// Refuses a key other than the one the database was first opened with.
    async fn check_key(&self) -> anyhow::Result<()> {
        const CHECK: &str = "conduit key check";
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'key_check'")
                .fetch_optional(&self.pool)
                .await
                .context("reading the key check")?;
        match stored {
            Some(sealed) => match self.key.open(&sealed) {
                Ok(text) if text == CHECK => Ok(()),
                _ => anyhow::bail!(
                    "the secret key is not the one this database was sealed with; start the \
                     host with that key (its stored tokens open with no other)"
                ),
            },
            None => {
                sqlx::query("INSERT INTO store_meta (name, value) VALUES ('key_check', ?)")
                    .bind(self.key.seal(CHECK))
                    .execute(&self.pool)
                    .await
                    .context("storing the key check")?;
                Ok(())
            }
        }
    }

    /// Moves connections from the old clear-text table into sealed grants.
    async fn seal_legacy_connections(&self) -> anyhow::Result<()> {
        let rows = sqlx::query("SELECT customer, provider, credentials FROM connections")
            .fetch_all(&self.pool)
            .await
            .context("reading old connections")?;
        for row in rows {
            let customer: String = row.get("customer");
            let credentials: crate::auth::Credentials =
                serde_json::from_str(&row.get::<String, _>("credentials"))
                    .with_context(|| format!("reading the old connection of `{customer}`"))?;
            let provider: String = row.get("provider");
            self.put_grant(&Grant::org(&customer, &provider, credentials))
                .await?;
            sqlx::query("DELETE FROM connections WHERE customer = ?")
                .bind(&customer)
                .execute(&self.pool)
                .await
                .context("removing an old connection")?;
            tracing::info!(customer, "connection sealed with the secret key");
        }
        Ok(())
    }

    /// Claims a batch's idempotency keys, each with the fingerprint of the
    /// intent it comes with, in one transaction; for each key, reports
    /// whether this caller now owns it or what an earlier claim left.
    ///
    /// Keys are inserted and read back in chunks, a few statements per
    /// batch rather than one per record: SQLite has one writer, and every
    /// batch of every customer waits for it.
    pub async fn claim_keys(
        &self,
        customer: &str,
        keys: &[(String, String)],
    ) -> anyhow::Result<Vec<KeyClaim>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the key transaction")?;
        let created_at = now();
        let mut claimed = HashSet::new();
        let mut earlier: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO idempotency (customer, key, fingerprint, result, created_at) ",
            );
            insert.push_values(chunk, |mut row, (key, fingerprint)| {
                row.push_bind(customer)
                    .push_bind(key)
                    .push_bind(fingerprint)
                    .push_bind(None::<String>)
                    .push_bind(&created_at);
            });
            insert.push(" ON CONFLICT DO NOTHING RETURNING key");
            let rows = insert
                .build()
                .fetch_all(&mut *tx)
                .await
                .context("claiming idempotency keys")?;
            claimed.extend(rows.iter().map(|r| r.get::<String, _>("key")));

            let taken: Vec<&String> = chunk
                .iter()
                .map(|(key, _)| key)
                .filter(|k| !claimed.contains(*k))
                .collect();
            if taken.is_empty() {
                continue;
            }
            let mut select = QueryBuilder::<Sqlite>::new(
                "SELECT key, result, fingerprint FROM idempotency WHERE customer = ",
            );
            select.push_bind(customer).push(" AND key IN (");
            let mut list = select.separated(", ");
            for key in taken {
                list.push_bind(key);
            }
            list.push_unseparated(")");
            let rows = select
                .build()
                .fetch_all(&mut *tx)
                .await
                .context("reading idempotency keys")?;
            for row in rows {
                earlier.insert(row.get("key"), (row.get("result"), row.get("fingerprint")));
            }
        }
        tx.commit().await.context("committing the key claims")?;

        // A key sent twice in one batch is claimed by its first record only.
        let mut seen = HashSet::new();
        let claims = keys
            .iter()
            .map(|(key, fingerprint)| {
                if claimed.contains(key) && seen.insert(key) {
                    return KeyClaim::Claimed;
                }
                match earlier.get(key) {
                    // An unreadable outcome is still an outcome: the caller
                    // reports it rather than writing a second time.
                    Some((Some(text), stored)) => KeyClaim::Done {
                        result: serde_json::from_str(text).unwrap_or_default(),
                        fingerprint: stored.clone(),
                    },
                    Some((None, stored)) => KeyClaim::InFlight {
                        fingerprint: stored.clone(),
                    },
                    None => KeyClaim::InFlight {
                        fingerprint: Some(fingerprint.clone()),
                    },
                }
            })
            .collect();
        Ok(claims)
    }

    /// What [`claim_keys`](Self::claim_keys) would answer, claiming
    /// nothing: a free key reads as `Claimed`. For dry runs, which must
    /// plan what a real run would do without taking its keys.
    pub async fn peek_keys(
        &self,
        customer: &str,
        keys: &[(String, String)],
    ) -> anyhow::Result<Vec<KeyClaim>> {
        let mut earlier: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut select = QueryBuilder::<Sqlite>::new(
                "SELECT key, result, fingerprint FROM idempotency WHERE customer = ",
            );
            select.push_bind(customer).push(" AND key IN (");
            let mut list = select.separated(", ");
            for (key, _) in chunk {
                list.push_bind(key);
            }
            list.push_unseparated(")");
            let rows = select
                .build()
                .fetch_all(&self.pool)
                .await
                .context("reading idempotency keys")?;
            for row in rows {
                earlier.insert(row.get("key"), (row.get("result"), row.get("fingerprint")));
            }
        }
        Ok(keys
            .iter()
            .map(|(key, _)| match earlier.get(key) {
                None => KeyClaim::Claimed,
                Some((Some(text), stored)) => KeyClaim::Done {
                    result: serde_json::from_str(text).unwrap_or_default(),
                    fingerprint: stored.clone(),
                },
                Some((None, stored)) => KeyClaim::InFlight {
                    fingerprint: stored.clone(),
                },
            })
            .collect())
    }

    /// Stores a batch's audit entries and the outcomes of their keys in one
    /// transaction, and gives back `released` keys so the agent can retry
    /// after failures that retrying can fix.
    pub async fn record_batch(
        &self,
        entries: &[AuditEntry],
        outcomes: &[(String, String, serde_json::Value)],
        released: &[(String, String)],
    ) -> anyhow::Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the audit transaction")?;
        for (customer, key) in released {
            sqlx::query(
                "DELETE FROM idempotency WHERE customer = ? AND key = ? AND result IS NULL",
            )
            .bind(customer)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context("releasing an idempotency key")?;
        }
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO write_audit (customer, idempotency_key, entity, record_key, object, \
                 crm_id, status, error_code, config_version, plugin, decisions, error, \
                 created_at) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(&e.customer)
                    .push_bind(&e.idempotency_key)
                    .push_bind(&e.entity)
                    .push_bind(&e.record_key)
                    .push_bind(&e.object)
                    .push_bind(&e.crm_id)
                    .push_bind(&e.status)
                    .push_bind(&e.error_code)
                    .push_bind(&e.config_version)
                    .push_bind(&e.plugin)
                    .push_bind(e.decisions.to_string())
                    .push_bind(e.error.as_ref().map(|v| v.to_string()))
                    .push_bind(&e.created_at);
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .context("writing audit entries")?;
        }
        let stored_at = now();
        for chunk in outcomes.chunks(ROWS_PER_STATEMENT) {
            // The keys were claimed, so every row exists: this only sets
            // their results, in one statement per chunk.
            let mut upsert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO idempotency (customer, key, result, created_at) ",
            );
            upsert.push_values(chunk, |mut row, (customer, key, result)| {
                row.push_bind(customer)
                    .push_bind(key)
                    .push_bind(result.to_string())
                    .push_bind(&stored_at);
            });
            upsert.push(" ON CONFLICT (customer, key) DO UPDATE SET result = excluded.result");
            upsert
                .build()
                .execute(&mut *tx)
                .await
                .context("storing idempotency outcomes")?;
        }
        tx.commit().await.context("committing the audit")?;
        Ok(())
    }

    /// The customer's audit entries that pass `filter`, newest first.
    pub async fn audit(
        &self,
        customer: &str,
        filter: &AuditFilter,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT id, customer, idempotency_key, entity, record_key, object, crm_id, status, \
             error_code, config_version, plugin, decisions, error, created_at FROM write_audit \
             WHERE customer = ",
        );
        query.push_bind(customer);
        if let Some(record) = &filter.record {
            // The agent's key or the CRM id: CS has whichever the ticket has.
            query
                .push(" AND (record_key = ")
                .push_bind(record)
                .push(" OR crm_id = ")
                .push_bind(record)
                .push(")");
        }
        if let Some(object) = &filter.object {
            query
                .push(" AND (object = ")
                .push_bind(object)
                .push(" OR entity = ")
                .push_bind(object)
                .push(")");
        }
        if let Some(since) = filter.since {
            query
                .push(" AND created_at >= ")
                .push_bind(timestamp(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND created_at < ").push_bind(timestamp(until));
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .context("reading the audit")?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.get("id"),
                customer: r.get("customer"),
                idempotency_key: r.get("idempotency_key"),
                entity: r.get("entity"),
                record_key: r.get("record_key"),
                object: r.get("object"),
                crm_id: r.get("crm_id"),
                status: r.get("status"),
                error_code: r.get("error_code"),
                config_version: r.get("config_version"),
                plugin: r.get("plugin"),
                decisions: json_column(r.get("decisions")),
                error: r.get::<Option<String>, _>("error").map(json_column),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// Every uploaded plugin.
    pub async fn plugins(&self) -> anyhow::Result<Vec<StoredPlugin>> {
        let rows = sqlx::query("SELECT name, version, sha256, wasm FROM plugins")
            .fetch_all(&self.pool)
            .await
            .context("reading plugins")?;
        Ok(rows
            .into_iter()
            .map(|r| StoredPlugin {
                name: r.get("name"),
                version: r.get("version"),
                sha256: r.get("sha256"),
                wasm: r.get("wasm"),
            })
            .collect())
    }

    /// Caches a discovered object schema.
    pub async fn put_schema(
        &self,
        customer: &str,
        object: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO schema_cache (customer, object, body, read_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (customer, object) DO UPDATE SET body = excluded.body, \
             read_at = excluded.read_at",
        )
        .bind(customer)
        .bind(object)
        .bind(body.to_string())
        .bind(now())
        .execute(&self.pool)
        .await
        .context("caching a schema")?;
        Ok(())
    }
}

fn now() -> String {
    timestamp(Utc::now())
}

/// The one form times are stored in: fixed width in UTC, so that text
/// order is time order and range filters compare as text.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn json_column(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}
